"""Internal aligner for data without phoneme timings (One TTS Alignment, Badlani et al. 2022).

A soft text-to-frame attention is learned with the forward-sum (CTC) objective; monotonic
alignment search (MAS) turns it into hard durations, and a binarisation loss pulls the soft
attention towards the hard path. The hard durations drive the length regulator and are the
duration predictor's targets, exactly as corpus timings are when present.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Aligner(nn.Module):
    """Soft alignment log-probabilities between phoneme embeddings and target frames."""

    def __init__(self, d_text: int, n_feats: int, d_att: int = 64, temperature: float = 5e-4):
        super().__init__()
        self.temperature = temperature
        self.key = nn.Sequential(nn.Conv1d(d_text, d_att * 2, 3, padding=1), nn.ReLU(), nn.Conv1d(d_att * 2, d_att, 1))
        self.query = nn.Sequential(
            nn.Conv1d(n_feats, d_att * 2, 3, padding=1), nn.ReLU(), nn.Conv1d(d_att * 2, d_att, 1), nn.ReLU(),
            nn.Conv1d(d_att, d_att, 1),
        )  # fmt: skip

    def forward(self, text: torch.Tensor, feats: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """text (B, P, d_text), feats (B, T, n_feats), text_mask (B, P) -> log attention (B, T, P)."""
        k = self.key(text.transpose(1, 2)).transpose(1, 2)  # (B, P, d_att)
        q = self.query(feats.transpose(1, 2)).transpose(1, 2)  # (B, T, d_att)
        dist = ((q[:, :, None, :] - k[:, None, :, :]) ** 2).sum(-1)  # (B, T, P)
        logits = -self.temperature * dist * 1000.0
        logits = logits.masked_fill(~text_mask[:, None, :], -1e4)
        return F.log_softmax(logits, dim=-1)  # (B, T, P)


def forward_sum_loss(log_attn: torch.Tensor, text_lengths: torch.Tensor, frame_lengths: torch.Tensor,
                     blank_logprob: float = -1.0) -> torch.Tensor:
    """CTC over the attention: every monotonic path through all phonemes counts (B, T, P) -> scalar."""
    b, t, p = log_attn.shape
    logits = F.pad(log_attn, (1, 0), value=blank_logprob)  # (B, T, P+1), class 0 = blank
    logp = F.log_softmax(logits, dim=-1).transpose(0, 1)  # (T, B, P+1)
    targets = torch.arange(1, p + 1, device=log_attn.device)[None].expand(b, p)  # (B, P)
    return F.ctc_loss(logp, targets, frame_lengths, text_lengths, blank=0, reduction="mean", zero_infinity=True)


@torch.no_grad()
def monotonic_alignment_search(log_attn: torch.Tensor, text_lengths: torch.Tensor,
                               frame_lengths: torch.Tensor) -> torch.Tensor:
    """Most likely monotonic hard alignment, every phoneme >= 1 frame: (B, T, P) log-probs -> (B, T, P) 0/1.

    Needs frame_lengths >= text_lengths (each phoneme gets at least one frame); an utterance
    with fewer frames than phonemes gets a uniform alignment instead.
    """
    b, t_max, p_max = log_attn.shape
    device = log_attn.device
    neg = torch.tensor(-1e9, device=device)
    value = torch.full((b, p_max), -1e9, device=device)  # (B, P) best log-prob ending at phoneme p
    value[:, 0] = log_attn[:, 0, 0]
    came_diag = torch.zeros(b, t_max, p_max, dtype=torch.bool, device=device)
    for t in range(1, t_max):
        diag = torch.cat([neg.expand(b, 1), value[:, :-1]], dim=1)  # (B, P)
        came_diag[:, t] = diag > value
        value = torch.maximum(value, diag) + log_attn[:, t]
    path = torch.zeros(b, t_max, p_max, device=device)
    idx = (text_lengths - 1).clone()  # (B,) current phoneme while walking back
    rows = torch.arange(b, device=device)
    for t in range(t_max - 1, -1, -1):
        active = t < frame_lengths  # (B,)
        path[rows[active], t, idx[active]] = 1.0
        step = active & came_diag[rows, t, idx] & (idx > 0)
        idx = idx - step.long()
    bad = frame_lengths < text_lengths
    if bad.any():  # not enough frames: spread frames evenly instead
        for i in torch.nonzero(bad).flatten().tolist():
            path[i] = 0
            tl, pl = int(frame_lengths[i]), int(text_lengths[i])
            owner = (torch.arange(tl, device=device) * pl) // max(tl, 1)
            path[i, torch.arange(tl, device=device), owner] = 1.0
    return path


def binarization_loss(hard: torch.Tensor, log_attn: torch.Tensor) -> torch.Tensor:
    """-mean log soft-attention on the hard path."""
    return -(hard * log_attn.clamp_min(-1e4)).sum() / hard.sum().clamp_min(1.0)
