"""Error rates: WER and CER with jiwer, PER (phonemes) and G2P word error by edit distance, RTF."""

from __future__ import annotations

from typing import Sequence


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def _clean(text: str) -> str:
    return " ".join(str(text).split())


def wer(references: Sequence[str] | str, hypotheses: Sequence[str] | str) -> float:
    """Word error rate (jiwer): (S + D + I) / reference words, pooled over all pairs."""
    import jiwer

    refs = [references] if isinstance(references, str) else list(references)
    hyps = [hypotheses] if isinstance(hypotheses, str) else list(hypotheses)
    refs, hyps = [_clean(r) for r in refs], [_clean(h) for h in hyps]
    if any(not r for r in refs):
        raise ValueError("a reference transcript is empty: WER is undefined")
    return float(jiwer.wer(refs, hyps))


def cer(references: Sequence[str] | str, hypotheses: Sequence[str] | str) -> float:
    """Character error rate (jiwer), spaces included, pooled over all pairs."""
    import jiwer

    refs = [references] if isinstance(references, str) else list(references)
    hyps = [hypotheses] if isinstance(hypotheses, str) else list(hypotheses)
    refs, hyps = [_clean(r) for r in refs], [_clean(h) for h in hyps]
    if any(not r for r in refs):
        raise ValueError("a reference transcript is empty: CER is undefined")
    return float(jiwer.cer(refs, hyps))


def per(references: Sequence[Sequence[str]], hypotheses: Sequence[Sequence[str]]) -> float:
    """Phoneme error rate: total edit distance / total reference phonemes (``|`` separators count)."""
    errors = sum(edit_distance(r, h) for r, h in zip(references, hypotheses, strict=True))
    total = sum(len(r) for r in references)
    if total == 0:
        raise ValueError("the reference phoneme sequences are empty: PER is undefined")
    return errors / total


def word_error(references: Sequence[Sequence[str]], hypotheses: Sequence[Sequence[str]]) -> float:
    """Fraction of items (e.g. G2P words) whose whole sequence is wrong."""
    pairs = list(zip(references, hypotheses, strict=True))
    if not pairs:
        raise ValueError("no items to score")
    return sum(tuple(r) != tuple(h) for r, h in pairs) / len(pairs)


def rtf(seconds: float, audio_seconds: float) -> float:
    """Real-time factor: processing time / audio duration (< 1 is faster than real time)."""
    if audio_seconds <= 0:
        raise ValueError(f"audio duration must be positive, got {audio_seconds}")
    return seconds / audio_seconds
