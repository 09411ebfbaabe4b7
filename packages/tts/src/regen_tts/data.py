"""Speech data for the TTS pairings: the synthetic corpus, LJSpeech-format folders, FSDD.

Every source becomes a ``DatasetDict`` (train / valid / test) with the columns

- ``x``: the condition, ``{"text": str, "speaker": str}``;
- ``audio``: (T,) float32 at the config's sample rate (Y);
- ``speaker``, ``id``; ``phonemes`` (vocabulary symbols) and ``phoneme_starts`` (seconds) when
  the source has timings (the corpus), else empty lists.

Loading is :mod:`regen_core.speech` (soundfile, soxr resampling that is reported, typed
errors); this module only chooses the source, the speaker list and the split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from regen_core.data import DataError, cache_dir, fingerprint

from .config import TTSConfig
from .text import clean_phonemes

FSDD_SPEAKERS = ("george", "jackson", "nicolas", "theo", "yweweler")
SOURCES = ("corpus", "ljspeech", "fsdd")
LJSPEECH_SPEAKER = "default"


def check_source(cfg: TTSConfig) -> None:
    if cfg.source not in SOURCES:
        raise DataError(f"pairing.source must be one of {', '.join(SOURCES)}, got {cfg.source!r}")
    if cfg.durations not in ("auto", "timings", "aligner"):
        raise DataError(f"pairing.durations must be 'auto', 'timings' or 'aligner', got {cfg.durations!r}")
    if cfg.durations == "timings" and cfg.source != "corpus":
        raise DataError(f"pairing.durations='timings' needs a source with phoneme timings (corpus), not {cfg.source!r}")
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
        from regen_core.speech.espeak import resolve_voice

        return [resolve_voice(v) for v in cfg.corpus_speakers]
    if cfg.source == "fsdd":
        return list(FSDD_SPEAKERS)
    return [LJSPEECH_SPEAKER]


def corpus_folder(cfg: TTSConfig) -> Path:
    """The corpus folder: ``corpus_dir``, or one built once under the cache, keyed by its options."""
    from regen_core.speech.corpus import CorpusConfig, build_corpus

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


def load_splits(cfg: TTSConfig) -> Any:
    """train / valid / test ``DatasetDict`` of the configured source (deterministic)."""
    import datasets

    from regen_core.data import split

    check_source(cfg)
    limit = cfg.max_utterances or None
    if cfg.source == "corpus":
        from regen_core.speech.corpus import load_corpus, read_corpus_info

        folder = corpus_folder(cfg)
        known = set(speakers(cfg))
        extra = sorted(set(read_corpus_info(folder)["speakers"]) - known)
        if extra:
            raise DataError(f"corpus {folder} has speakers {extra} not in pairing.corpus_speakers; list them there")
        ds = load_corpus(folder, cfg.sample_rate, limit=limit)
        ds = _with_columns(ds, cfg, timings=True)
        return split(ds, valid=cfg.valid_fraction, test=cfg.test_fraction, seed=cfg.split_seed)
    if cfg.source == "ljspeech":
        from regen_core.speech.ljspeech import load_ljspeech

        if not cfg.ljspeech_dir:
            raise DataError("pairing.source='ljspeech' needs pairing.ljspeech_dir (a folder with metadata.csv and wavs/)")
        ds = load_ljspeech(cfg.ljspeech_dir, cfg.sample_rate, limit=limit)
        ds = _with_columns(ds, cfg, timings=False, speaker=LJSPEECH_SPEAKER)
        return split(ds, valid=cfg.valid_fraction, test=cfg.test_fraction, seed=cfg.split_seed)
    from regen_core.speech.fsdd import load_fsdd

    parts = load_fsdd(cfg.fsdd_dir or None, cfg.sample_rate)  # default: <shared data>/fsdd
    out = {}
    for name, ds in parts.items():
        if limit:
            ds = ds.select(range(min(limit, len(ds))))
        out[name] = _with_columns(ds, cfg, timings=False)
    return datasets.DatasetDict(out)
