"""regen_speech.ljspeech: LJSpeech folders as Datasets, with errors naming the bad file or line."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from regen_speech.ljspeech import SpeechDataError, load_ljspeech, read_metadata


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REGEN_CACHE", str(tmp_path / "cache"))


def _folder(root, rates=(16000, 16000, 16000), lines=None):
    """A tiny LJSpeech folder: three tones of different pitch and length."""
    (root / "wavs").mkdir(parents=True)
    for i, sr in enumerate(rates):
        t = np.arange(int(sr * (0.2 + 0.1 * i))) / sr
        sf.write(root / "wavs" / f"LJ{i}.wav", (0.3 * np.sin(2 * np.pi * (200 + 100 * i) * t)).astype(np.float32), sr)
    lines = lines or ["LJ0|Dr. Smith paid $5.|Doctor Smith paid five dollars.", "LJ1|Hello there.|Hello there.", "LJ2|No normalised column"]
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_loads_columns_and_audio(tmp_path):
    ds = load_ljspeech(_folder(tmp_path / "lj"), speaker="lj")
    assert ds.column_names == ["id", "text", "normalized", "speaker", "audio", "sample_rate", "duration"]
    assert ds["id"] == ["LJ0", "LJ1", "LJ2"] and set(ds["speaker"]) == {"lj"}
    assert ds[0]["normalized"] == "Doctor Smith paid five dollars."
    assert ds[2]["normalized"] == ds[2]["text"] == "No normalised column"  # a 2-field line
    row = ds.with_format("numpy")[1]
    assert row["audio"].dtype == np.float32 and row["audio"].shape == (4800,) and row["sample_rate"] == 16000
    assert row["duration"] == pytest.approx(0.3)


def test_resampling_and_limit(tmp_path):
    ds = load_ljspeech(_folder(tmp_path / "lj"), 8000, limit=2)
    assert len(ds) == 2 and ds["sample_rate"] == [8000, 8000]
    assert [len(a) for a in ds["audio"]] == [1600, 2400]
    assert ds[0]["speaker"] == "lj"  # default speaker: the folder's name


def test_mixed_rates_need_a_target_rate(tmp_path):
    folder = _folder(tmp_path / "lj", rates=(16000, 22050, 16000))
    with pytest.raises(SpeechDataError, match="different sample rates"):
        load_ljspeech(folder)
    assert set(load_ljspeech(folder, 16000)["sample_rate"]) == {16000}


def test_cache_follows_the_folder(tmp_path):
    folder = _folder(tmp_path / "lj")
    first = load_ljspeech(folder)["audio"][0]
    sf.write(folder / "wavs" / "LJ0.wav", np.full(1600, 0.25, np.float32), 16000)
    os.utime(folder / "wavs" / "LJ0.wav", ns=(1, 1))  # a different mtime even on coarse clocks
    second = load_ljspeech(folder)["audio"][0]
    assert len(first) == 3200 and len(second) == 1600 and second[0] == pytest.approx(0.25, abs=1e-4)


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        (["LJ0|a|b|c"], r"metadata.csv:1: expected 'id\|text\|normalized'"),
        (["LJ0"], r"metadata.csv:1: expected"),
        (["LJ0|hello|hello", "LJ0|again|again"], r"metadata.csv:2: duplicate id 'LJ0'"),
        (["|hello|hello"], r"metadata.csv:1: bad utterance id"),
        (["LJ0||x"], r"metadata.csv:1: empty text"),
    ],
)
def test_malformed_metadata_names_the_line(tmp_path, lines, match):
    folder = _folder(tmp_path / "lj", lines=lines)
    with pytest.raises(SpeechDataError, match=match):
        load_ljspeech(folder)


def test_missing_pieces(tmp_path):
    with pytest.raises(SpeechDataError, match="not found"):
        load_ljspeech(tmp_path / "absent")
    folder = _folder(tmp_path / "lj")
    (folder / "wavs" / "LJ1.wav").unlink()
    with pytest.raises(SpeechDataError, match=r"missing: .*LJ1\.wav"):
        load_ljspeech(folder)
    (folder / "metadata.csv").unlink()
    with pytest.raises(SpeechDataError, match="metadata.csv: missing"):
        read_metadata(folder)
