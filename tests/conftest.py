"""Session fixtures shared by the root tests: toy runs of each domain (trained once per session) and input files."""

from __future__ import annotations

from pathlib import Path

import pytest


# -- toy runs, trained once per session ----------------------------------------------------------------


@pytest.fixture(scope="session")
def toy_run(tmp_path_factory) -> Path:
    from regen_core import cli

    out = tmp_path_factory.mktemp("toy") / "run"
    assert cli.main(["compare", "toy", "--config", "toy", "--run", str(out), "evaluate.n_test=2"]) == 0
    return out


def _train_all(pairing_cls: type, config: str, out: Path, overrides: list[str]) -> Path:
    from regen_core.contract import STAGES
    from regen_core.pipeline import load_run_config, train_stage

    run_cfg = load_run_config(pairing_cls, config, overrides)
    pairing = pairing_cls(run_cfg.pairing)
    data = pairing.load_data()
    for stage in STAGES:
        train_stage(pairing, stage, run_cfg, out, data=data)
    return out


@pytest.fixture(scope="session")
def melody_run(tmp_path_factory) -> Path:
    from regen_melody.pairing import MelodyPairing

    return _train_all(MelodyPairing, "toy", tmp_path_factory.mktemp("melody") / "run", [])


@pytest.fixture(scope="session")
def tts_run(tmp_path_factory) -> Path:
    from regen_tts.pairing import TTSPairing

    return _train_all(TTSPairing, "toy", tmp_path_factory.mktemp("tts") / "run", [])


@pytest.fixture(scope="session")
def image_run(tmp_path_factory) -> Path:
    from regen_image.pairing import ImagePairing

    steps = [f"train.{s}.max_steps=2" for s in ("extract", "generate", "regenerate", "direct")]
    return _train_all(ImagePairing, "toy", tmp_path_factory.mktemp("image") / "run", steps)


@pytest.fixture(scope="session")
def asr_run(tmp_path_factory) -> Path:
    from regen_asr.pairing import ASRPairing

    steps = [f"train.{s}.{k}={v}" for s in ("extract", "generate", "regenerate", "direct")
             for k, v in (("max_steps", 2), ("batch_size", 2))]
    return _train_all(ASRPairing, "toy", tmp_path_factory.mktemp("asr") / "run", steps)


@pytest.fixture(scope="session")
def talkinghead_run(tmp_path_factory) -> Path:
    from regen_talkinghead.bench import train_run

    return train_run("toy", tmp_path_factory.mktemp("talkinghead") / "run", [])


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory) -> Path:
    import soundfile as sf
    from regen_speech.espeak import synthesize

    s = synthesize("Hello there.", "en-us")
    path = tmp_path_factory.mktemp("wav") / "hello.wav"
    sf.write(path, s.audio, s.sample_rate)
    return path


@pytest.fixture(scope="session")
def noface_png(tmp_path_factory) -> Path:
    """A real photograph with no face in it: scikit-image's cup of coffee."""
    import imageio.v3 as iio
    from skimage import data

    path = tmp_path_factory.mktemp("noface") / "coffee.png"
    iio.imwrite(path, data.coffee())
    return path


