"""Speech data for the TTS pairings: the synthetic corpus, LJSpeech-format folders, FSDD.

Every source becomes a ``DatasetDict`` (train / valid / test) with the columns

- ``x``: the condition, ``{"text": str, "speaker": str}``;
- ``audio``: (T,) float32 at the config's sample rate (Y);
- ``speaker``, ``id``; ``phonemes`` (vocabulary symbols) and ``phoneme_starts`` (seconds) when
  the source has timings (the corpus), else empty lists.

Loading is :mod:`regen_speech` (soundfile, soxr resampling that is reported, typed
errors); this module only chooses the source, the speaker list and the split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from regen_core.data import DataError, cache_dir, fingerprint

from .config import TTSConfig
from .text import clean_phonemes

FSDD_SPEAKERS = ("george", "jackson", "nicolas", "theo", "yweweler")
SOURCES = ("corpus", "ljspeech", "fsdd", "audio")
LJSPEECH_SPEAKER = "default"
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif")  # what soundfile (libsndfile) decodes
AUDIO_ONLY_STAGES = ("extract", "regenerate")  # what a folder of audio without transcripts can train


def check_source(cfg: TTSConfig) -> None:
    if cfg.source not in SOURCES:
        raise DataError(f"pairing.source must be one of {', '.join(SOURCES)}, got {cfg.source!r}")
    if cfg.durations not in ("auto", "timings", "aligner"):
        raise DataError(f"pairing.durations must be 'auto', 'timings' or 'aligner', got {cfg.durations!r}")
    if cfg.durations == "timings" and cfg.source != "corpus":
        raise DataError(f"pairing.durations='timings' needs a source with phoneme timings (corpus), not {cfg.source!r}")
    if cfg.source == "audio" and not cfg.audio_dir:
        raise DataError("pairing.source='audio' needs pairing.audio_dir (a folder of audio files, searched recursively)")
    if cfg.g2p == "cmudict" and uses_timings(cfg):
        raise DataError("g2p='cmudict' gives other symbols than the corpus timings: use durations='aligner' with it")


def uses_timings(cfg: TTSConfig) -> bool:
    """True when durations come from corpus timings, False when the internal aligner learns them."""
    if cfg.durations == "auto":
        return cfg.source == "corpus" and cfg.g2p == "espeak"
    return cfg.durations == "timings"


def speakers(cfg: TTSConfig) -> list[str]:
    """The speaker list (embedding index = position); a function of the config alone."""
    if cfg.source == "corpus":
        from regen_speech.espeak import resolve_voice

        return [resolve_voice(v) for v in cfg.corpus_speakers]
    if cfg.source == "fsdd":
        return list(FSDD_SPEAKERS)
    return [LJSPEECH_SPEAKER]  # ljspeech, audio


def audio_files(folder: str | Path) -> list[Path]:
    """Every audio file under ``folder`` (recursively, sorted): :data:`AUDIO_SUFFIXES`; a typed error when none."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"pairing.audio_dir={str(folder)!r} is not a folder")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise DataError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) under {root}")
    return files


def load_audio_folder(folder: str | Path, sample_rate: int, limit: int | None = None) -> Any:
    """A folder of audio files (no transcripts) as a ``datasets.Dataset`` with the speech loaders' columns.

    ``id`` is the path relative to the folder, ``text`` / ``normalized`` are empty, ``speaker`` is
    the sub-folder name (the folder's own name for files at its top). Decoding, down-mixing,
    resampling and the typed errors for empty, silent, NaN or corrupt files are
    :func:`regen_speech.audio.load_audio`'s; the Arrow cache is keyed by the files.
    """
    from regen_speech.ljspeech import base_features, build_dataset, content_key

    root = Path(folder)
    files = audio_files(root)[:limit]
    rows = [{"id": p.relative_to(root).as_posix(), "text": "", "normalized": "",
             "speaker": p.parent.name if p.parent != root else root.resolve().name, "path": str(p)} for p in files]
    key = content_key(files, "audio-folder", sample_rate, limit)
    return build_dataset(rows, base_features(), sample_rate, key)


def corpus_folder(cfg: TTSConfig) -> Path:
    """The corpus folder: ``corpus_dir``, or one built once under the cache, keyed by its options."""
    from regen_speech.corpus import CorpusConfig, build_corpus

    if cfg.corpus_dir:
        folder = Path(cfg.corpus_dir)
        if not folder.is_dir():
            raise DataError(f"pairing.corpus_dir={cfg.corpus_dir!r} is not a folder (build one with python -m regen_tts.corpus)")
        return folder
    ccfg = CorpusConfig(n=cfg.corpus_n, seed=cfg.corpus_seed, speakers=tuple(cfg.corpus_speakers),
                        sentences=cfg.corpus_sentences, max_words=cfg.corpus_max_words)
    key = fingerprint("tts-corpus", 1, repr(ccfg))
    folder = cache_dir() / "tts-corpus" / key
    if not (folder / "corpus.json").is_file():
        build_corpus(folder, ccfg, num_proc=max(1, cfg.num_proc), progress=False, overwrite=True)
    return folder


def _with_columns(ds: Any, cfg: TTSConfig, timings: bool, speaker: str | None = None) -> Any:
    symbols = cfg.phonemes

    def add(ex: dict) -> dict:
        spk = speaker if speaker is not None else ex["speaker"]
        out = {"x": {"text": ex["text"], "speaker": spk}, "speaker": spk}
        if timings:
            out["phonemes"] = clean_phonemes(ex["phonemes"], symbols)
            if len(out["phonemes"]) != len(ex["phonemes"]):
                raise DataError(f"utterance {ex['id']}: corpus phonemes {ex['phonemes']} do not map 1:1 onto the vocabulary")
            out["phoneme_starts"] = ex["phoneme_starts"]
        else:
            out["phonemes"], out["phoneme_starts"] = [], []
        return out

    keep = {"id", "audio", "x", "speaker", "phonemes", "phoneme_starts", "text"}
    ds = ds.map(add, desc="tts columns")
    return ds.remove_columns([c for c in ds.column_names if c not in keep])


def conversions(source: str, paths: list[Path], target_rate: int) -> list[str]:
    """What loading ``paths`` at ``target_rate`` does to them: resampling and down-mixing, counted.

    Reads only the files' headers (soundfile). Every line names the source, the number of files,
    their rate or channel count and what they become; an empty list means nothing is converted.
    """
    from collections import Counter

    from regen_speech.audio import audio_info

    rates: Counter = Counter()
    channels: Counter = Counter()
    for p in paths:
        rate, ch, _ = audio_info(p)
        rates[rate] += 1
        channels[ch] += 1
    out = [f"{source}: {n} file(s) at {rate} Hz resampled to {target_rate} Hz (soxr HQ)"
           for rate, n in sorted(rates.items()) if rate != target_rate]
    out += [f"{source}: {n} file(s) with {ch} channels down-mixed to mono (mean of the channels)"
            for ch, n in sorted(channels.items()) if ch > 1]
    return out


def report(lines: list[str]) -> None:
    """Print conversion notes on stderr (and log them): audio is never converted silently."""
    import logging
    import sys

    for line in lines:
        logging.getLogger(__name__).info(line)
        print(f"[regen-tts data] {line}", file=sys.stderr, flush=True)


def load_splits(cfg: TTSConfig) -> Any:
    """train / valid / test ``DatasetDict`` of the configured source (deterministic).

    Resampling and down-mixing of the source audio are printed on stderr (:func:`conversions`).
    """
    import datasets

    from regen_core.data import split

    check_source(cfg)
    limit = cfg.max_utterances or None
    if cfg.source == "corpus":
        from regen_speech.corpus import load_corpus, read_corpus_info

        folder = corpus_folder(cfg)
        info = read_corpus_info(folder)
        known = set(speakers(cfg))
        extra = sorted(set(info["speakers"]) - known)
        if extra:
            raise DataError(f"corpus {folder} has speakers {extra} not in pairing.corpus_speakers; list them there")
        if int(info["sample_rate"]) != cfg.sample_rate:
            n = info["num_utterances"] if limit is None else min(limit, info["num_utterances"])
            report([f"corpus {folder}: {n} utterance(s) at {info['sample_rate']} Hz resampled to {cfg.sample_rate} Hz (soxr HQ)"])
        ds = load_corpus(folder, cfg.sample_rate, limit=limit)
        ds = _with_columns(ds, cfg, timings=True)
        return split(ds, valid=cfg.valid_fraction, test=cfg.test_fraction, seed=cfg.split_seed)
    if cfg.source == "ljspeech":
        from regen_speech.ljspeech import load_ljspeech

        if not cfg.ljspeech_dir:
            raise DataError("pairing.source='ljspeech' needs pairing.ljspeech_dir (a folder with metadata.csv and wavs/)")
        from regen_speech.ljspeech import check_wavs, read_metadata

        meta = read_metadata(cfg.ljspeech_dir)[:limit]
        report(conversions(f"LJSpeech folder {cfg.ljspeech_dir}", check_wavs(cfg.ljspeech_dir, [m[0] for m in meta]),
                           cfg.sample_rate))
        ds = load_ljspeech(cfg.ljspeech_dir, cfg.sample_rate, limit=limit)
        ds = _with_columns(ds, cfg, timings=False, speaker=LJSPEECH_SPEAKER)
        return split(ds, valid=cfg.valid_fraction, test=cfg.test_fraction, seed=cfg.split_seed)
    if cfg.source == "audio":
        report(conversions(f"audio folder {cfg.audio_dir}", audio_files(cfg.audio_dir)[:limit], cfg.sample_rate))
        ds = load_audio_folder(cfg.audio_dir, cfg.sample_rate, limit)
        ds = _with_columns(ds, cfg, timings=False, speaker=LJSPEECH_SPEAKER)
        return split(ds, valid=cfg.valid_fraction, test=cfg.test_fraction, seed=cfg.split_seed)
    from regen_speech.fsdd import fsdd_dir, fsdd_recordings, load_fsdd

    folder = cfg.fsdd_dir or None  # default: <shared data>/fsdd
    report(conversions(f"FSDD {fsdd_dir(folder)}", [r[0] for r in fsdd_recordings(folder)], cfg.sample_rate))
    parts = load_fsdd(folder, cfg.sample_rate)
    out = {}
    for name, ds in parts.items():
        if limit:
            ds = ds.select(range(min(limit, len(ds))))
        out[name] = _with_columns(ds, cfg, timings=False)
    return datasets.DatasetDict(out)
