"""Fixed vocabularies (ARPAbet phonemes, characters) and transcript normalisation.

The vocabularies are defined here in code, not learned from data, so every model folder
reloads from its ``config.json`` alone: a phoneme vocabulary is fully determined by
``stress`` (keep ARPAbet stress digits on vowels or not).

Index 0 is ``<pad>`` everywhere and doubles as the CTC blank.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from regen_speech.sentences import number_to_words  # one English number speller for every domain
from regen_core.errors import RegenError

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
SPECIALS = (PAD, BOS, EOS)
WORD_SEP = "|"  # phoneme-level word boundary token in Y'

#: The 39 ARPAbet phonemes of CMUdict (stress removed).
VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
CONSONANTS = (
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T", "TH",
    "V", "W", "Y", "Z", "ZH",
)
#: Characters of normalised transcripts: lower-case Latin letters, apostrophe and space.
LETTERS = tuple("abcdefghijklmnopqrstuvwxyz")
CHARS = (" ", "'") + LETTERS


class G2PError(RegenError, ValueError):
    """A word the grapheme-to-phoneme step cannot handle (e.g. non-Latin script); names the word."""


class Vocab:
    """A fixed token list with encode/decode; index 0 is padding and the CTC blank."""

    def __init__(self, tokens: tuple[str, ...]):
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tokens must be unique")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}
        self.pad, self.bos, self.eos = self.index[PAD], self.index[BOS], self.index[EOS]

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, seq, *, what: str = "token") -> list[int]:
        out = []
        for t in seq:
            i = self.index.get(t)
            if i is None or i < len(SPECIALS):
                raise ValueError(f"{what} {t!r} is not in the vocabulary ({len(self)} tokens)")
            out.append(i)
        return out

    def decode(self, ids) -> list[str]:
        """Token strings for ids, stopping at ``</s>`` and skipping pad/bos."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos:
                break
            if i in (self.pad, self.bos):
                continue
            out.append(self.tokens[i])
        return out


def phoneme_inventory(stress: bool) -> tuple[str, ...]:
    """Phonemes (no specials): 39 without stress, 69 with (vowels x stress 0/1/2)."""
    vowels = tuple(f"{v}{s}" for v in VOWELS for s in "012") if stress else VOWELS
    return vowels + CONSONANTS


@lru_cache(maxsize=None)
def phoneme_vocab(stress: bool) -> Vocab:
    """Specials, the word separator ``|``, then the phonemes."""
    return Vocab(SPECIALS + (WORD_SEP,) + phoneme_inventory(stress))


@lru_cache(maxsize=None)
def char_vocab() -> Vocab:
    """Specials, space, apostrophe, a-z."""
    return Vocab(SPECIALS + CHARS)


# -- normalisation ------------------------------------------------------------------------------

_ONES = "zero one two three four five six seven eight nine".split()  # digit-by-digit reading of long codes


def _expand_number(match: re.Match) -> str:
    digits = match.group(0)
    if len(digits) > 12:  # a long code: read digit by digit
        return " ".join(_ONES[int(d)] for d in digits)
    return number_to_words(int(digits))


def _is_latin_letter(ch: str) -> bool:
    return "LATIN" in unicodedata.name(ch, "")


def normalise(text: str) -> str:
    """Lower-case words of a-z and apostrophes separated by single spaces.

    Accents are stripped (``café`` -> ``cafe``), digits are read out, hyphens and other
    punctuation become word breaks. A word holding letters of a non-Latin script raises
    :class:`G2PError` naming the word.
    """
    if not isinstance(text, str):
        raise TypeError(f"a transcript must be a str, got {type(text).__name__}")
    for word in text.split():
        if any(ch.isalpha() and not _is_latin_letter(ch) for ch in word):
            raise G2PError(
                f"word {word!r} is not in the Latin script; the English G2P (CMUdict + neural G2P) "
                f"only handles Latin letters - transliterate it first"
            )
    t = unicodedata.normalize("NFKD", text)
    t = "".join(ch for ch in t if not unicodedata.combining(ch)).lower()
    t = t.replace("’", "'").replace("‘", "'").replace("æ", "ae").replace("œ", "oe").replace("ß", "ss")
    t = re.sub(r"\d+", lambda m: " " + _expand_number(m) + " ", t)
    t = re.sub(r"[^a-z' ]+", " ", t)  # punctuation, hyphens -> word breaks
    words = [w.strip("'") for w in t.split()]
    return " ".join(w for w in words if w)
