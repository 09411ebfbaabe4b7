"""Data loaders: the FSDD layout and LJSpeech folders."""

from __future__ import annotations

import pytest
import soundfile as sf

from regen_asr.config import ASRConfig


# -- data loaders: FSDD layout and LJSpeech folders -------------------------------------------



def test_fsdd_layout_test_split_is_takes_0_to_4(tmp_path, tone):
    from regen_asr.data import load_paired

    rec = tmp_path / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    for digit in (1, 2):
        for take in (0, 5, 10):
            sf.write(rec / f"{digit}_jackson_{take}.wav", tone(8000, 0.3), 8000)
    data = load_paired(ASRConfig(corpus="fsdd", corpus_dir=str(tmp_path / "fsdd")))
    assert sorted(data["test"]["text"]) == ["one", "two"]
    assert len(data["train"]) == 2 and len(data["valid"]) == 2
    assert len(data["test"][0]["audio"]) == int(0.3 * 16000)  # resampled 8 kHz -> 16 kHz


def test_ljspeech_folder_any_rate_and_channels(tmp_path, tone):
    from regen_asr.data import load_paired

    (tmp_path / "wavs").mkdir()
    lines = []
    for i in range(10):
        sf.write(tmp_path / "wavs" / f"u{i}.wav", tone(22050, 0.2, channels=2), 22050)
        lines.append(f"u{i}|Utterance {i}!|Utterance {i}!")
    (tmp_path / "metadata.csv").write_text("\n".join(lines) + "\n")
    data = load_paired(ASRConfig(corpus="ljspeech", corpus_dir=str(tmp_path)))
    assert sum(len(v) for v in data.values()) == 10
    ex = data["train"][0]
    assert ex["text"].startswith("utterance ") and len(ex["audio"]) == int(0.2 * 16000)


def test_ljspeech_needs_a_folder():
    from regen_core.data import DataError

    from regen_asr.data import load_paired

    with pytest.raises(DataError, match="corpus_dir"):
        load_paired(ASRConfig(corpus="ljspeech"))
