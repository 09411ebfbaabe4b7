"""Regenerate Y' -> Y: phoneme-to-grapheme (P2G), learned from text alone.

Any text corpus becomes (phonemes, text) training pairs through the frozen extractor, so the
P2G learns spelling, homophones ("their" / "there") and word boundaries without a single paired
recording. Two decoders, chosen by ``mode``:

- ``lexicon`` (default): the extractor's pronunciations inverted (every corpus word, plus the
  other CMUdict words as an open vocabulary) and a Kneser-Ney word trigram counted on the same
  text; a beam search over word segmentations (:mod:`regen_asr.lexdecode`). Spans the lexicon
  cannot cover are spelled by the neural seq2seq below (trained on the same text as always).
  The LM counts and the corpus words' pronunciations are integer buffers of the module, so they
  live in ``model.safetensors`` with the network; they are filled by :meth:`P2G.fit_text`, which
  the pairing calls with the stage's training text.
- ``seq2seq``: the neural model alone: beam search; optionally the n-best list is re-ranked by a
  round trip through the extractor: a hypothesis whose G2P differs from the input phonemes is
  penalised by ``rescore_weight`` x (phoneme edit distance / input length). Long phoneme
  sequences are decoded in chunks of at most ``chunk_words`` words (cut at ``|``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .lexdecode import LexDecodeSettings, LexiconDecoder
from .lm import WordLM
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
    mode: str = "lexicon"  # "lexicon" (lexicon + word LM, neural fallback) or "seq2seq" (the neural model alone)
    lm_order: int = 3  # word n-gram order (1-3)
    lexicon: LexDecodeSettings = LexDecodeSettings()  # lexicon decoding (see regen_asr.lexdecode)


MODES = ("lexicon", "seq2seq")
LM_PREFIX = "lm_"


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
        if settings.mode not in MODES:
            raise ValueError(f"P2G mode must be one of {', '.join(MODES)}, got {settings.mode!r}")
        self.__dict__["extractor"] = extractor  # used for rescoring and fitting; not a sub-module (not saved, not trained)
        self.stress = stress
        # the text statistics of the lexicon decoder (integer buffers, saved with the weights; empty until fit_text)
        self._set_text_buffers(WordLM.fit([], order=settings.lm_order).to_tensors(LM_PREFIX), [])
        self._decoder: LexiconDecoder | None = None

    # -- text statistics (lexicon mode) ----------------------------------------------------------

    def _set_text_buffers(self, lm_tensors: dict[str, torch.Tensor], prons: list[str]) -> None:
        for k, v in lm_tensors.items():
            self.register_buffer(k, v, persistent=True)
        blob = "\n".join(prons).encode("utf-8")
        self.register_buffer(f"{LM_PREFIX}prons", torch.frombuffer(bytearray(blob), dtype=torch.uint8).clone()
                             if blob else torch.zeros(0, dtype=torch.uint8), persistent=True)
        self._decoder = None

    @property
    def fitted(self) -> bool:
        """True once the word LM holds counts (fit_text or a loaded model folder)."""
        return self.lm_count1.shape[0] > 0

    def fit_text(self, texts: list[str]) -> None:
        """Count the word LM on normalised sentences and store each corpus word's pronunciation."""
        if self.extractor is None:
            raise RuntimeError("fit_text needs the extractor (build the regenerator with it)")
        lm = WordLM.fit(texts, order=self.settings.lm_order)
        words = lm.vocab[2:]  # without <s>, </s>
        prons = self.extractor.word_phonemes(words) if words else []
        open_size = sum(1 for w in self.extractor.lexicon if w not in lm.index) if self.settings.lexicon.open_vocab else 0
        lm = WordLM(lm.vocab, lm.ngrams, lm.order, open_size)
        self._set_text_buffers(lm.to_tensors(LM_PREFIX), [" ".join(p) for p in prons])

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """The text buffers change size with the corpus: take them as they are, then load the rest."""
        state_dict = dict(state_dict)
        text = {k: state_dict.pop(k) for k in list(state_dict) if k.startswith(LM_PREFIX)}
        if text:
            lm_tensors = {k: v.clone() for k, v in text.items() if k != f"{LM_PREFIX}prons"}
            prons_blob = text.get(f"{LM_PREFIX}prons", torch.zeros(0, dtype=torch.uint8))
            for k, v in lm_tensors.items():
                self.register_buffer(k, v, persistent=True)
            self.register_buffer(f"{LM_PREFIX}prons", prons_blob.clone(), persistent=True)
            self._decoder = None
        result = super().load_state_dict(state_dict, strict=False, assign=assign)
        missing = [k for k in result.missing_keys if not k.startswith(LM_PREFIX)]
        if strict and (missing or result.unexpected_keys):
            raise RuntimeError(f"P2G state does not fit: missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}")
        return type(result)(missing, result.unexpected_keys)

    def decoder(self) -> LexiconDecoder:
        """The lexicon decoder built from the text buffers (cached until they change)."""
        if self._decoder is None:
            tensors = {k: v.cpu() for k, v in self.state_dict().items() if k.startswith(LM_PREFIX)}
            lm = WordLM.from_tensors(tensors, LM_PREFIX)
            blob = tensors[f"{LM_PREFIX}prons"].numpy().tobytes().decode("utf-8")
            prons = blob.split("\n") if blob else []
            words = lm.vocab[2:]
            if len(prons) != len(words):
                raise RuntimeError(f"P2G text buffers disagree: {len(words)} words, {len(prons)} pronunciations")
            self._decoder = LexiconDecoder(lm, {w: tuple(p.split()) for w, p in zip(words, prons)},
                                           self.settings.lexicon, stress=self.stress, fallback=self._spell)
        return self._decoder

    def warm_up(self) -> None:
        """Build what decoding needs (the lexicon decoder) now, so the first transcription is not slower."""
        if self.settings.mode == "lexicon":
            self.decoder()
        self._spell([[self.src_vocab.tokens[-1]]])  # the fallback network's first call (lazy imports inside torch)

    @torch.no_grad()
    def _spell(self, spans: list[list[str]]) -> list[str]:
        """The neural seq2seq's greedy spellings of phoneme spans, in one batch (the lexicon decoder's fallback)."""
        srcs = [self.src_vocab.encode(p, what="phoneme") for p in spans]
        outs = self.seq.greedy_batch(srcs, max_len=3 * max(len(p) for p in spans) // 2 + 4)  # ~1.3 letters per phoneme
        return [" ".join("".join(self.tgt_vocab.decode(ids)).split()) for ids in outs]

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
    def _neural(self, phonemes: list[str]) -> str:
        texts = [self.n_best(chunk)[0][0] for chunk in self._chunks(phonemes)]
        return " ".join(t for t in texts if t)

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> str:
        """Text for one phoneme sequence (Y'); deterministic, seed/temperature unused."""
        phonemes = [str(p) for p in condition]
        if self.settings.mode == "seq2seq":
            return self._neural(phonemes)
        return self.decoder().decode(phonemes)
