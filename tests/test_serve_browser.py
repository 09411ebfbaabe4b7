"""``regen serve`` in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``) via selenium.

One server with every domain's toy run (trained once per session, tests/conftest.py); for each tab the
test fills the inputs, presses the button, waits for the outputs and checks them (an audio file the
browser decodes to a non-zero duration, a transcript with timed phonemes, a piano roll and a MIDI file,
an image grid of the expected size, an MP4 the browser plays), then gives a bad input, checks that the
page shows the typed error (the command line's message), and that the next good request still works.
Uploads above the server's size limit are refused in the page.

Skips (with the reason) only where Chromium cannot be started. ``REGEN_SERVE_SCREENSHOTS=DIR`` saves a
screenshot of each tab there; ``REGEN_SERVE_RUNS=DIR`` serves ``DIR/<domain>/run`` instead of the toy runs
(the README's pictures in docs/serve/ are made that way, from ``make demo``'s runs and links to the shipped models).
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # trains five toy runs and drives a browser (about a minute)

MAX_FILE_SIZE = "1mb"  # the test server's upload limit; huge_wav is above it
WAIT_S = 90  # longest wait for one output (a loaded CI machine)


# -- browser and server ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def driver():
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if binary is None or chromedriver is None:
        pytest.skip("Chromium cannot be started: chromium and chromedriver are not installed "
                    "(Debian: apt-get install chromium chromium-driver; make setup installs them as root)")
    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1400",
                "--disable-gpu", "--mute-audio"):
        options.add_argument(arg)
    options.binary_location = binary
    try:
        d = webdriver.Chrome(options=options, service=Service(chromedriver))
    except WebDriverException as err:
        pytest.skip(f"Chromium cannot be started: {str(err.msg or err).splitlines()[0]}")
    yield d
    d.quit()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DOMAINS = ("tts", "asr", "melody", "image", "talkinghead")


@pytest.fixture(scope="module")
def runs(request) -> dict[str, Path]:
    """The run folder of each tab: the session's toy runs, or ``REGEN_SERVE_RUNS=DIR``'s ``DIR/<domain>/run``
    (e.g. ``make demo OUT=DIR``'s runs, for screenshots of models trained longer than toy runs)."""
    folder = os.environ.get("REGEN_SERVE_RUNS")
    if folder:
        return {d: Path(folder) / d / "run" for d in DOMAINS}
    return {d: request.getfixturevalue(f"{d}_run") for d in DOMAINS}


@pytest.fixture(scope="module")
def server(runs):
    from regen_core.serve import serve

    port = _free_port()
    specs = runs
    app, _ = serve({k: str(v) for k, v in specs.items()}, port=port, max_file_size=MAX_FILE_SIZE,
                   names=[*specs, "toy"], block=False)
    yield f"http://127.0.0.1:{port}/"
    app.close()


# -- input files ---------------------------------------------------------------------------------


def _espeak_wav(path: Path, text: str) -> Path:
    import soundfile as sf
    from regen_speech.espeak import synthesize

    s = synthesize(text, "en-us")
    sf.write(path, s.audio, s.sample_rate)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory, speech_wav, noface_png) -> dict[str, Path]:
    import imageio.v3 as iio
    import soundfile as sf
    from skimage import data

    root = tmp_path_factory.mktemp("serve-inputs")
    out = {"hello": speech_wav, "noface": noface_png}
    out["longer"] = _espeak_wav(root / "longer.wav", "Good morning, how are you today? I am well, thank you.")
    out["not_audio"] = root / "notes.wav"
    out["not_audio"].write_text("these are notes, not audio\n")
    out["huge"] = root / "huge.wav"  # 2.4 MB of noise: above MAX_FILE_SIZE
    sf.write(out["huge"], (np.random.default_rng(0).standard_normal(16000 * 75) * 0.1).astype(np.float32), 16000,
             subtype="PCM_16")
    out["face"] = root / "astronaut.png"  # a real portrait (scikit-image's astronaut)
    iio.imwrite(out["face"], data.astronaut())
    return out


# -- driving the page ------------------------------------------------------------------------------


class Page:
    """One tab of the page in the browser, with waits that name what they waited for."""

    def __init__(self, driver: Any, url: str, tab: str):
        from selenium.webdriver.common.by import By

        self.d, self.By = driver, By
        driver.get(url)
        buttons = self.wait(lambda: [b for b in driver.find_elements(By.CSS_SELECTOR, "button[role=tab]")
                                     if b.text.strip() == tab], f"the {tab!r} tab button")
        buttons[0].click()

    def wait(self, fn: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
        end = time.monotonic() + timeout
        while True:
            try:
                value = fn()
            except Exception:  # the element is not there yet, or is being re-rendered
                value = None
            if value:
                return value
            if time.monotonic() > end:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; messages in the page: "
                                     f"{self.messages()}")
            time.sleep(0.1)

    def messages(self) -> list[str]:
        js = "return Array.from(document.querySelectorAll('.toast-message-text')).map(e => e.textContent)"
        return list(self.d.execute_script(js))

    def el(self, css: str) -> Any:
        return self.wait(lambda: self.d.find_element(self.By.CSS_SELECTOR, css), css)

    def fill(self, css: str, text: str, enter: bool = False) -> None:
        from selenium.webdriver.common.keys import Keys

        box = self.el(css)
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE)
        if text:
            box.send_keys(text)
        if enter:
            box.send_keys(Keys.ENTER)

    def upload(self, component: str, path: Path) -> None:
        self.el(f"#{component} input[type=file]").send_keys(str(path))

    def clear_upload(self, component: str) -> None:
        button = self.el(f"#{component} button[aria-label='Clear'], #{component} button[aria-label='Remove Image']")
        button.click()

    def click(self, css: str) -> None:
        self.el(css).click()

    def text(self, css: str) -> str:
        """The visible text of ``css``; of a Markdown output only its own text (not Gradio's "processing" overlay)."""
        inner = self.d.find_elements(self.By.CSS_SELECTOR, f"{css} [data-testid='markdown-wrapper']")
        return (inner[0] if inner else self.d.find_element(self.By.CSS_SELECTOR, css)).text

    def value(self, css: str) -> str:
        return self.d.find_element(self.By.CSS_SELECTOR, css).get_attribute("value") or ""

    def wait_text(self, css: str, needle: str) -> str:
        return self.wait(lambda: needle in (t := self.text(css)) and t, f"{css} to show {needle!r}")

    def toast(self, needle: str) -> str:
        """Wait for an error message holding ``needle`` in the page, then close every message."""
        found = self.wait(lambda: [t for t in self.messages() if needle in t], f"an error holding {needle!r}")
        self.d.execute_script("document.querySelectorAll('.toast-close').forEach(b => b.click())")
        return found[0]

    def image_size(self, component: str) -> tuple[int, int]:
        js = (f"const i = document.querySelector('#{component} img'); "
              "return i && i.complete && i.naturalWidth ? [i.naturalWidth, i.naturalHeight] : null")
        return tuple(self.wait(lambda: self.d.execute_script(js), f"a loaded image in #{component}"))

    def media_duration(self, url: str, kind: str = "audio") -> float:
        """Load ``url`` in a fresh <audio>/<video> element of the page: its duration (the browser decoded it)."""
        js = f"""const done = arguments[arguments.length - 1];
            const m = document.createElement('{kind}'); m.muted = true; m.preload = 'auto';
            m.onloadedmetadata = () => done(m.duration);
            m.onerror = () => done('media error ' + (m.error && m.error.code));
            m.src = arguments[0];"""
        self.d.set_script_timeout(30)
        duration = self.d.execute_async_script(js, url)
        assert isinstance(duration, (int, float)), f"the browser cannot play {url}: {duration}"
        return float(duration)

    def link(self, component: str) -> str:
        css = f"#{component} a[href*='file=']"
        return self.wait(lambda: self.d.find_element(self.By.CSS_SELECTOR, css).get_attribute("href"),
                         f"a file link in #{component}")

    def fetch_head(self, url: str, n: int = 4) -> bytes:
        js = """const done = arguments[arguments.length - 1];
            fetch(arguments[0]).then(r => r.arrayBuffer()).then(b => done(Array.from(new Uint8Array(b).slice(0, arguments[1]))))
            .catch(e => done(String(e)));"""
        return bytes(self.d.execute_async_script(js, url, n))

    def screenshot(self, tab: str) -> None:
        folder = os.environ.get("REGEN_SERVE_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            size = self.d.get_window_size()
            height = self.d.execute_script("return document.documentElement.scrollHeight")
            self.d.set_window_size(size["width"], min(int(height) + 200, 4000))  # the whole page, outputs included
            time.sleep(0.5)
            self.d.save_screenshot(str(Path(folder) / f"{tab}.png"))
            self.d.set_window_size(size["width"], size["height"])


def cli_error(main: Callable[[list[str]], int], argv: list[str], capsys: Any) -> str:
    """The one-line message a command line prints for ``argv`` (``prog: error: MESSAGE``)."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    return err.split(": error: ", 1)[1]


# -- one test per tab -----------------------------------------------------------------------------


def test_tts_tab(driver, server, runs, tmp_path, capsys):
    from regen_tts.synthesize import main as synthesize

    page = Page(driver, server, "tts")
    page.fill("#tts-text textarea", "Hello there.")
    page.click("#tts-run")
    page.wait_text("#tts-timing", "time per step")
    first = page.link("tts-regen-audio")
    assert page.media_duration(first) > 0
    assert page.media_duration(page.link("tts-direct-audio")) > 0
    width, height = page.image_size("tts-regen-mel")
    assert width > 100 and height > 100  # the Y' and Y log-mel panels
    assert page.image_size("tts-direct-mel")[0] > 100
    timing = page.text("#tts-timing")
    assert "generate" in timing and "regenerate" in timing and "direct" in timing and "Y':" in timing
    page.screenshot("tts")
    # bad input: empty text -> the command line's message, in the page
    expected = cli_error(synthesize, ["--text", "", "--model", str(runs["tts"]), "--out", str(tmp_path / "x.wav")], capsys)
    page.fill("#tts-text textarea", "")
    page.click("#tts-run")
    assert "TextError" in page.toast(expected)
    # the next good request works
    page.fill("#tts-text textarea", "Good morning, how are you today?")
    page.click("#tts-run")
    second = page.wait(lambda: (h := page.link("tts-regen-audio")) != first and h, "a new regeneration audio file")
    assert page.media_duration(second) > 0


def _seconds(path: Path) -> float:
    import soundfile as sf

    return sf.info(str(path)).duration


def test_asr_tab(driver, server, files):
    hello = f"{_seconds(files['hello']):.2f} s of audio"
    page = Page(driver, server, "asr")
    page.upload("asr-audio", files["hello"])
    page.click("#asr-run")
    page.wait_text("#asr-timing", hello)
    assert page.value("#asr-text textarea").strip()  # a transcript (a toy model's: not judged)
    assert page.value("#asr-direct textarea").strip()
    phonemes = page.value("#asr-phonemes textarea").split()
    assert phonemes  # Y'
    table = page.text("#asr-timestamps").split()  # a virtual table: the rows in view, phoneme start end
    times = [float(v) for v in table if v.replace(".", "", 1).isdigit()]
    assert phonemes[0] in table and len(times) >= 2 and all(0 <= t <= _seconds(files["hello"]) + 0.05 for t in times)
    page.screenshot("asr")
    # a file that is not audio: regen_speech's typed error
    page.clear_upload("asr-audio")
    page.upload("asr-audio", files["not_audio"])
    page.click("#asr-run")
    assert "cannot decode audio" in page.toast("CorruptAudioError")
    # a file above the size limit is refused by the page itself
    page.clear_upload("asr-audio")
    page.upload("asr-audio", files["huge"])
    page.toast("exceed the maximum allowed size")
    # the next good request works
    page.upload("asr-audio", files["longer"])
    page.click("#asr-run")
    page.wait(lambda: "s of audio, RTF" in (t := page.text("#asr-timing")) and hello not in t,
              "the transcript of the longer speech")
    assert page.value("#asr-text textarea").strip()


def test_melody_tab(driver, server):
    page = Page(driver, server, "melody")
    page.fill("#melody-lyrics textarea", "Twinkle twinkle little star, how I wonder what you are.")
    page.fill("#melody-key textarea", "G")
    page.click("#melody-run")
    first = page.wait_text("#melody-timing", "notes, metre")
    width, height = page.image_size("melody-roll")
    assert width > 200 and height > 100
    assert page.value("#melody-template textarea").strip()  # Y', the template
    assert page.fetch_head(page.link("melody-midi")) == b"MThd"  # a standard MIDI file
    assert page.fetch_head(page.link("melody-direct-midi")) == b"MThd"
    assert page.media_duration(page.link("melody-audio")) > 0  # the song, played by FluidSynth
    page.screenshot("melody")
    page.fill("#melody-lyrics textarea", "")
    page.click("#melody-run")
    page.toast("EmptyLyricsError")
    page.fill("#melody-lyrics textarea", "Row row row your boat.")
    page.fill("#melody-key textarea", "H#")
    page.click("#melody-run")
    page.toast("unknown root 'H#'")
    page.fill("#melody-key textarea", "e minor")
    page.click("#melody-run")
    page.wait(lambda: (t := page.text("#melody-timing")) != first and "notes, metre" in t, "the song of the new lyrics")
    assert page.fetch_head(page.link("melody-midi")) == b"MThd"


def test_image_tab(driver, server, runs):
    from regen_core.pipeline import load_run

    pairing, _ = load_run(runs["image"])
    size, k = pairing.config.image_size, pairing.config.num_classes
    page = Page(driver, server, "image")
    page.fill("#image-class input", "3", enter=True)
    page.click("#image-run")
    page.wait_text("#image-timing", "8 images of class 3")
    expected = ((8 * (size + 2) + 2) * 2, (1 * (size + 2) + 2) * 2)  # one row of 8, 2 px gutters, 2x scale
    assert page.image_size("image-grid") == expected
    assert page.image_size("image-direct") == expected
    assert page.image_size("image-y-prime")[0] > 0
    page.screenshot("image")
    page.fill("#image-class input", "12", enter=True)
    page.click("#image-run")
    assert f"outside 0..{k - 1}" in page.toast("LabelError")
    page.fill("#image-class input", "5", enter=True)
    page.fill("#image-n input[type=number]", "16", enter=True)
    page.click("#image-run")
    page.wait_text("#image-timing", "16 images of class 5")
    assert page.image_size("image-grid") == (expected[0], (2 * (size + 2) + 2) * 2)


def test_talkinghead_tab(driver, server, files):
    page = Page(driver, server, "talkinghead")
    page.upload("talkinghead-photo", files["face"])
    page.upload("talkinghead-audio", files["hello"])
    page.click("#talkinghead-run")
    page.wait_text("#talkinghead-timing", "frames at 25 fps")
    video = page.wait(lambda: driver.find_element(page.By.CSS_SELECTOR, "#talkinghead-video video").get_attribute("src"),
                      "the regeneration video")
    assert page.media_duration(video, "video") > 0
    assert "extract (photo" in page.text("#talkinghead-timing")
    assert page.image_size("talkinghead-y-prime")[0] > 100
    page.screenshot("talkinghead")
    page.clear_upload("talkinghead-photo")
    page.upload("talkinghead-photo", files["noface"])
    page.click("#talkinghead-run")
    assert "no face found" in page.toast("FaceNotFoundError")
    page.clear_upload("talkinghead-photo")
    page.upload("talkinghead-photo", files["face"])
    page.clear_upload("talkinghead-audio")
    page.upload("talkinghead-audio", files["longer"])
    page.click("#talkinghead-run")
    longer = f"({_seconds(files['longer']):.2f} s of speech)"
    page.wait(lambda: longer in page.text("#talkinghead-timing"), "the video of the longer speech")
    video = driver.find_element(page.By.CSS_SELECTOR, "#talkinghead-video video").get_attribute("src")
    assert page.media_duration(video, "video") > _seconds(files["hello"])
    # no photo: a synthetic face, drawn by the run's renderer and, beside it, by the direct baseline
    page.clear_upload("talkinghead-photo")
    page.click("#talkinghead-run")
    page.wait_text("#talkinghead-timing", "no photo given")
    direct = page.wait(lambda: driver.find_element(page.By.CSS_SELECTOR, "#talkinghead-direct video").get_attribute("src"),
                       "the direct baseline's video")
    assert page.media_duration(direct, "video") > 0


def test_tab_without_model_says_how_to_train_one(driver, server):
    page = Page(driver, server, "toy")
    message = page.wait_text("#toy-message", "No model")
    assert "regen compare toy" in message and "regen serve --model toy=" in message
