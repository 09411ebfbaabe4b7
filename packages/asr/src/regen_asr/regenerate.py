"""Regenerate Y' -> Y: phoneme-to-grapheme (P2G), a seq2seq model trained on text alone.

Any text corpus becomes (phonemes, text) training pairs through the frozen extractor, so the
P2G learns spelling, homophones ("their" / "there") and word boundaries from context without a
single paired recording. Decoding is beam search; optionally the n-best list is re-ranked by a
round trip through the extractor: a hypothesis whose G2P differs from the input phonemes is
penalised by ``rescore_weight`` x (phoneme edit distance / input length).

Long phoneme sequences are decoded in chunks of at most ``chunk_words`` words (cut at ``|``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .metrics import edit_distance
from .seq2seq import Seq2Seq
from .vocab import WORD_SEP, G2PError, char_vocab, phoneme_vocab


@dataclass(frozen=True)
class P2GSettings:
    d_model: int = 192  # transformer width
    n_heads: int = 4  # attention heads
    enc_layers: int = 3  # encoder layers
    dec_layers: int = 3  # decoder layers
    dropout: float = 0.1  # dropout
    label_smoothing: float = 0.1  # cross-entropy label smoothing
    beam: int = 4  # beam width; 1 = greedy
    n_best: int = 4  # hypotheses kept for rescoring (<= beam)
    rescore_weight: float = 0.0  # weight of the G2P round-trip penalty; 0 = no rescoring
    length_penalty: float = 1.0  # ranking score = log p / length ** length_penalty
    chunk_words: int = 24  # decode longer inputs in chunks of this many words
    noise: float = 0.0  # training only: probability that an input phoneme is replaced by a random one


class P2G(nn.Module):
    """Phonemes (list of ARPAbet symbols) -> normalised text (str)."""

    stochastic = False  # beam search is deterministic: seed/temperature are unused

    def __init__(self, settings: P2GSettings, *, stress: bool, extractor: Any = None):
        super().__init__()
        self.settings = settings
        self.src_vocab, self.tgt_vocab = phoneme_vocab(stress), char_vocab()
        self.seq = Seq2Seq(len(self.src_vocab), len(self.tgt_vocab), d_model=settings.d_model,
                           n_heads=settings.n_heads, enc_layers=settings.enc_layers, dec_layers=settings.dec_layers,
                           dropout=settings.dropout)
        self.__dict__["extractor"] = extractor  # used for rescoring; not a sub-module (not saved, not trained)

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Teacher-forced loss on (phoneme ids (B, S), character ids + </s> (B, T))."""
        src = batch["phonemes"]  # (B, S)
        if self.training and self.settings.noise > 0:
            # recognised phonemes are noisy: learn to spell from corrupted input too (text-only augmentation)
            first = self.src_vocab.index[WORD_SEP] + 1  # first phoneme id (after the specials and "|")
            hit = (torch.rand(src.shape, device=src.device) < self.settings.noise) & (src >= first)
            rand = torch.randint(first, len(self.src_vocab), src.shape, device=src.device)
            src = torch.where(hit, rand, src)
        return self.seq.loss(src, batch["chars"], label_smoothing=self.settings.label_smoothing)

    def _chunks(self, phonemes: list[str]) -> list[list[str]]:
        words: list[list[str]] = [[]]
        for p in phonemes:
            if p == WORD_SEP:
                words.append([])
            else:
                words[-1].append(p)
        words = [w for w in words if w]
        k = max(1, self.settings.chunk_words)
        out = []
        for i in range(0, len(words), k):
            chunk: list[str] = []
            for w in words[i : i + k]:
                if chunk:
                    chunk.append(WORD_SEP)
                chunk.extend(w)
            out.append(chunk)
        if not out and phonemes:  # no separators at all: one chunk
            out = [list(phonemes)]
        return out

    @torch.no_grad()
    def n_best(self, phonemes: list[str]) -> list[tuple[str, float]]:
        """(text, score) hypotheses for one chunk, best first (after rescoring when enabled)."""
        s = self.settings
        src = self.src_vocab.encode(phonemes, what="phoneme")
        hyps = self.seq.beam_search(src, beam=max(1, s.beam), n_best=max(1, min(s.n_best, s.beam)),
                                    max_len=2 * len(src) + 10, length_penalty=s.length_penalty)
        out = [("".join(self.tgt_vocab.decode(h.ids)), h.score) for h in hyps]
        out = [(" ".join(t.split()), sc) for t, sc in out]
        if s.rescore_weight > 0 and self.extractor is not None and len(out) > 1:
            rescored = []
            for text, score in out:
                try:
                    back = self.extractor.extract(text)
                    penalty = edit_distance(back, phonemes) / max(1, len(phonemes))
                except G2PError:
                    penalty = 1.0
                rescored.append((text, score - s.rescore_weight * penalty))
            out = sorted(rescored, key=lambda ts: -ts[1])
        return out

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> str:
        """Text for one phoneme sequence (Y'); deterministic, seed/temperature unused."""
        phonemes = [str(p) for p in condition]
        texts = [self.n_best(chunk)[0][0] for chunk in self._chunks(phonemes)]
        return " ".join(t for t in texts if t)
