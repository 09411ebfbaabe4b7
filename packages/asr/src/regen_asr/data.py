"""Data of the ASR pairing: paired speech corpora, the text-only P2G corpus, collation.

Paired corpora (columns ``id``, ``speaker``, ``audio`` (T,) float32 at ``sample_rate``,
``text`` (normalised transcript), ``duration``):

- ``synthetic``: the espeak-ng multi-speaker corpus of :mod:`regen_speech.corpus`, built
  once into the regen cache (keyed by its options); whole voices are held out for valid/test,
  so the test set measures unseen voices;
- ``fsdd``: the Free Spoken Digit Dataset (real voices; takes 0-4 are the test set);
- ``ljspeech``: any LJSpeech-format folder (``metadata.csv`` + ``wavs/``), split by utterance.

The P2G's training text (:func:`text_corpus`) never includes a valid or test transcript.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from regen_core.data import DataError, cache_dir, fingerprint, pad_sequences

from .config import ASRConfig
from .vocab import normalise

COLUMNS = ("id", "speaker", "audio", "text", "duration")


def _corpus_config(cfg: ASRConfig) -> Any:
    from regen_speech.corpus import CorpusConfig

    return CorpusConfig(n=cfg.n_utterances, seed=cfg.data_seed, accents=tuple(cfg.accents),
                        variants=tuple(cfg.variants), sentences=cfg.sentences, min_words=cfg.min_words,
                        max_words=cfg.max_words, sample_rate=cfg.sample_rate, rate_jitter=cfg.rate_jitter)


def synthetic_corpus_dir(cfg: ASRConfig, *, progress: bool = False) -> Path:
    """The synthetic corpus folder for ``cfg``: ``corpus_dir`` if given, else built once into the cache."""
    from regen_speech.corpus import CorpusError, build_corpus

    if cfg.corpus_dir:
        return Path(cfg.corpus_dir)
    cc = _corpus_config(cfg)
    folder = cache_dir() / "asr" / f"corpus-{fingerprint(asdict(cc), 'v1')}"
    if not (folder / "corpus.json").is_file():
        try:
            build_corpus(folder, cc, num_proc=cfg.num_proc, progress=progress)
        except CorpusError:
            if not (folder / "corpus.json").is_file():  # another process may have built it meanwhile
                raise
    return folder


def _tidy(ds: Any, text_column: str) -> Any:
    """Keep the pairing's columns; the transcript becomes the normalised text."""
    ds = ds.map(lambda ex: {"text": normalise(ex[text_column])}, desc="normalise transcripts")
    return ds.remove_columns([c for c in ds.column_names if c not in COLUMNS])


def load_paired(cfg: ASRConfig, *, progress: bool = False) -> Any:
    """The paired corpus as a DatasetDict with train / valid / test (deterministic)."""
    import datasets

    # 1. Read the corpus.
    if cfg.corpus == "synthetic":
        from regen_speech.corpus import load_corpus, split_by_speaker

        folder = synthetic_corpus_dir(cfg, progress=progress)
        ds = load_corpus(folder, sample_rate=cfg.sample_rate)
        parts = split_by_speaker(ds, valid=cfg.valid_fraction, test=cfg.test_fraction, seed=cfg.data_seed,
                                 hold_out_speakers=True, test_speakers=tuple(cfg.test_speakers) or None)
        text_column = "normalized"
    elif cfg.corpus == "fsdd":
        from regen_speech.fsdd import load_fsdd

        parts = load_fsdd(cfg.corpus_dir or None, sample_rate=cfg.sample_rate)
        text_column = "normalized"
    elif cfg.corpus == "ljspeech":
        from regen_core.data import split
        from regen_speech.ljspeech import load_ljspeech

        if not cfg.corpus_dir:
            raise DataError("pairing.corpus=ljspeech needs pairing.corpus_dir=<folder with metadata.csv and wavs/>")
        ds = load_ljspeech(cfg.corpus_dir, sample_rate=cfg.sample_rate)
        parts = split(ds, valid=cfg.valid_fraction, test=cfg.test_fraction, seed=cfg.data_seed)
        text_column = "normalized"
    else:
        raise DataError(f"pairing.corpus must be 'synthetic', 'fsdd' or 'ljspeech', got {cfg.corpus!r}")
    out = {k: _tidy(parts[k], text_column) for k in ("train", "valid", "test")}
    # 2. The scarcity sweep: a seeded subset of the paired training utterances.
    if cfg.n_paired > 0:
        n = len(out["train"])
        if cfg.n_paired > n:
            raise DataError(f"pairing.n_paired={cfg.n_paired} but the corpus has only {n} training utterances")
        keep = np.sort(np.random.default_rng([cfg.data_seed, 7]).permutation(n)[: cfg.n_paired])
        out["train"] = out["train"].select(keep.tolist())
    for k, v in out.items():
        if len(v) == 0:
            raise DataError(f"the {k!r} split of corpus {cfg.corpus!r} is empty; use a larger corpus")
    return datasets.DatasetDict(out)


def text_corpus(cfg: ASRConfig, data: Any) -> list[str]:
    """Normalised sentences for the P2G: text only, never a valid/test transcript (deterministic)."""
    from regen_speech.sentences import load_sentences

    held_out = set(data["valid"]["text"]) | set(data["test"]["text"])
    train_texts = list(data["train"]["text"])
    if cfg.text_corpus == "train":
        extra: list[str] = []
    elif cfg.text_corpus == "sentences":
        if cfg.corpus == "synthetic":
            extra = load_sentences(cfg.sentences, min_words=cfg.min_words, max_words=cfg.max_words)
        else:  # real corpora: the default English sentence source
            extra = load_sentences("wordnet", min_words=cfg.min_words, max_words=cfg.max_words)
    else:
        path = Path(cfg.text_corpus)
        if not path.is_file():
            raise DataError(f"pairing.text_corpus={cfg.text_corpus!r}: not 'sentences', 'train' or an existing text file")
        extra = load_sentences(str(path))
    # a seeded order, normalised lazily up to n_text sentences (normalising 30k sentences takes a while)
    order = np.random.default_rng([cfg.data_seed, 11]).permutation(len(extra)) if cfg.n_text > 0 else range(len(extra))
    seen, pool = set(held_out), []
    for i in order:
        t = normalise(extra[int(i)])
        if t and t not in seen:
            seen.add(t)
            pool.append(t)
            if 0 < cfg.n_text <= len(pool):
                break
    out = [t for t in train_texts if t not in held_out] + pool
    if not out:
        raise DataError("the P2G text corpus is empty")
    return out


def cap(rows: list, n: int) -> list:
    """The first ``n`` rows (all when n <= 0)."""
    return rows if n <= 0 else rows[:n]


def stable_hash(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def ctc_collate(items: list[dict]) -> dict[str, torch.Tensor]:
    """[{features (T, F), targets (L,)}] -> padded features (B, T, F) + lengths, targets (B, L) + lengths."""
    feats, f_len = pad_sequences([it["features"] for it in items], 0.0, torch.float32)
    targets, t_len = pad_sequences([it["targets"] for it in items], 0, torch.long)
    return {"features": feats, "features_lengths": f_len, "targets": targets, "targets_lengths": t_len}


def seq2seq_collate(src: str, tgt: str):
    """Collate for (source ids, target ids + </s>) rows; pads with 0."""

    def collate(items: list[dict]) -> dict[str, torch.Tensor]:
        s, _ = pad_sequences([it[src] for it in items], 0, torch.long)
        t, _ = pad_sequences([it[tgt] for it in items], 0, torch.long)
        return {src: s, tgt: t}

    return collate
