"""The CTC speech recogniser shared by both sides: log-mel -> conv subsampling -> transformer -> CTC.

The generator (phonemes, :mod:`regen_asr.generate`) and the direct baseline (characters,
:mod:`regen_asr.direct`) are this same network with a different output vocabulary, so both
sides get exactly the same encoder size and training budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import ctc
from .features import FeatureSettings, log_mel, windows
from .seq2seq import sinusoids
from .vocab import Vocab


@dataclass(frozen=True)
class EncoderSettings:
    d_model: int = 144  # transformer width
    n_heads: int = 4  # attention heads
    layers: int = 4  # transformer encoder layers
    conv_channels: int = 64  # channels of the two subsampling convolutions
    subsample: int = 4  # time subsampling of the convolutions: 2 or 4 (frames of 20 or 40 ms)
    dropout: float = 0.1  # dropout in the transformer
    spec_augment: bool = True  # time and frequency masking while training
    beam: int = 8  # CTC prefix beam width at inference; 1 = greedy
    max_window_s: float = 20.0  # longer audio is decoded in windows cut at pauses


@dataclass(frozen=True)
class TimedToken:
    token: str  # phoneme or character
    start: float  # seconds from the start of the audio
    end: float  # seconds


class ConvSubsample(nn.Module):
    """(B, T, F) -> (B, T / subsample, d_model) with two strided 3x3 convolutions."""

    def __init__(self, n_mels: int, channels: int, d_model: int, subsample: int):
        super().__init__()
        if subsample not in (2, 4):
            raise ValueError(f"subsample must be 2 or 4, got {subsample}")
        self.subsample = subsample
        t2 = 2 if subsample == 4 else 1
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 3, stride=(2, 2), padding=1), nn.GELU(),
            nn.Conv2d(channels, channels, 3, stride=(t2, 2), padding=1), nn.GELU(),
        )
        f_out = math.ceil(math.ceil(n_mels / 2) / 2)
        self.proj = nn.Linear(channels * f_out, d_model)

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        out = (lengths + 1) // 2
        return (out + 1) // 2 if self.subsample == 4 else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x[:, None])  # (B, C, T', F')
        b, c, t, f = h.shape
        return self.proj(h.permute(0, 2, 1, 3).reshape(b, t, c * f))  # (B, T', d)


class CTCRecogniser(nn.Module):
    """Audio -> token sequence with CTC. Subclasses choose the vocabulary and the output form."""

    stochastic = False  # decoding is deterministic (greedy / beam search): seed and temperature are unused

    def __init__(self, vocab: Vocab, enc: EncoderSettings, feats: FeatureSettings, target: str):
        super().__init__()
        self.vocab, self.enc_settings, self.feats, self.target = vocab, enc, feats, target
        self.subsample = ConvSubsample(feats.n_mels, enc.conv_channels, enc.d_model, enc.subsample)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(enc.d_model, enc.n_heads, 4 * enc.d_model, enc.dropout, batch_first=True,
                                       norm_first=True),
            enc.layers, enable_nested_tensor=False,
        )
        self.norm = nn.LayerNorm(enc.d_model)
        self.head = nn.Linear(enc.d_model, len(vocab))
        self.drop = nn.Dropout(enc.dropout)

    @property
    def frame_seconds(self) -> float:
        return self.feats.hop * self.enc_settings.subsample / self.feats.sample_rate

    # -- network ---------------------------------------------------------------------------

    def log_probs(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, n_mels), (B,) -> CTC log-probabilities (B, T', V) and lengths (B,)."""
        h = self.subsample(feats)  # (B, T', d)
        out_len = self.subsample.out_lengths(lengths).clamp(max=h.shape[1])
        h = self.drop(h + sinusoids(h.shape[1], h.shape[2], h.device)[None])
        pad = torch.arange(h.shape[1], device=h.device)[None] >= out_len[:, None]  # (B, T') True on padding
        h = self.norm(self.encoder(h, src_key_padding_mask=pad))
        return F.log_softmax(self.head(h).float(), dim=-1), out_len

    def _spec_augment(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Two frequency masks (<= n_mels/8 wide) and two time masks (<= 5% of each utterance)."""
        b, t, f = feats.shape
        feats = feats.clone()
        for _ in range(2):
            w = torch.randint(0, max(1, f // 8) + 1, (b,))
            s = (torch.rand(b) * (f - w).clamp(min=1)).long()
            idx = torch.arange(f)[None]
            feats.masked_fill_(((idx >= s[:, None]) & (idx < (s + w)[:, None]))[:, None, :], 0.0)
            wt = (torch.rand(b) * 0.05 * lengths.float()).long()
            st = (torch.rand(b) * (lengths - wt).clamp(min=1).float()).long()
            it = torch.arange(t)[None]
            feats.masked_fill_(((it >= st[:, None]) & (it < (st + wt)[:, None]))[:, :, None], 0.0)
        return feats

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """CTC loss of (features (B, T, n_mels), lengths) against (targets (B, L), lengths)."""
        feats, f_len = batch["features"], batch["features_lengths"]
        targets, t_len = batch["targets"], batch["targets_lengths"]
        if self.training and self.enc_settings.spec_augment:
            feats = self._spec_augment(feats, f_len)
        logp, out_len = self.log_probs(feats, f_len)  # (B, T', V)
        loss = F.ctc_loss(logp.transpose(0, 1), targets, out_len, t_len, blank=ctc.BLANK, reduction="mean",
                          zero_infinity=True)
        with torch.no_grad():
            too_short = float((out_len < t_len).float().mean())
        return loss, {"ctc": float(loss.detach()), "frames_short": too_short}

    # -- inference -------------------------------------------------------------------------

    def _check(self, audio: Any) -> np.ndarray:
        from regen_speech.audio import check_audio

        x = np.asarray(audio, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"audio must be mono samples (T,) at {self.feats.sample_rate} Hz, got shape {x.shape}; "
                             f"use regen_speech.audio.load_audio to read, down-mix and resample a file")
        check_audio(x)
        return x

    @torch.no_grad()
    def window_log_probs(self, audio: Any) -> list[tuple[float, np.ndarray]]:
        """(offset seconds, log-probs (T', V)) for each window of one utterance."""
        x = self._check(audio)
        sr = self.feats.sample_rate
        out = []
        device = self.head.weight.device
        for a, b in windows(x, sr, self.enc_settings.max_window_s):
            feats = log_mel(x[a:b], self.feats)[None].to(device)  # (1, T, n_mels)
            logp, n = self.log_probs(feats, torch.tensor([feats.shape[1]], device=device))
            out.append((a / sr, logp[0, : int(n[0])].cpu().numpy()))
        return out

    def _decode(self, logp: np.ndarray) -> list[int]:
        if self.enc_settings.beam <= 1:
            return ctc.greedy(logp)
        return list(ctc.prefix_beam_search(logp, beam=self.enc_settings.beam)[0][0])

    @torch.no_grad()
    def transcribe_tokens(self, audio: Any) -> list[list[TimedToken]]:
        """Tokens with start/end times (Viterbi CTC alignment of the decoded labels), one list per window."""
        fs = self.frame_seconds
        result = []
        for offset, logp in self.window_log_probs(audio):
            ids = self._decode(logp)
            spans = ctc.align(logp, ids) if ids else []
            result.append([TimedToken(self.vocab.tokens[i], round(offset + a * fs, 3), round(offset + (b + 1) * fs, 3))
                           for i, (a, b) in zip(ids, spans)])
        return result

    @torch.no_grad()
    def decode_tokens(self, audio: Any, separator: str) -> list[str]:
        """Decoded token strings over all windows, ``separator`` between windows."""
        out: list[str] = []
        for _, logp in self.window_log_probs(audio):
            toks = [self.vocab.tokens[i] for i in self._decode(logp)]
            if out and toks and out[-1] != separator and toks[0] != separator:
                out.append(separator)
            out.extend(toks)
        return out
