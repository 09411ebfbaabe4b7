"""Sources of real English sentences for synthetic speech corpora, and text normalisation.

Sources (see :func:`load_sentences`):

- ``"wordnet"`` (default): the example sentences quoted inside WordNet 3.0's glosses
  (Debian ``wordnet-base``, ``/usr/share/wordnet/data.{noun,verb,adj,adv}``): about 29,000
  modern sentences of 5+ words, e.g. "He discovered that his house was not insured against acts of God."
- ``"kjv"``: the King James Bible, read with the ``bible`` program (Debian ``bible-kjv``), verses
  split into sentences.
- a path: a UTF-8 text file of one sentence per line (blank lines skipped).

:func:`select_sentences` picks ``n`` of them deterministically from a seed.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import numpy as np
from regen_core.errors import RegenError

WORDNET_DIR = Path("/usr/share/wordnet")  # Debian wordnet-base
WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")


class SentenceSourceError(RegenError, ValueError):
    """A sentence source is missing, unreadable or holds unusable lines."""


# Characters a cleaned built-in sentence may contain (user files are only checked for "|").
_ALLOWED = re.compile(r"^[A-Za-z][A-Za-z ,.;:!?'\-]*$")
_QUOTED = re.compile(r'"([^"]+)"')


def _clean(raw: str, min_words: int, max_words: int) -> str | None:
    """One candidate sentence -> a tidy sentence, or None when it should be dropped."""
    s = normalize_punctuation(raw).strip().strip(";:,- ")
    if not s or "..." in s or "--" in s or not _ALLOWED.match(s):
        return None  # fragments, quotations with ellipses, digits, brackets, symbols
    words = s.split()
    if not min_words <= len(words) <= max_words:
        return None
    s = s[0].upper() + s[1:]
    if s[-1] not in ".!?":
        s += "."
    return s


def _dedupe_sorted(sentences: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for s in sentences:
        seen.setdefault(s.lower(), s)
    return sorted(seen.values())


@functools.lru_cache(maxsize=4)
def _wordnet_examples(folder: str) -> tuple[str, ...]:
    """Every quoted example of WordNet's glosses, raw, in file order."""
    root = Path(folder)
    files = [root / name for name in WORDNET_FILES]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise SentenceSourceError(
            f"WordNet data files not found: {', '.join(missing)}; install the Debian package "
            f"'wordnet-base' (apt-get install -y wordnet-base) or pass a sentence file"
        )
    out: list[str] = []
    for f in files:
        with open(f, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("  ") or " | " not in line:
                    continue  # licence header, or a synset without a gloss
                out.extend(_QUOTED.findall(line.split(" | ", 1)[1]))
    return tuple(out)


def wordnet_sentences(folder: str | os.PathLike = WORDNET_DIR, *, min_words: int = 5, max_words: int = 25) -> tuple[str, ...]:
    """Example sentences from WordNet's glosses, cleaned, de-duplicated and sorted.

    Each synset line of ``data.*`` ends with ``| gloss; "example one"; "example two"``; the quoted
    examples with ``min_words``..``max_words`` words made only of letters and ordinary punctuation
    are kept, capitalised and given a full stop.
    """
    return _wordnet_cleaned(str(folder), min_words, max_words)


@functools.lru_cache(maxsize=8)
def _wordnet_cleaned(folder: str, min_words: int, max_words: int) -> tuple[str, ...]:
    cleaned = (_clean(raw, min_words, max_words) for raw in _wordnet_examples(folder))
    return tuple(_dedupe_sorted([s for s in cleaned if s]))


@functools.lru_cache(maxsize=1)
def _kjv_sentences_raw() -> tuple[str, ...]:
    """The King James Bible split into raw sentences, in book order."""
    exe = shutil.which("bible")
    if exe is None:
        raise SentenceSourceError(
            "the 'bible' program is not installed; install the Debian package 'bible-kjv' "
            "(apt-get install -y bible-kjv) or use the wordnet source or a sentence file"
        )
    env = dict(os.environ, COLUMNS="100000")  # -f wraps lines at $COLUMNS
    proc = subprocess.run([exe, "-f", "Ge1:1-Re22:21"], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SentenceSourceError(f"'bible -f Ge1:1-Re22:21' failed (exit {proc.returncode}): {proc.stderr.strip()[:200]}")
    verses: list[str] = []
    for line in proc.stdout.splitlines():
        m = re.match(r"^\s*\d?\s?[A-Za-z]+\d+:\d+\s+(.*)$", line)
        if m:
            verses.append(m.group(1))
        elif verses and line.strip():
            verses[-1] += " " + line.strip()  # a wrapped continuation line
    return tuple(raw for verse in verses for raw in re.split(r"(?<=[.?!])\s+", verse))


def kjv_sentences(*, min_words: int = 5, max_words: int = 25) -> tuple[str, ...]:
    """Sentences of the King James Bible (via the ``bible`` program of Debian ``bible-kjv``).

    Verses are split after ``.``, ``?`` and ``!``; sentences of ``min_words``..``max_words``
    words are kept, de-duplicated and sorted.
    """
    return _kjv_cleaned(min_words, max_words)


@functools.lru_cache(maxsize=8)
def _kjv_cleaned(min_words: int, max_words: int) -> tuple[str, ...]:
    cleaned = (_clean(raw, min_words, max_words) for raw in _kjv_sentences_raw())
    return tuple(_dedupe_sorted([s for s in cleaned if s]))


def file_sentences(path: str | os.PathLike) -> list[str]:
    """Sentences from a UTF-8 text file, one per line, in file order (blank lines skipped).

    A line containing ``|`` is an error (it would break LJSpeech-style metadata).
    """
    p = Path(path)
    if not p.is_file():
        raise SentenceSourceError(f"sentence file not found: {p}")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise SentenceSourceError(f"{p}: not UTF-8 text ({e})") from e
    out: list[str] = []
    for i, line in enumerate(lines, start=1):
        s = " ".join(line.split())
        if not s:
            continue
        if "|" in s:
            raise SentenceSourceError(f"{p}:{i}: a sentence may not contain '|' (the metadata separator): {s[:80]!r}")
        out.append(s)
    if not out:
        raise SentenceSourceError(f"{p}: no sentences (the file has no non-blank lines)")
    return out


def load_sentences(source: str | os.PathLike = "wordnet", *, min_words: int = 5, max_words: int = 25) -> list[str]:
    """All sentences of a source: ``"wordnet"``, ``"kjv"``, or a path to a one-per-line text file."""
    if isinstance(source, str) and source in ("wordnet", "kjv"):
        fn = wordnet_sentences if source == "wordnet" else kjv_sentences
        return list(fn(min_words=min_words, max_words=max_words))
    return file_sentences(source)


def select_sentences(sentences: list[str] | tuple[str, ...], n: int, seed: int) -> list[str]:
    """``n`` sentences chosen by a seeded permutation; when ``n`` exceeds the pool, further
    permutations follow (each sentence is used once before any is repeated)."""
    if n <= 0:
        raise SentenceSourceError(f"select_sentences: n must be positive, got {n}")
    if not sentences:
        raise SentenceSourceError("select_sentences: the sentence pool is empty")
    rng = np.random.default_rng(seed)
    out: list[str] = []
    while len(out) < n:
        order = rng.permutation(len(sentences))
        out.extend(sentences[int(i)] for i in order[: n - len(out)])
    return out


# --- normalisation --------------------------------------------------------------------------

_PUNCT_MAP = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u2013": "-", "\u2014": " - ", "\u2212": "-", "\u2026": "...",
}  # fmt: skip
_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def normalize_punctuation(text: str) -> str:
    """NFKC, typographic quotes and dashes to ASCII, whitespace collapsed."""
    s = unicodedata.normalize("NFKC", text)
    s = "".join(_PUNCT_MAP.get(c, c) for c in s)
    return " ".join(s.split())


def number_to_words(n: int) -> str:
    """Cardinal number in English words, 0 <= n < 10**12 (``1905`` -> ``"one thousand nine hundred five"``)."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            if n // size >= 1000:
                break
            rest = n % size
            return number_to_words(n // size) + " " + name + ("" if rest == 0 else " " + number_to_words(rest))
    raise SentenceSourceError(f"number_to_words: {n} is too large (limit 10**12 - 1)")


def _ordinal(words: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head} {last}" if head else last


def _expand_number(m: re.Match) -> str:
    currency, whole, frac, suffix = m.group(1), m.group(2).replace(",", ""), m.group(3), (m.group(4) or "").lower()
    if len(whole) > 12:
        return " ".join(_ONES[int(d)] for d in whole)  # read very long numbers digit by digit
    words = number_to_words(int(whole))
    if frac:
        words += " point " + " ".join(_ONES[int(d)] for d in frac)
    if suffix in ("st", "nd", "rd", "th") and not frac:
        words = _ordinal(words)
    elif suffix == "%":
        words += " percent"
    if currency:
        unit = "dollar" if currency == "$" else "pound" if currency == "\u00a3" else "euro"
        words += f" {unit}" + ("" if whole == "1" and not frac else "s")
    return words


_NUMBER = re.compile(r"([$\u00a3\u20ac])?(\d[\d,]*\d|\d)(?:\.(\d+))?(st|nd|rd|th|%)?", re.IGNORECASE)


def normalize_text(text: str) -> str:
    """Text as it should be read aloud: punctuation normalised, numbers, ``%``, ``&`` and
    currency spelled out (``"$5 & 10%"`` -> ``"five dollars and ten percent"``).

    This fills the ``normalized`` column of LJSpeech-style metadata.
    """
    s = normalize_punctuation(text)
    s = _NUMBER.sub(_expand_number, s)
    s = s.replace("&", " and ")
    return " ".join(s.split())
