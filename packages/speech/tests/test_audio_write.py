"""save_wav through core's atomic writer (issue 19, item 9): formats by extension, modes kept, WAV size bounded."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from regen_core.errors import LimitError, OutputPathError
from regen_speech import audio
from regen_speech.audio import save_wav


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("old_mode", [0o644, 0o640, 0o664])
def test_replaced_wav_keeps_its_permissions(tmp_path: Path, old_mode: int) -> None:
    p = tmp_path / "c.wav"
    p.write_bytes(b"old")
    os.chmod(p, old_mode)
    save_wav(p, np.zeros(800, np.float32) + 0.1, 8000)
    assert mode(p) == old_mode
    assert p.read_bytes() != b"old"


def test_new_wav_gets_the_umask_default(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        save_wav(tmp_path / "new.wav", np.zeros(80, np.float32) + 0.1, 8000)
    finally:
        os.umask(old)
    assert mode(tmp_path / "new.wav") == 0o644


def test_audio_format_follows_the_extension_or_is_refused(tmp_path: Path) -> None:
    import soundfile as sf

    x = np.sin(np.linspace(0, 100, 8000)).astype(np.float32) * 0.5
    assert sf.info(str(save_wav(tmp_path / "a.wav", x, 8000))).format == "WAV"
    assert sf.info(str(save_wav(tmp_path / "a.flac", x, 8000))).format == "FLAC"
    for bad in ("a.mp3", "a.ogg", "noext"):
        with pytest.raises(OutputPathError, match=r"\.wav or \.flac"):
            save_wav(tmp_path / bad, x, 8000)
        assert not (tmp_path / bad).exists()


def test_wav_beyond_4_gib_is_refused_before_encoding(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(audio, "MAX_WAV_BYTES", 1000)  # the 4 GiB RIFF limit, scaled down
    with pytest.raises(LimitError, match="a WAV file holds at most 4 GiB"):
        audio.save_wav(tmp_path / "long.wav", np.zeros(501, np.float32) + 0.1, 8000)
    audio.save_wav(tmp_path / "long.flac", np.zeros(501, np.float32) + 0.1, 8000)  # FLAC has no such limit
