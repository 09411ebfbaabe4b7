"""Entry points at toy size: animate (and its bad inputs), the quick bench, the corpus preview."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from regen_talkinghead import animate, bench, corpus
from regen_talkinghead.bench import train_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_run("toy", tmp_path_factory.mktemp("th") / "run", [])


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    from regen_speech.espeak import synthesize

    s = synthesize("Hello there.", "en-us")  # 22050 Hz: animate resamples it and says so
    path = tmp_path_factory.mktemp("wav") / "hello.wav"
    sf.write(path, s.audio, s.sample_rate)
    return path


def _audio_codec(path):
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    gen.close()
    return meta.get("audio_codec")


def test_animate_writes_a_video_with_the_speech(run, speech, tmp_path, capsys):
    out = tmp_path / "x.mp4"
    assert animate.main(["--audio", str(speech), "--model", str(run), "--out", str(out), "--png"]) == 0
    printed = capsys.readouterr().out
    assert "resampled 22050 Hz -> 16000 Hz" in printed and "audio muxed" in printed
    assert out.stat().st_size > 0 and out.with_suffix(".png").exists()
    assert _audio_codec(out) is not None, "the MP4 carries an audio stream"
    assert animate.main(["--audio", str(speech), "--model", str(run), "--out", str(tmp_path / "d.gif"), "--side", "direct"]) == 0
    assert (tmp_path / "d.gif").exists() and (tmp_path / "d.wav").exists()


def test_animate_rejects_bad_input_clearly(run, speech, tmp_path, capsys):
    def fails(audio, *extra, model=run):
        assert animate.main(["--audio", str(audio), "--model", str(model), "--out", str(tmp_path / "o.mp4"), *extra]) == 2
        return capsys.readouterr().err

    (tmp_path / "empty.wav").write_bytes(b"")
    assert "0 bytes" in fails(tmp_path / "empty.wav")
    sf.write(tmp_path / "silent.wav", np.zeros(8000, np.float32), 16000)
    assert "silent" in fails(tmp_path / "silent.wav")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF0000WAVEnot really audio")
    assert "cannot decode" in fails(tmp_path / "corrupt.wav")
    from PIL import Image

    noise = np.random.default_rng(0).integers(0, 256, (16, 16)).astype(np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    assert "no face found" in fails(speech, "--reference", str(tmp_path / "noise.png"))
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    weights = broken / "regenerate" / "final" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # truncated
    assert "model.safetensors" in fails(speech, model=broken)


def test_bad_reference_pictures_and_refiner_are_one_line_errors(run, speech, tmp_path, capsys):
    """A too-large, missing or unreadable --x picture and a missing --refiner exit 2 with one line, no traceback."""
    from PIL import Image
    from regen_core.cli import main as regen_main

    Image.fromarray(np.zeros((200, 200), np.uint8)).save(tmp_path / "big.png")
    (tmp_path / "junk.png").write_bytes(b"not a picture")
    for pic, said in (("big.png", "is a real photo"), ("nope.png", "no such reference picture"),
                      ("junk.png", "cannot read the reference picture")):
        assert regen_main(["sample", "--run", str(run), "--x", f"{speech}|{tmp_path / pic}",
                           "--out", str(tmp_path / "s")]) == 2, pic
        err = capsys.readouterr().err
        assert said in err and len(err.strip().splitlines()) == 1, err
    assert animate.main(["--audio", str(speech), "--model", str(run), "--reference", str(tmp_path / "big.png"),
                         "--out", str(tmp_path / "o.mp4"), "--refiner", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "not a refiner folder" in err and len(err.strip().splitlines()) == 1, err


def test_quick_bench_writes_bench_json(run, tmp_path):
    assert bench.main(["--quick", "--config", "toy", "--n", "2", "--out", str(tmp_path), "--run", str(run)]) == 0
    result = json.loads((tmp_path / "bench.json").read_text())
    assert set(result) >= {"fitter", "faceless", "speed"}
    assert result["fitter"]["frames"] > 0 and result["fitter"]["cpu_ms_per_frame"] > 0
    assert result["faceless"]["blank_video"]["raised"] and result["faceless"]["noise_in_frame_3"]["frame"] == 3
    assert result["speed"]["neural_renderer_ms_per_frame"] > 0 and result["speed"]["models"] == "trained"


def test_corpus_preview(tmp_path, capsys):
    assert corpus.main(["--config", "toy", "--preview", str(tmp_path), "--n-preview", "1"]) == 0
    assert list(tmp_path.glob("*.mp4")) and list(tmp_path.glob("*.png"))
    assert "utterances" in capsys.readouterr().out


@pytest.fixture(scope="module")
def astronaut_png(tmp_path_factory):
    from PIL import Image
    from skimage import data

    path = tmp_path_factory.mktemp("photo") / "astronaut.jpg"
    Image.fromarray(data.astronaut()).save(path, quality=92)
    return path


def test_animate_a_real_photo(run, speech, astronaut_png, tmp_path, capsys, monkeypatch):
    import imageio_ffmpeg

    from regen_talkinghead import landmarks

    monkeypatch.setattr(landmarks, "_PRINTED", set())  # the licence notice prints once per process: another test may have shown it

    out = tmp_path / "astro.mp4"
    assert animate.main(["--audio", str(speech), "--model", str(run), "--reference", str(astronaut_png),
                         "--out", str(out), "--png"]) == 0
    printed = capsys.readouterr().out
    for stage in ("extract:", "generate:", "regenerate:", "2 faces found; the largest", "iBUG 300-W", "audio muxed"):
        assert stage in printed, stage
    gen = imageio_ffmpeg.read_frames(str(out))
    meta = next(gen)
    gen.close()
    assert tuple(meta["size"]) == (256, 256) and meta["fps"] == 25 and meta.get("audio_codec")
    assert out.with_suffix(".png").exists()


def test_both_sides_check_the_reference_alike(run, speech, astronaut_png, tmp_path, capsys):
    """Issue 19 item 5: a blank picture, noise or a non-face is refused by --side direct as by regeneration."""
    from PIL import Image
    from skimage import data

    Image.fromarray(np.full((32, 32), 128, np.uint8)).save(tmp_path / "blank.png")
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32)).astype(np.uint8)).save(tmp_path / "noise.png")
    Image.fromarray(data.coffee()).save(tmp_path / "coffee.png")  # a real photo without a face
    for pic in ("blank.png", "noise.png", "coffee.png"):
        for side in ("regeneration", "direct"):
            code = animate.main(["--audio", str(speech), "--model", str(run), "--reference", str(tmp_path / pic),
                                 "--out", str(tmp_path / "o.mp4"), "--side", side])
            assert code == 2 and "no face found" in capsys.readouterr().err, (pic, side)
    assert not (tmp_path / "o.mp4").exists()
    # a real face with --side direct: refused, saying why
    assert animate.main(["--audio", str(speech), "--model", str(run), "--reference", str(astronaut_png),
                         "--out", str(tmp_path / "o.mp4"), "--side", "direct"]) == 2
    assert "direct baseline draws only the synthetic" in capsys.readouterr().err


def test_real_photo_with_bad_audio_or_through_the_pairing(run, astronaut_png, tmp_path, capsys):
    sf.write(tmp_path / "silent.wav", np.zeros(8000, np.float32), 16000)
    assert animate.main(["--audio", str(tmp_path / "silent.wav"), "--model", str(run), "--reference", str(astronaut_png),
                         "--out", str(tmp_path / "o.mp4")]) == 2
    assert "silent" in capsys.readouterr().err
    from regen_core.pipeline import load_run

    pairing, _ = load_run(run)
    sf.write(tmp_path / "a.wav", np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32), 16000)
    with pytest.raises(ValueError, match="is a real photo"):
        pairing.parse_x(f"{tmp_path / 'a.wav'}|{astronaut_png}")
