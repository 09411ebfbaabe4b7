"""The Free Spoken Digit Dataset (FSDD): real recordings of the digits 0-9 by five speakers.

The data are not shipped with regen; they are read from ``<shared data>/fsdd/recordings`` where
the shared data folder is ``$REGEN_SHARED_DATA`` or ``../shared/data`` beside the repository
(:func:`regen_core.data.shared_data_dir`), or from a folder you pass. Files are
``{digit}_{speaker}_{take}.wav`` (8 kHz mono). The official split puts takes 0-4 in test and
takes 5-49 in train; :func:`load_fsdd` can carve a validation split out of train by take number,
so every split holds every digit and speaker.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Sequence

from .ljspeech import SpeechDataError, base_features, build_dataset, content_key

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
NATIVE_RATE = 8000  # Hz
TEST_TAKES = range(0, 5)  # official test split
DEFAULT_VALID_TAKES = (5, 6, 7, 8, 9)  # carved from the official train split (takes 5-49)
_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


class FsddNotFoundError(SpeechDataError, FileNotFoundError):
    """The FSDD recordings folder is absent."""


def fsdd_dir(root: str | os.PathLike | None = None) -> Path:
    """The FSDD folder: ``root`` if given, else ``<shared data>/fsdd``."""
    if root is not None:
        return Path(root)
    from regen_core.data import shared_data_dir

    return shared_data_dir() / "fsdd"


def fsdd_recordings(root: str | os.PathLike | None = None) -> list[tuple[Path, int, str, int]]:
    """[(path, digit, speaker, take)] sorted by (speaker, digit, take); typed error when absent."""
    folder = fsdd_dir(root)
    rec = folder / "recordings"
    if not rec.is_dir():
        raise FsddNotFoundError(
            f"FSDD recordings not found at {rec} (expected {{digit}}_{{speaker}}_{{take}}.wav files); "
            f"set REGEN_SHARED_DATA to the shared data folder or pass the FSDD folder explicitly"
        )
    out = []
    for p in rec.iterdir():
        if p.suffix.lower() != ".wav":
            continue
        m = _NAME.match(p.name)
        if not m:
            raise SpeechDataError(f"{p}: unexpected FSDD file name (expected {{digit}}_{{speaker}}_{{take}}.wav)")
        out.append((p, int(m.group(1)), m.group(2), int(m.group(3))))
    if not out:
        raise FsddNotFoundError(f"{rec}: no .wav recordings")
    return sorted(out, key=lambda r: (r[2], r[1], r[3]))


def fsdd_features() -> "Any":
    """:func:`regen_speech.ljspeech.base_features` plus ``digit`` and ``take``."""
    import datasets

    feats = base_features()
    feats["digit"] = datasets.Value("int8")  # 0..9, the spoken digit
    feats["take"] = datasets.Value("int16")  # recording number of this digit by this speaker
    return feats


def load_fsdd(
    root: str | os.PathLike | None = None,
    sample_rate: int = NATIVE_RATE,
    *,
    valid_takes: Sequence[int] = DEFAULT_VALID_TAKES,
    speakers: Sequence[str] | None = None,
) -> "Any":
    """FSDD as a ``DatasetDict`` with train / valid / test splits.

    test = takes 0-4 (official); valid = ``valid_takes`` (default 5-9, taken from the official
    train); train = the remaining takes. ``valid_takes=()`` gives the official train and an empty
    valid split. Columns: ``id`` (file stem), ``text`` = ``normalized`` = the digit word
    ("zero".."nine"), ``speaker``, ``audio`` (float32, resampled to ``sample_rate``),
    ``sample_rate``, ``duration``, ``digit``, ``take``. ``speakers`` keeps only those speakers.
    """
    import datasets

    recs = fsdd_recordings(root)
    bad = [t for t in valid_takes if t in TEST_TAKES]
    if bad:
        raise SpeechDataError(f"valid_takes {bad} overlap the official test takes 0-4")
    if speakers is not None:
        known = sorted({r[2] for r in recs})
        unknown = sorted(set(speakers) - set(known))
        if unknown:
            raise SpeechDataError(f"unknown FSDD speaker(s) {unknown}; available: {known}")
        recs = [r for r in recs if r[2] in set(speakers)]
    parts: dict[str, list[dict]] = {"train": [], "valid": [], "test": []}
    for path, digit, speaker, take in recs:
        split = "test" if take in TEST_TAKES else "valid" if take in valid_takes else "train"
        word = DIGIT_WORDS[digit]
        parts[split].append(
            {"id": path.stem, "text": word, "normalized": word, "speaker": speaker, "digit": digit, "take": take, "path": str(path)}
        )
    feats = fsdd_features()
    out = {}
    for split, rows in parts.items():
        key = content_key([Path(r["path"]) for r in rows], "fsdd", split, sample_rate)
        out[split] = build_dataset(rows, feats, sample_rate, key)
    return datasets.DatasetDict(out)
