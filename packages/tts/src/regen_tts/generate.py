"""Generate X -> Y': a FastSpeech 2-style non-autoregressive acoustic model.

    phonemes + speaker -> encoder (FFT blocks) -> variance adaptor -> length regulator
                       -> decoder (FFT blocks) -> head

The variance adaptor predicts, per phoneme, a Gaussian over log-duration, pitch and energy
(mean and log-std), so sampling is distribution-wise: ``value = mean + temperature *
noise_scale * std * eps`` with a seeded generator; ``temperature=0`` gives the mean. In
training the adaptor is teacher-forced with the target durations (corpus timings, or the
internal aligner's MAS durations), pitch and energy averaged over each phoneme's frames.

Heads: :class:`MelGenerator` (log-mel, L1) for ``tts``; :class:`CodecGenerator` (EnCodec code
tokens, cross-entropy, all codebooks predicted in parallel: non-autoregressive over frames and
codebooks) for ``tts-codec``. The direct baseline reuses :class:`Backbone` with a waveform decoder.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from regen_core.data import lengths_to_mask

from . import text as frontend
from .align import Aligner, binarization_loss, forward_sum_loss, monotonic_alignment_search
from .config import TTSConfig
from regen_core.errors import RegenError

PITCH_MEAN, PITCH_STD = 5.0, 0.35  # log-F0 normalisation (log Hz): (log f0 - mean) / std on voiced frames
ENERGY_MEAN, ENERGY_STD = -4.0, 1.5  # log-RMS normalisation
MAX_LOG_DUR = math.log(1 + 200)  # clamp of sampled log(1 + frames)


class ConditionError(RegenError, ValueError):
    """A condition X the model cannot speak (bad type, unknown speaker, unreadable text)."""


# -- the condition X ------------------------------------------------------------------------------


class TextConditioner:
    """X (``{"text", "speaker"}`` or a plain string) -> per-sentence phoneme ids and a speaker id."""

    def __init__(self, cfg: TTSConfig, speakers: Sequence[str]):
        self.cfg = cfg
        self.speakers = list(speakers)
        self.vocab = frontend.PhonemeVocab(cfg.phonemes)

    def speaker_id(self, speaker: Any) -> int:
        return frontend.speaker_index(self.speakers, speaker, ConditionError)

    def accent(self, speaker_id: int) -> str:
        name = self.speakers[speaker_id] if self.speakers else ""
        head = name.partition("+")[0]
        return head if head.startswith("en") else self.cfg.accent

    def parse(self, condition: Any) -> tuple[str, int]:
        if isinstance(condition, str):
            return condition, 0
        if isinstance(condition, dict) and "text" in condition:
            return condition["text"], self.speaker_id(condition.get("speaker"))
        raise ConditionError(f"condition must be a text string or {{'text': ..., 'speaker': ...}}, got {type(condition).__name__}")

    def __call__(self, condition: Any) -> tuple[list[list[int]], int]:
        text, spk = self.parse(condition)
        cfg = self.cfg
        sentences = frontend.text_to_sentences(text, cfg.phonemes, accent=self.accent(spk), g2p=cfg.g2p,
                                               max_chars=cfg.max_chars, unknown=cfg.unknown_chars)
        return [self.vocab.encode(s) for s in sentences], spk


# -- building blocks ------------------------------------------------------------------------------


def sinusoids(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """(length, dim) sinusoidal positions."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return pe


class FFTBlock(nn.Module):
    """Self-attention + convolutional feed-forward, post-norm (FastSpeech)."""

    def __init__(self, d: int, heads: int, ff: int, kernel: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(d)
        self.conv1 = nn.Conv1d(d, ff, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(ff, d, 1)
        self.norm2 = nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, T, d), mask (B, T) True on real positions -> (B, T, d)."""
        a, _ = self.attn(x, x, x, key_padding_mask=~mask, need_weights=False)
        x = self.norm1(x + self.drop(a)) * mask[..., None]
        h = self.conv2(F.relu(self.conv1(x.transpose(1, 2)))).transpose(1, 2)  # (B, T, d)
        return self.norm2(x + self.drop(h)) * mask[..., None]


class VariancePredictor(nn.Module):
    """Per-phoneme Gaussian: (B, P, d) -> mean (B, P), log_std (B, P)."""

    def __init__(self, d: int, hidden: int, dropout: float):
        super().__init__()
        self.conv1 = nn.Conv1d(d, hidden, 3, padding=1)
        self.norm1 = nn.LayerNorm(hidden)
        self.conv2 = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.norm2 = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, 2)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.drop(self.norm1(F.relu(self.conv1(x.transpose(1, 2))).transpose(1, 2)))
        h = self.drop(self.norm2(F.relu(self.conv2(h.transpose(1, 2))).transpose(1, 2)))
        out = self.out(h) * mask[..., None]  # (B, P, 2)
        return out[..., 0], out[..., 1].clamp(-6.0, 3.0)


def gaussian_nll(target: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    nll = 0.5 * ((target - mean) / log_std.exp()) ** 2 + log_std
    return (nll * mask).sum() / mask.sum().clamp_min(1)


def regulate_length(h: torch.Tensor, durations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat each phoneme state by its duration: h (B, P, d), durations (B, P) -> (B, T, d), lengths (B,)."""
    lengths = durations.sum(1)  # (B,)
    t_max = max(1, int(lengths.max()))
    ends = durations.cumsum(1)  # (B, P)
    frames = torch.arange(t_max, device=h.device)  # (T,)
    owner = (frames[None, :, None] >= ends[:, None, :]).sum(-1).clamp(max=h.shape[1] - 1)  # (B, T)
    out = h.gather(1, owner[..., None].expand(-1, -1, h.shape[2]))  # (B, T, d)
    return out * lengths_to_mask(lengths, t_max)[..., None], lengths


def phoneme_average(frames: torch.Tensor, weights: torch.Tensor, durations: torch.Tensor, n_phonemes: int) -> torch.Tensor:
    """Mean of frame values over each phoneme's frames where ``weights`` is 1: (B, T) -> (B, P)."""
    ends = durations.cumsum(1)  # (B, P)
    t = frames.shape[1]
    owner = (torch.arange(t, device=frames.device)[None, :, None] >= ends[:, None, :]).sum(-1)  # (B, T) in 0..P
    onehot = F.one_hot(owner.clamp(max=n_phonemes), n_phonemes + 1)[..., :n_phonemes].float()  # (B, T, P)
    w = onehot * weights[..., None]
    total = (w * frames[..., None]).sum(1)  # (B, P)
    count = w.sum(1)
    return torch.where(count > 0, total / count.clamp_min(1e-6), torch.zeros_like(total))


# -- the backbone -----------------------------------------------------------------------------------


class Backbone(nn.Module):
    """Phonemes + speaker -> frame states (B, T, d), with the variance adaptor and (optional) aligner."""

    def __init__(self, cfg: TTSConfig, n_speakers: int, n_feats: int, use_aligner: bool):
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.embed = nn.Embedding(len(cfg.phonemes) + 1, d, padding_idx=0)
        self.speaker = nn.Embedding(max(1, n_speakers), d)
        self.encoder = nn.ModuleList(FFTBlock(d, cfg.n_heads, cfg.ff_dim, cfg.ff_kernel, cfg.dropout) for _ in range(cfg.enc_layers))
        self.duration = VariancePredictor(d, cfg.predictor_dim, cfg.dropout)
        self.pitch = VariancePredictor(d, cfg.predictor_dim, cfg.dropout)
        self.energy = VariancePredictor(d, cfg.predictor_dim, cfg.dropout)
        self.pitch_embed = nn.Conv1d(1, d, 3, padding=1)
        self.energy_embed = nn.Conv1d(1, d, 3, padding=1)
        self.decoder = nn.ModuleList(FFTBlock(d, cfg.n_heads, cfg.ff_dim, cfg.ff_kernel, cfg.dropout) for _ in range(cfg.dec_layers))
        self.aligner = Aligner(d, n_feats, cfg.aligner_dim) if use_aligner else None
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))  # training steps seen (aligner warm-up)

    def encode(self, phonemes: torch.Tensor, speakers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, P) ids, (B,) speakers -> (B, P, d)."""
        x = self.embed(phonemes) * math.sqrt(self.cfg.d_model)
        x = x + sinusoids(x.shape[1], x.shape[2], x.device)[None] + self.speaker(speakers)[:, None, :]
        x = x * mask[..., None]
        for block in self.encoder:
            x = block(x, mask)
        return x

    def _add_variance(self, h: torch.Tensor, pitch: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
        h = h + self.pitch_embed(pitch[:, None, :]).transpose(1, 2)
        return h + self.energy_embed(energy[:, None, :]).transpose(1, 2)

    def decode(self, h: torch.Tensor, durations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Phoneme states (B, P, d), durations (B, P) -> frame states (B, T, d), frame mask (B, T)."""
        x, lengths = regulate_length(h, durations)
        fmask = lengths_to_mask(lengths, x.shape[1])
        x = (x + sinusoids(x.shape[1], x.shape[2], x.device)[None]) * fmask[..., None]
        for block in self.decoder:
            x = block(x, fmask)
        return x, fmask

    def forward_train(self, batch: dict, align_feats: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """Teacher-forced pass: -> frame states (B, T, d), frame mask, variance loss, stats.

        ``batch``: phonemes (B, P), phonemes_lengths, speaker (B,), frames (B,) target frame counts,
        f0 (B, T) normalised log-F0, voiced (B, T), energy (B, T) normalised, and durations (B, P)
        unless the aligner provides them from ``align_feats`` (B, T, n_feats).
        """
        ph, plen = batch["phonemes"].long(), batch["phonemes_lengths"].long()
        pmask = lengths_to_mask(plen, ph.shape[1])  # (B, P)
        flen = batch["frames"].long()  # (B,)
        h = self.encode(ph, batch["speaker"].long(), pmask)  # (B, P, d)
        stats: dict[str, float] = {}
        loss = h.new_zeros(())
        # 1. Durations: corpus timings, or MAS over the aligner's soft attention.
        if self.aligner is not None:
            if align_feats is None:
                raise ValueError("the aligner needs target features")
            log_attn = self.aligner(h, align_feats, pmask)  # (B, T, P)
            fmask_t = lengths_to_mask(flen, align_feats.shape[1])
            log_attn = log_attn.masked_fill(~fmask_t[..., None], 0.0)
            hard = monotonic_alignment_search(log_attn.detach(), plen, flen)  # (B, T, P)
            durations = hard.sum(1).long()  # (B, P)
            ctc = forward_sum_loss(log_attn, plen, flen)
            ramp = min(1.0, float(self.steps) / 200.0)
            binl = binarization_loss(hard, log_attn)
            loss = loss + ctc + ramp * 0.5 * binl
            stats.update(align_ctc=float(ctc.detach()), align_bin=float(binl.detach()))
        else:
            durations = batch["durations"].long()
        if self.training:
            self.steps += 1
        # 2. Phoneme-level pitch and energy targets from the frame features.
        p_t = phoneme_average(batch["f0"].float(), batch["voiced"].float(), durations, ph.shape[1])  # (B, P)
        e_t = phoneme_average(batch["energy"].float(), lengths_to_mask(flen, batch["energy"].shape[1]).float(),
                              durations, ph.shape[1])
        # 3. Predictors (Gaussian NLL) on detached encoder states' targets.
        log_d = torch.log1p(durations.float())
        dm, ds = self.duration(h, pmask)
        pm, ps = self.pitch(h, pmask)
        em, es = self.energy(h, pmask)
        l_dur = gaussian_nll(log_d, dm, ds, pmask.float())
        l_pitch = gaussian_nll(p_t, pm, ps, pmask.float())
        l_energy = gaussian_nll(e_t, em, es, pmask.float())
        loss = loss + l_dur + l_pitch + l_energy
        stats.update(
            dur_mae=float(((log_d - dm.detach()).abs() * pmask).sum() / pmask.sum()),
            pitch_mae=float(((p_t - pm.detach()).abs() * pmask).sum() / pmask.sum()),
            energy_mae=float(((e_t - em.detach()).abs() * pmask).sum() / pmask.sum()),
        )
        # 4. Teacher-forced variance embeddings, length regulation, decoder.
        h = self._add_variance(h, p_t, e_t)
        x, fmask = self.decode(h, durations)
        return x, fmask, loss, stats

    @torch.no_grad()
    def infer(self, phonemes: list[int], speaker: int, generator: torch.Generator, scale: float,
              durations: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One sentence -> frame states (1, T, d) and the durations used (P,)."""
        dev = self.embed.weight.device
        ph = torch.tensor([phonemes], dtype=torch.long, device=dev)  # (1, P)
        pmask = torch.ones_like(ph, dtype=torch.bool)
        h = self.encode(ph, torch.tensor([speaker], device=dev), pmask)  # (1, P, d)

        def draw(pred: VariancePredictor) -> torch.Tensor:
            mean, log_std = pred(h, pmask)
            eps = torch.randn(mean.shape, generator=generator).to(dev)
            return mean + scale * log_std.exp() * eps

        log_d = draw(self.duration).clamp(0, MAX_LOG_DUR)
        if durations is None:
            durations = torch.round(torch.expm1(log_d)).long().clamp_min(1)  # (1, P)
        else:
            durations = durations.view(1, -1).long()
        h = self._add_variance(h, draw(self.pitch), draw(self.energy))
        x, _ = self.decode(h, durations)
        return x, durations[0]


def make_generator(seed: int | None) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) if seed is not None else int(torch.seed() % 2**31))


# -- generators of Y' ---------------------------------------------------------------------------------


class MelGenerator(nn.Module):
    """X -> log-mel (frames, n_mels). Loss: L1 on the mel + duration / pitch / energy NLL (+ aligner)."""

    stochastic = True

    def __init__(self, cfg: TTSConfig, speakers: Sequence[str], use_aligner: bool):
        super().__init__()
        self.cfg = cfg
        self.conditioner = TextConditioner(cfg, speakers)
        self.backbone = Backbone(cfg, len(speakers), cfg.n_mels, use_aligner)
        self.head = nn.Linear(cfg.d_model, cfg.n_mels)
        self.postnet = nn.Sequential(
            nn.Conv1d(cfg.n_mels, cfg.d_model, 5, padding=2), nn.Tanh(), nn.Conv1d(cfg.d_model, cfg.n_mels, 5, padding=2)
        )

    def _mel(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        coarse = self.head(x)  # (B, T, n_mels)
        fine = coarse + self.postnet(coarse.transpose(1, 2)).transpose(1, 2)
        return coarse, fine

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        target = batch["target"].float()  # (B, T, n_mels)
        x, fmask, loss, stats = self.backbone.forward_train(batch, target)
        coarse, fine = self._mel(x)
        t = min(fine.shape[1], target.shape[1])
        m = fmask[:, :t, None].float()
        denom = m.sum() * target.shape[2]
        l_mel = ((coarse[:, :t] - target[:, :t]).abs() * m).sum() / denom
        l_post = ((fine[:, :t] - target[:, :t]).abs() * m).sum() / denom
        stats.update(mel_l1=float(l_post.detach()))
        return loss + l_mel + l_post, stats

    @torch.no_grad()
    def teacher_forced(self, batch: dict) -> list[np.ndarray]:
        """Mels predicted with the target durations (GTA), one (frames, n_mels) per example."""
        x, fmask, _, _ = self.backbone.forward_train(batch, batch["target"].float())
        _, fine = self._mel(x)
        return [fine[i, : int(fmask[i].sum())].cpu().numpy() for i in range(fine.shape[0])]

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        sentences, spk = self.conditioner(condition)
        g = make_generator(seed)
        scale = temperature * self.cfg.noise_scale
        pause = np.full((int(round(0.2 * self.cfg.sample_rate / self.cfg.hop)), self.cfg.n_mels), math.log(1e-5), np.float32)
        mels = []
        for i, ids in enumerate(sentences):
            x, _ = self.backbone.infer(ids, spk, g, scale)
            mels.append(self._mel(x)[1][0].cpu().numpy())  # (T, n_mels)
            if i < len(sentences) - 1:
                mels.append(pause)
        return np.concatenate(mels).astype(np.float32)


class CodecGenerator(nn.Module):
    """X -> EnCodec codes (frames, n_q). All codebooks predicted in parallel; cross-entropy loss."""

    stochastic = True

    def __init__(self, cfg: TTSConfig, speakers: Sequence[str], use_aligner: bool, n_q: int, codebook_size: int):
        super().__init__()
        self.cfg = cfg
        self.n_q, self.codebook_size = n_q, codebook_size
        self.conditioner = TextConditioner(cfg, speakers)
        self.code_embed = nn.Embedding(n_q * codebook_size, cfg.aligner_dim) if use_aligner else None
        self.backbone = Backbone(cfg, len(speakers), cfg.aligner_dim, use_aligner)
        self.head = nn.Linear(cfg.d_model, n_q * codebook_size)

    def _align_feats(self, codes: torch.Tensor) -> torch.Tensor | None:
        if self.code_embed is None:
            return None
        offsets = torch.arange(self.n_q, device=codes.device) * self.codebook_size
        return self.code_embed(codes + offsets).sum(2)  # (B, T, aligner_dim)

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        codes = batch["target"].long()  # (B, T, n_q)
        x, fmask, loss, stats = self.backbone.forward_train(batch, self._align_feats(codes))
        logits = self.head(x).view(x.shape[0], x.shape[1], self.n_q, self.codebook_size)  # (B, T, n_q, K)
        t = min(logits.shape[1], codes.shape[1])
        ce = F.cross_entropy(logits[:, :t].reshape(-1, self.codebook_size), codes[:, :t].reshape(-1), reduction="none")
        m = fmask[:, :t, None].expand(-1, -1, self.n_q).reshape(-1).float()
        l_ce = (ce * m).sum() / m.sum()
        acc = ((logits[:, :t].argmax(-1) == codes[:, :t]).float().reshape(-1) * m).sum() / m.sum()
        stats.update(code_ce=float(l_ce.detach()), code_acc=float(acc))
        return loss + l_ce, stats

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        sentences, spk = self.conditioner(condition)
        g = make_generator(seed)
        out = []
        for ids in sentences:
            x, _ = self.backbone.infer(ids, spk, g, temperature * self.cfg.noise_scale)
            logits = self.head(x)[0].view(-1, self.n_q, self.codebook_size)  # (T, n_q, K)
            if temperature <= 0:
                codes = logits.argmax(-1)
            else:
                probs = F.softmax(logits / temperature, dim=-1).reshape(-1, self.codebook_size).cpu()
                codes = torch.multinomial(probs, 1, generator=g).view(-1, self.n_q)
            out.append(codes.cpu().numpy().astype(np.int64))  # (T, n_q)
        return np.concatenate(out)
