"""A synthetic multi-speaker English speech corpus with exact phoneme timings, built with espeak-ng.

Speakers are English accents x voice variants (``en-us+m3``, ``en-gb+f2``, ...). Sentences come
from a real-text source (WordNet examples by default, see :mod:`regen_speech.sentences`).
Everything is a function of the seed: which sentences, which speaker says each one, and the
audio itself (each utterance is synthesised from a fresh espeak-ng state, see
:mod:`regen_speech.espeak`), so two builds with the same options are identical byte for
byte, whatever ``num_proc``. ``reproducible=False`` (``--fast``) is several times faster and
keeps texts and speakers, but not the exact samples nor (to a few milliseconds) the timings.

Output folder (LJSpeech layout plus alignments)::

    wavs/<id>.wav     16-bit PCM mono at the corpus rate (espeak's native 22050 Hz unless resampled)
    metadata.csv      id|text|normalized   (the normalized text is what was spoken)
    timings.jsonl     one JSON object per utterance: id, speaker, accent, variant, rate, duration,
                      phonemes (IPA, "_" = pause), phoneme_starts / phoneme_ends (seconds),
                      words ([word, start_seconds] pairs of the words espeak reported: it folds
                      some unstressed words, e.g. "to" or "the", into the following word)
    corpus.json       how it was built: options, speakers, espeak version, sentence source, totals

Command line::

    python -m regen_speech.corpus --out DIR --n 2000 --num-proc 2 [--sentences FILE] \\
        [--speakers en-us+m3 en-gb+f2 ...] [--seed 0] [--sample-rate 16000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import espeak
from .audio import resample, save_wav
from .ljspeech import SpeechDataError, base_features, build_dataset, check_wavs, content_key, read_metadata
from .sentences import load_sentences, normalize_text, select_sentences
from regen_core.errors import RegenError, cli_main

FORMAT = "regen-speech-corpus"  # corpus.json "format"
FORMAT_VERSION = 1  # bump when the folder layout or a file's fields change
TIMINGS = "timings.jsonl"
CORPUS_JSON = "corpus.json"

# Eight English accents espeak-ng 1.51 ships, and four variants (two male, two female).
DEFAULT_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
DEFAULT_VARIANTS = ("m1", "m3", "f2", "f4")


class CorpusError(RegenError, ValueError):
    """A corpus cannot be built (bad options, a failing utterance) or its folder is malformed."""


@dataclass(frozen=True)
class CorpusConfig:
    """How a synthetic corpus is built; saved in corpus.json."""

    n: int = 2000  # number of utterances
    seed: int = 0  # drives sentence choice, speaker assignment and rate jitter
    speakers: tuple[str, ...] = ()  # explicit voices ("en-us+m3", ...); empty = accents x variants
    accents: tuple[str, ...] = DEFAULT_ACCENTS  # used when speakers is empty
    variants: tuple[str, ...] = DEFAULT_VARIANTS  # used when speakers is empty
    sentences: str = "wordnet"  # "wordnet", "kjv", or a path to a one-sentence-per-line file
    min_words: int = 5  # built-in sources: shortest sentence kept
    max_words: int = 20  # built-in sources: longest sentence kept
    sample_rate: int | None = None  # Hz of the wavs; None = espeak's native 22050
    rate: int = 175  # speaking rate, words per minute (80..450)
    rate_jitter: float = 0.0  # each utterance's rate is rate * (1 + U(-j, j)), seeded
    reproducible: bool = True  # byte-identical wavs (each utterance from a fresh espeak state, slower);
    # False: faster, same texts and speakers, but samples and phoneme times (by ms) vary from build to build

    def voices(self) -> list[str]:
        """The speaker list, canonical and validated against the installed espeak-ng."""
        raw = list(self.speakers) if self.speakers else [f"{a}+{v}" for a in self.accents for v in self.variants]
        if not raw:
            raise CorpusError("no speakers: give speakers, or non-empty accents and variants")
        voices = [espeak.resolve_voice(v) for v in raw]
        dupes = sorted({v for v in voices if voices.count(v) > 1})
        if dupes:
            raise CorpusError(f"duplicate speakers: {', '.join(dupes)}")
        return voices


@dataclass(frozen=True)
class _Job:
    uid: str  # utterance id
    text: str  # the sentence as written
    spoken: str  # normalised text given to espeak
    voice: str  # canonical voice
    rate: int  # words per minute


@dataclass
class _Worker:
    folder: str  # where wavs/ go
    sample_rate: int | None  # output rate, None = native
    fresh: bool  # synthesise from a fresh espeak state (see espeak.synthesize)

    def __call__(self, job: _Job) -> dict:
        try:
            s = espeak.synthesize(job.spoken, job.voice, rate=job.rate, fresh=self.fresh)
            audio, rate = s.audio, s.sample_rate  # (T,) float32
            if self.sample_rate and self.sample_rate != rate:
                audio, rate = resample(audio, rate, self.sample_rate), self.sample_rate  # (T',)
                peak = float(np.abs(audio).max(initial=0.0))
                if peak > 0.99:  # resampling rings past full scale on loud espeak output: scale, don't clip
                    audio = audio * np.float32(0.99 / peak)
            save_wav(Path(self.folder) / "wavs" / f"{job.uid}.wav", audio, rate, allow_silent=False)
        except Exception as e:  # name the utterance: the traceback of a pool worker says little
            raise CorpusError(f"utterance {job.uid} ({job.voice}, {job.spoken[:60]!r}): {type(e).__name__}: {e}") from e
        accent, _, variant = s.voice.partition("+")
        return {
            "id": job.uid,
            "speaker": s.voice,
            "accent": accent,
            "variant": variant,
            "rate": job.rate,
            "duration": round(len(audio) / rate, 6),
            "phonemes": s.phonemes,
            "phoneme_starts": [round(t, 6) for t in s.phoneme_starts],
            "phoneme_ends": [round(t, 6) for t in s.phoneme_ends],
            "words": [[job.spoken[c : c + n], round(t, 6)] for c, n, t in s.words],
        }


def plan(config: CorpusConfig) -> tuple[list[_Job], dict[str, Any]]:
    """The deterministic list of utterances to synthesise, and a description of the sentence source."""
    # 1. Sentences.
    if config.n <= 0:
        raise CorpusError(f"n must be positive, got {config.n}")
    if not 80 <= config.rate <= 450 or not 0 <= config.rate_jitter < 1:
        raise CorpusError(f"rate must be 80..450 and rate_jitter in [0, 1), got {config.rate}, {config.rate_jitter}")
    pool = load_sentences(config.sentences, min_words=config.min_words, max_words=config.max_words)
    chosen = select_sentences(pool, config.n, config.seed)
    source = {
        "name": config.sentences if config.sentences in ("wordnet", "kjv") else str(Path(config.sentences).resolve()),
        "pool_size": len(pool),
        "pool_sha256": hashlib.sha256("\n".join(pool).encode()).hexdigest(),
    }
    # 2. Speakers: every speaker gets n / S utterances (+-1), in a seeded order.
    voices = config.voices()
    rng = np.random.default_rng([config.seed, 1])
    assignment = rng.permutation(np.resize(np.arange(len(voices)), config.n))
    # 3. Speaking rates.
    jitter = rng.uniform(-config.rate_jitter, config.rate_jitter, size=config.n) if config.rate_jitter else np.zeros(config.n)
    rates = np.clip(np.round(config.rate * (1 + jitter)), 80, 450).astype(int)
    width = max(6, len(str(config.n)))
    jobs = [
        _Job(f"utt{i:0{width}d}", text, normalize_text(text), voices[int(assignment[i])], int(rates[i]))
        for i, text in enumerate(chosen)
    ]
    return jobs, source


def build_corpus(
    out: str | os.PathLike,
    config: CorpusConfig = CorpusConfig(),
    *,
    num_proc: int = 1,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Synthesise the corpus described by ``config`` into the folder ``out``; return it.

    The folder is built beside ``out`` and renamed into place when complete. An existing
    non-empty ``out`` is an error unless ``overwrite``. ``num_proc`` > 1 synthesises in that many
    processes (spawned, each with its own libespeak-ng); the result does not depend on it. As with
    any spawned pool, a script that calls this with ``num_proc`` > 1 must do so under
    ``if __name__ == "__main__":`` (the workers re-import the main module).
    """
    from tqdm.auto import tqdm

    target = Path(out)
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not overwrite:
        raise CorpusError(f"{target} exists and is not empty; pass overwrite=True (--overwrite) to replace it")
    # 1. Plan (validates voices and sentences before any work).
    jobs, source = plan(config)
    # 2. Synthesise into a temporary sibling folder.
    tmp = target.parent / f".{target.name}.building-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "wavs").mkdir(parents=True)
    worker = _Worker(str(tmp), config.sample_rate, config.reproducible)
    results: list[dict] = []
    try:
        with tqdm(total=len(jobs), desc="synthesising", unit="utt", disable=not progress) as bar:
            # Non-reproducible synthesis always runs in worker processes: it would leave this
            # process's espeak state unfit for later reproducible calls.
            if (num_proc > 1 and len(jobs) > 1) or not config.reproducible:
                num_proc = max(1, num_proc)
                ctx = mp.get_context("spawn")  # a fresh libespeak-ng per process; safe when torch is loaded
                chunk = max(1, min(32, len(jobs) // (num_proc * 4)))
                with ctx.Pool(num_proc) as pool:
                    for r in pool.imap(worker, jobs, chunksize=chunk):
                        results.append(r)
                        bar.update()
            else:
                for job in jobs:
                    results.append(worker(job))
                    bar.update()
        # 3. Metadata, timings, description.
        with open(tmp / "metadata.csv", "w", encoding="utf-8") as f:
            for job in jobs:
                f.write(f"{job.uid}|{job.text}|{job.spoken}\n")
        with open(tmp / TIMINGS, "w", encoding="utf-8") as f:
            for r in results:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        rate = config.sample_rate or espeak.native_sample_rate()
        durations = [r["duration"] for r in results]
        info = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": asdict(config),
            "speakers": config.voices(),
            "sample_rate": rate,
            "num_utterances": len(results),
            "total_duration_s": round(float(sum(durations)), 3),
            "phoneme_inventory": sorted({p for r in results for p in r["phonemes"]}),
            "sentence_source": source,
            "espeak_ng_version": espeak.version(),
            "audio": "16-bit PCM WAV, mono",
            "text_spoken": "normalized",
        }
        (tmp / CORPUS_JSON).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        # 4. Move into place (another process may have finished the same folder meanwhile).
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            if not overwrite:
                raise CorpusError(f"{target} was created by someone else while this build ran; not replacing it")
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# --- loading ---------------------------------------------------------------------------------


def corpus_features() -> "Any":
    """``datasets.Features`` of :func:`load_corpus`: the base speech columns plus alignments."""
    import datasets

    feats = base_features()
    feats["accent"] = datasets.Value("string")  # espeak accent, e.g. "en-gb-scotland"
    feats["variant"] = datasets.Value("string")  # espeak variant, e.g. "f2"
    feats["phonemes"] = datasets.Sequence(datasets.Value("string"))  # (P,) IPA, "_" = pause
    feats["phoneme_starts"] = datasets.Sequence(datasets.Value("float32"))  # (P,) seconds
    feats["phoneme_ends"] = datasets.Sequence(datasets.Value("float32"))  # (P,) seconds
    feats["words"] = datasets.Sequence(datasets.Value("string"))  # (W,) spoken words
    feats["word_starts"] = datasets.Sequence(datasets.Value("float32"))  # (W,) seconds
    return feats


def read_corpus_info(folder: str | os.PathLike) -> dict:
    """corpus.json of a built corpus (CorpusError when absent or of another format)."""
    path = Path(folder) / CORPUS_JSON
    if not path.is_file():
        raise CorpusError(f"{path}: missing; is {folder} a corpus built by regen_speech.corpus?")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CorpusError(f"{path}: not valid JSON ({e})") from e
    if info.get("format") != FORMAT:
        raise CorpusError(f"{path}: format {info.get('format')!r}, expected {FORMAT!r}")
    return info


def read_timings(folder: str | os.PathLike) -> dict[str, dict]:
    """timings.jsonl -> {id: record}; CorpusError names a malformed line."""
    path = Path(folder) / TIMINGS
    if not path.is_file():
        raise CorpusError(f"{path}: missing (per-utterance phoneme timings)")
    out: dict[str, dict] = {}
    needed = ("id", "speaker", "phonemes", "phoneme_starts", "phoneme_ends")
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise CorpusError(f"{path}:{n}: not valid JSON ({e})") from e
        missing = [k for k in needed if k not in rec]
        if missing:
            raise CorpusError(f"{path}:{n}: missing field(s) {', '.join(missing)}")
        if not len(rec["phonemes"]) == len(rec["phoneme_starts"]) == len(rec["phoneme_ends"]):
            raise CorpusError(f"{path}:{n}: phonemes, phoneme_starts and phoneme_ends differ in length")
        out[rec["id"]] = rec
    return out


def load_corpus(folder: str | os.PathLike, sample_rate: int | None = None, *, limit: int | None = None) -> "Any":
    """A built corpus as a ``datasets.Dataset`` (columns: :func:`corpus_features`).

    ``sample_rate`` resamples the audio (default: the corpus rate from corpus.json); phoneme
    times are in seconds and do not change. ``limit`` keeps the first ``limit`` utterances.
    """
    root = Path(folder)
    info = read_corpus_info(root)
    meta = read_metadata(root)
    if limit is not None:
        meta = meta[: max(0, limit)]
    timings = read_timings(root)
    absent = [uid for uid, _, _ in meta if uid not in timings]
    if absent:
        raise CorpusError(f"{root / TIMINGS}: no timings for {len(absent)} utterance(s), e.g. {absent[:3]}")
    paths = check_wavs(root, [uid for uid, _, _ in meta])
    rate = int(sample_rate or info["sample_rate"])
    rows = []
    for (uid, text, norm), p in zip(meta, paths, strict=True):
        t = timings[uid]
        words = t.get("words", [])
        rows.append(
            {
                "id": uid, "text": text, "normalized": norm, "speaker": t["speaker"],
                "accent": t.get("accent", t["speaker"].partition("+")[0]),
                "variant": t.get("variant", t["speaker"].partition("+")[2]),
                "phonemes": t["phonemes"], "phoneme_starts": t["phoneme_starts"], "phoneme_ends": t["phoneme_ends"],
                "words": [w for w, _ in words], "word_starts": [s for _, s in words],
                "path": str(p),
            }
        )  # fmt: skip
    key = content_key([root / "metadata.csv", root / TIMINGS, root / CORPUS_JSON, *paths], "corpus", rate, limit)
    return build_dataset(rows, corpus_features(), rate, key)


# --- splits ----------------------------------------------------------------------------------


def split_by_speaker(
    ds: "Any",
    *,
    valid: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
    hold_out_speakers: bool = False,
    test_speakers: Sequence[str] | None = None,
    valid_speakers: Sequence[str] | None = None,
) -> "Any":
    """Deterministic train/valid/test ``DatasetDict`` of a dataset with a ``speaker`` column.

    - ``hold_out_speakers=False`` (and no speaker lists): a seeded split of utterances
      (:func:`regen_core.data.split`); every speaker may appear in every split.
    - ``hold_out_speakers=True``: whole speakers go to test (``round(test * S)``, at least one) and
      valid (``round(valid * S)``, at least one when ``valid > 0``), chosen by a seeded permutation
      of the sorted speaker names; train, valid and test speakers are disjoint (what ASR needs).
    - ``test_speakers`` / ``valid_speakers``: name the held-out speakers yourself (implies hold-out).
    """
    import datasets

    from regen_core.data import split as split_rows

    if not (hold_out_speakers or test_speakers or valid_speakers):
        return split_rows(ds, valid=valid, test=test, seed=seed)
    speakers = list(ds["speaker"])  # (N,) str
    names = sorted(set(speakers))
    for given in (test_speakers or [], valid_speakers or []):
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise SpeechDataError(f"unknown speaker(s) {unknown}; the dataset has {names}")
    rest = np.random.default_rng(seed).permutation(names).tolist()
    test_set = list(test_speakers) if test_speakers else None
    valid_set = list(valid_speakers) if valid_speakers else None
    rest = [s for s in rest if s not in (test_set or []) and s not in (valid_set or [])]
    if test_set is None:
        k = max(1, int(round(test * len(names))))
        test_set, rest = rest[:k], rest[k:]
    if valid_set is None:
        k = max(1, int(round(valid * len(names)))) if valid > 0 else 0
        valid_set, rest = rest[:k], rest[k:]
    if set(test_set) & set(valid_set):
        raise SpeechDataError(f"speakers in both test and valid: {sorted(set(test_set) & set(valid_set))}")
    if not rest:
        raise SpeechDataError(
            f"no training speakers left: {len(names)} speakers, {len(test_set)} test, {len(valid_set)} valid; "
            f"use more speakers or smaller valid/test fractions"
        )
    where = {s: "test" for s in test_set} | {s: "valid" for s in valid_set}
    parts: dict[str, list[int]] = {"train": [], "valid": [], "test": []}
    for i, s in enumerate(speakers):
        parts[where.get(s, "train")].append(i)
    return datasets.DatasetDict({k: ds.select(v) for k, v in parts.items()})


# --- command line -----------------------------------------------------------------------------


@cli_main("python -m regen_speech.corpus")
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m regen_speech.corpus``: build a corpus folder (or list voices)."""
    p = argparse.ArgumentParser(prog="python -m regen_speech.corpus", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, help="output folder")
    p.add_argument("--n", type=int, default=CorpusConfig.n, help="number of utterances (default %(default)s)")
    p.add_argument("--num-proc", type=int, default=1, help="worker processes (default %(default)s)")
    p.add_argument("--sentences", default="wordnet", help="'wordnet' (default), 'kjv', or a text file with one sentence per line")
    p.add_argument("--speakers", nargs="+", default=None, help="voices such as en-us+m3 en-gb+f2 (default: accents x variants)")
    p.add_argument("--accents", nargs="+", default=list(DEFAULT_ACCENTS), help="accents (default: %(default)s)")
    p.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), help="variants (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed (default %(default)s)")
    p.add_argument("--sample-rate", type=int, default=None, help="resample the wavs to this rate (default: espeak's 22050)")
    p.add_argument("--rate", type=int, default=CorpusConfig.rate, help="speaking rate in words per minute (default %(default)s)")
    p.add_argument("--rate-jitter", type=float, default=0.0, help="per-utterance rate jitter fraction (default 0)")
    p.add_argument("--max-words", type=int, default=CorpusConfig.max_words, help="longest built-in sentence (default %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument(
        "--fast", action="store_true", help="several times faster; wavs and timings then differ slightly from build to build"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--list-voices", action="store_true", help="print the English accents and variants, then exit")
    args = p.parse_args(argv)
    if args.list_voices:
        print("accents: ", " ".join(espeak.list_accents()))
        print("variants:", " ".join(espeak.list_variants()))
        return 0
    if args.out is None:
        p.error("--out is required")
    config = CorpusConfig(
        n=args.n, seed=args.seed, speakers=tuple(args.speakers or ()), accents=tuple(args.accents),
        variants=tuple(args.variants), sentences=args.sentences, max_words=args.max_words,
        sample_rate=args.sample_rate, rate=args.rate, rate_jitter=args.rate_jitter, reproducible=not args.fast,
    )  # fmt: skip
    t0 = time.perf_counter()
    folder = build_corpus(args.out, config, num_proc=args.num_proc, progress=not args.quiet, overwrite=args.overwrite)
    seconds = time.perf_counter() - t0
    info = read_corpus_info(folder)
    print(
        f"wrote {info['num_utterances']} utterances ({info['total_duration_s'] / 60:.1f} min of audio, "
        f"{len(info['speakers'])} speakers, {info['sample_rate']} Hz) to {folder} in {seconds:.1f} s "
        f"with {args.num_proc} process(es)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
