"""regen_speech.fsdd: the Free Spoken Digit Dataset from the shared data folder."""

from __future__ import annotations

import numpy as np
import pytest

from regen_speech.fsdd import DIGIT_WORDS, FsddNotFoundError, fsdd_dir, load_fsdd
from regen_speech.ljspeech import SpeechDataError


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REGEN_CACHE", str(tmp_path / "cache"))


def test_absent_folder_is_a_typed_error_naming_the_path(tmp_path, monkeypatch):
    with pytest.raises(FsddNotFoundError, match=str(tmp_path / "nothing" / "recordings")) as info:
        load_fsdd(tmp_path / "nothing")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    monkeypatch.setenv("REGEN_SHARED_DATA", str(tmp_path / "elsewhere"))
    assert fsdd_dir() == tmp_path / "elsewhere" / "fsdd"
    with pytest.raises(FsddNotFoundError, match="REGEN_SHARED_DATA"):
        load_fsdd()


def test_unexpected_file_name(tmp_path):
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "seven.wav").write_bytes(b"")
    with pytest.raises(SpeechDataError, match="seven.wav"):
        load_fsdd(tmp_path)


@pytest.mark.skipif(not (fsdd_dir() / "recordings").is_dir(), reason=f"FSDD is not at {fsdd_dir()} (set REGEN_SHARED_DATA)")
def test_official_split_with_a_valid_split_from_train():
    parts = load_fsdd(sample_rate=16000, speakers=["theo"])
    assert {k: len(v) for k, v in parts.items()} == {"train": 400, "valid": 50, "test": 50}
    assert set(parts["test"]["take"]) == set(range(5)) and set(parts["valid"]["take"]) == set(range(5, 10))
    assert min(parts["train"]["take"]) == 10 and set(parts["train"]["speaker"]) == {"theo"}
    ex = parts["test"].with_format("numpy")[0]
    assert ex["text"] == ex["normalized"] == DIGIT_WORDS[ex["digit"]]
    assert ex["id"] == f"{ex['digit']}_theo_{ex['take']}"
    assert ex["sample_rate"] == 16000 and ex["audio"].dtype == np.float32
    assert len(ex["audio"]) == pytest.approx(ex["duration"] * 16000, abs=1) and 0.1 < ex["duration"] < 2.0
    official = load_fsdd(valid_takes=(), speakers=["theo"])
    assert {k: len(v) for k, v in official.items()} == {"train": 450, "valid": 0, "test": 50}
    assert set(official["test"]["sample_rate"]) == {8000}
    with pytest.raises(SpeechDataError, match="overlap"):
        load_fsdd(valid_takes=(3, 4))
    with pytest.raises(SpeechDataError, match="unknown FSDD speaker"):
        load_fsdd(speakers=["nobody"])
