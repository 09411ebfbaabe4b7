"""The codec Y' of ``tts-codec``: an EnCodec-architecture codec (transformers' ``EncodecModel``, residual VQ).

Two kinds, chosen by ``pairing.codec_model``:

- ``"learned"`` (the default): a small ``EncodecModel`` (:func:`learned_encodec_config`) trained here as the
  pairing's *learned extract stage* on Y alone (the corpus audio, plus FSDD audio when available):
  ``regen train tts-codec --stage extract``. It is then frozen: its encoder + quantizer give the codes
  (Y'), its quantizer + decoder are the regenerate stage.
- a local folder holding a pretrained ``EncodecModel`` (``save_pretrained``: config.json +
  model.safetensors): explicit and frozen, nothing is trained.

Training path. transformers' ``EncodecModel`` only runs inference: its codebooks are buffers initialised
to zeros (every frame would get code 0), and its residual quantizer has no straight-through estimator,
commitment loss or codebook update. :class:`CodecExtractor` trains around its modules, as EnCodec does:

1. encoder: (B, 1, S) audio -> (B, D, F) latents;
2. residual VQ over the model's own codebook buffers: nearest code by the quantizer's own rule
   (``EncodecEuclideanCodebook.quantize``), a commitment loss ``||residual - code||^2`` per codebook that
   trains the encoder, a straight-through estimator (``z + (z_q - z).detach()``) that carries the decoder's
   gradient to the encoder, and codebooks updated by exponential moving averages of their assigned
   latents (decay ``codec_ema_decay``, Laplace smoothing), initialised by k-means of the first quantised
   batch's latents, with dead codes (average use below ``codec_dead_threshold``) re-seeded from the batch.
   The first ``codec_vq_warmup`` training steps skip quantisation (a plain autoencoder): quantising a
   randomly initialised encoder's latents collapses every codebook to a few entries at once;
3. decoder: (B, D, F) -> (B, 1, F * hop) audio; reconstruction loss = multi-resolution STFT (spectral
   convergence + log-magnitude L1) + log-mel L1 + log-spectral loss (:class:`regen_tts.regenerate.WaveLoss`,
   the vocoder's loss) + ``codec_l1_weight`` x waveform L1. No adversarial loss (cost on 2 CPU cores).

The saved ``model.safetensors`` holds the ``EncodecModel``'s state dict (codebook buffers included) under
``codec.``; :meth:`CodecExtractor.encodec` gives the plain ``EncodecModel``, whose ``save_pretrained``
folder loads back as a pretrained ``codec_model``.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from regen_speech.audio import resample

from .config import TTSConfig
from .extract import ExtractError, LogMel, as_waveform
from .regenerate import RegenerateError, WaveLoss, default_resolutions

LEARNED = "learned"  # codec_model value: the EnCodec trained here as the extract stage


def learned_encodec_config(cfg: TTSConfig) -> Any:
    """The ``EncodecConfig`` of the learned codec: ``codec_codebooks`` codebooks of ``codec_codebook_size``
    at ``sample_rate / prod(codec_ratios)`` frames per second (its single target bandwidth uses them all)."""
    from transformers import EncodecConfig

    hop = int(np.prod(cfg.codec_ratios))
    frame_rate = math.ceil(cfg.sample_rate / hop)
    nbits = math.ceil(math.log2(cfg.codec_codebook_size))
    kbps = cfg.codec_codebooks * frame_rate * nbits / 1000
    config = EncodecConfig(
        target_bandwidths=[kbps], sampling_rate=cfg.sample_rate, audio_channels=1, normalize=False,
        hidden_size=cfg.codec_dim, num_filters=cfg.codec_filters, num_residual_layers=cfg.codec_residual_layers,
        upsampling_ratios=list(cfg.codec_ratios), codebook_size=cfg.codec_codebook_size, codebook_dim=cfg.codec_dim,
        num_lstm_layers=cfg.codec_lstm_layers, use_causal_conv=False,
    )  # fmt: skip
    if config.num_quantizers != cfg.codec_codebooks:  # transformers derives the codebook count from the bandwidth
        raise ExtractError(f"codec config: {cfg.codec_codebooks} codebooks at {frame_rate} frames/s give "
                           f"{config.num_quantizers} quantizers in EncodecConfig; change codec_ratios or codec_codebooks")
    return config


def load_encodec(name: str) -> Any:
    """A pretrained ``EncodecModel`` from a local folder (or a hub id already in the local cache), frozen."""
    from transformers import EncodecModel

    try:
        model = EncodecModel.from_pretrained(name)
    except (OSError, ValueError) as err:
        raise ExtractError(
            f"cannot load EnCodec model {name!r}: {err}. pairing.codec_model is either {LEARNED!r} (the codec "
            f"trained here as the extract stage) or a local folder holding config.json and model.safetensors "
            f"(EncodecModel.save_pretrained)"
        ) from None
    return model.eval().requires_grad_(False)


def encodec_decode(quantizer: nn.Module, decoder: nn.Module, codes: torch.Tensor) -> torch.Tensor:
    """(B, n_q, F) codes -> (B, F * hop) audio: the sum of the codebook entries, then the decoder."""
    emb = quantizer.decode(codes.transpose(0, 1))  # (B, D, F)
    return decoder(emb)[:, 0]  # (B, F * hop)


class CodecExtractor(nn.Module):
    """Y -> Y': waveform (T,) at ``sample_rate`` -> EnCodec codes (frames, n_q) int64; learned or pretrained.

    Learned (:meth:`learned`): ``forward(batch)`` trains the codec (module docstring) and
    :meth:`extract` is deterministic in eval mode. Pretrained: frozen, explicit.
    """

    version = "2"  # bump when the computation changes (keys the extract_map cache)

    def __init__(self, codec: Any, sample_rate: int, bandwidth: float = 0.0, *, mel: LogMel | None = None,
                 l1_weight: float = 0.1, commit_weight: float = 1.0, ema_decay: float = 0.99,
                 dead_threshold: float = 0.5, init_seed: int = 0, vq_warmup: int = 0):
        super().__init__()
        self.codec = codec
        self.sample_rate = sample_rate
        self.codec_rate = int(codec.config.sampling_rate)
        allowed = [float(b) for b in codec.config.target_bandwidths]
        if bandwidth and float(bandwidth) not in allowed:
            raise ExtractError(f"codec_bandwidth={bandwidth} is not one of the model's target bandwidths {allowed} "
                               f"(0 = the highest)")
        self.bandwidth = float(bandwidth) if bandwidth else max(allowed)
        if codec.config.audio_channels != 1:
            raise ExtractError(f"only mono EnCodec models are supported (this one has {codec.config.audio_channels} channels)")
        self.hop_codec = int(np.prod(codec.config.upsampling_ratios))  # samples per code frame at codec_rate
        self.n_q = int(codec.quantizer.get_num_quantizers_for_bandwidth(self.bandwidth))
        self.codebook_size = int(codec.config.codebook_size)
        # training path (learned codec only; a frozen pretrained codec never runs forward)
        self.loss = WaveLoss(mel, default_resolutions(mel.n_fft)) if mel is not None else None
        self.l1_weight, self.commit_weight = l1_weight, commit_weight
        self.ema_decay, self.dead_threshold, self.init_seed, self.vq_warmup = ema_decay, dead_threshold, init_seed, vq_warmup
        self.register_buffer("codebooks_ready", torch.zeros(self.n_q, dtype=torch.bool))  # data-dependent init done
        self.register_buffer("steps_seen", torch.zeros((), dtype=torch.long))  # training forwards so far (VQ warm-up)

    @classmethod
    def learned(cls, cfg: TTSConfig) -> CodecExtractor:
        """A fresh trainable codec of the config's size; its codebooks start random (seeded by torch's RNG)
        and are re-initialised from the first training batch."""
        from transformers import EncodecModel

        codec = EncodecModel(learned_encodec_config(cfg)).train()
        with torch.no_grad():
            for layer in codec.quantizer.layers:
                cb = layer.codebook
                cb.embed.copy_(torch.randn_like(cb.embed))
                cb.embed_avg.copy_(cb.embed)
                cb.cluster_size.fill_(1.0)
        mel = LogMel(cfg.sample_rate, cfg.n_fft, cfg.hop, cfg.win, cfg.n_mels, cfg.fmin, cfg.mel_fmax)
        return cls(codec, cfg.sample_rate, cfg.codec_bandwidth, mel=mel, l1_weight=cfg.codec_l1_weight,
                   commit_weight=cfg.codec_commit_weight, ema_decay=cfg.codec_ema_decay,
                   dead_threshold=cfg.codec_dead_threshold, init_seed=cfg.codec_seed, vq_warmup=cfg.codec_vq_warmup)

    @property
    def frame_rate(self) -> float:
        return self.codec_rate / self.hop_codec

    @property
    def hop(self) -> float:
        """Samples per code frame at the pairing's sample rate (may be fractional)."""
        return self.sample_rate / self.frame_rate

    def cache_config(self) -> dict:
        """What the cached codes depend on: the codec's config, the bandwidth and every weight and codebook."""
        cfg = self.codec.config
        return {"codec": cfg.to_dict(), "bw": self.bandwidth, "sr": self.sample_rate,
                "w": float(sum(t.double().sum() for t in self.codec.state_dict().values() if t.is_floating_point()))}

    def encodec(self) -> Any:
        """The plain transformers ``EncodecModel`` (e.g. to ``save_pretrained`` it as a pretrained codec)."""
        return self.codec

    # -- training ---------------------------------------------------------------------------------

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Reconstruction + commitment loss on (B, S) audio crops (S a multiple of the codec hop)."""
        if self.loss is None:
            raise ExtractError("this EnCodec model is a frozen pretrained one: nothing to train")
        audio = batch["audio"].float()  # (B, S)
        z = self.codec.encoder(audio[:, None])  # (B, D, F)
        if self.training:
            self.steps_seen += 1
        if self.training and int(self.steps_seen) <= self.vq_warmup:  # an autoencoder first: latents unquantised
            zq, commit, usage = z, z.new_zeros(()), torch.zeros(self.n_q)
        else:
            zq, commit, usage = self.quantize_train(z)  # (B, D, F), scalar, (n_q,)
        pred = self.codec.decoder(zq)[:, 0, : audio.shape[1]]  # (B, S)
        ref = audio[:, : pred.shape[1]]
        rec, stats = self.loss(pred, ref)
        l1 = (pred - ref).abs().mean()
        loss = rec + self.l1_weight * l1 + self.commit_weight * commit
        stats.update({"wave_l1": float(l1.detach()), "commit": float(commit.detach()),
                      "codes_used": float(usage.float().mean()), "latent_std": float(z.detach().std(dim=2).mean())})
        return loss, stats

    def quantize_train(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Residual VQ with a straight-through estimator: (B, D, F) -> (z_q, commitment loss, codes used per codebook)."""
        b, d, f = z.shape
        residual = z
        total = torch.zeros_like(z)
        commit = z.new_zeros(())
        usage = []
        for i, layer in enumerate(self.codec.quantizer.layers[: self.n_q]):
            cb = layer.codebook
            flat = residual.detach().transpose(1, 2).reshape(-1, d)  # (B * F, D)
            if self.training and not bool(self.codebooks_ready[i]):
                self._init_codebook(cb, flat, i)
            idx = cb.quantize(flat)  # (B * F,) nearest entry, transformers' own rule
            q = cb.embed[idx].view(b, f, d).transpose(1, 2)  # (B, D, F), a buffer: no gradient
            commit = commit + F.mse_loss(residual, q)
            if self.training:
                self._ema_update(cb, flat, idx)
            usage.append(torch.unique(idx).numel())
            total = total + q
            residual = residual - q
        zq = z + (total - z).detach()  # straight-through: decoder gradients reach the encoder
        return zq, commit / max(1, self.n_q), torch.tensor(usage)

    @torch.no_grad()
    def _init_codebook(self, cb: nn.Module, flat: torch.Tensor, i: int, iters: int = 10) -> None:
        """Codebook = k-means (``iters`` Lloyd steps) of the first quantised batch's latents, seeded with random
        latents (drawn with replacement when the batch holds fewer than the codebook); empty clusters keep their seed."""
        g = torch.Generator().manual_seed(self.init_seed * 1000 + i)
        k = cb.embed.shape[0]
        pick = torch.randint(0, flat.shape[0], (k,), generator=g) if flat.shape[0] < k else torch.randperm(flat.shape[0], generator=g)[:k]
        centres = flat[pick].clone()  # (K, D)
        for _ in range(iters):
            idx = torch.cdist(flat, centres).argmin(1)  # (N,)
            counts = torch.bincount(idx, minlength=k)
            sums = torch.zeros_like(centres).index_add_(0, idx, flat)
            used = counts > 0
            centres[used] = sums[used] / counts[used, None]
        cb.embed.copy_(centres)
        cb.embed_avg.copy_(centres)
        cb.cluster_size.fill_(1.0)
        self.codebooks_ready[i] = True

    @torch.no_grad()
    def _ema_update(self, cb: nn.Module, flat: torch.Tensor, idx: torch.Tensor, eps: float = 1e-5) -> None:
        """EMA codebook update (EnCodec / VQ-VAE-2), then dead codes re-seeded from the batch."""
        k, d = cb.embed.shape
        counts = torch.bincount(idx, minlength=k).to(flat.dtype)  # (K,)
        sums = torch.zeros(k, d, dtype=flat.dtype).index_add_(0, idx, flat)  # (K, D)
        cb.cluster_size.mul_(self.ema_decay).add_(counts, alpha=1 - self.ema_decay)
        cb.embed_avg.mul_(self.ema_decay).add_(sums, alpha=1 - self.ema_decay)
        n = cb.cluster_size.sum()
        smoothed = (cb.cluster_size + eps) / (n + k * eps) * n  # Laplace smoothing
        cb.embed.copy_(cb.embed_avg / smoothed[:, None])
        dead = cb.cluster_size < self.dead_threshold
        n_dead = int(dead.sum())
        if n_dead:
            pick = torch.randint(0, flat.shape[0], (n_dead,), device=flat.device)
            cb.embed[dead] = flat[pick]
            cb.embed_avg[dead] = flat[pick]
            cb.cluster_size[dead] = 1.0

    # -- inference --------------------------------------------------------------------------------

    @torch.no_grad()
    def extract(self, y: Any) -> np.ndarray:
        x = resample(as_waveform(y), self.sample_rate, self.codec_rate)  # (T',)
        out = self.codec.encode(torch.from_numpy(np.ascontiguousarray(x))[None, None], bandwidth=self.bandwidth)
        codes = out.audio_codes  # (chunks, 1, n_q, frames)
        if codes.shape[0] != 1 or (out.audio_scales[0] is not None):
            raise ExtractError("chunked / normalised EnCodec models (e.g. encodec_48khz) are not supported; "
                               "use a 24 kHz-style model without chunking")
        return codes[0, 0].T.numpy().astype(np.int64)  # (frames, n_q)

    @torch.no_grad()
    def decode(self, codes: Any) -> np.ndarray:
        """(frames, n_q) codes -> waveform (T,) at the pairing's sample rate."""
        return decode_codes(self.codec.quantizer, self.codec.decoder, codes, self.n_q, self.codebook_size,
                            self.codec_rate, self.sample_rate)


def decode_codes(quantizer: nn.Module, decoder: nn.Module, codes: Any, n_q: int, codebook_size: int, codec_rate: int,
                 sample_rate: int) -> np.ndarray:
    """(frames, n_q) codes, checked -> waveform (T,) at ``sample_rate``."""
    c = torch.as_tensor(np.asarray(codes), dtype=torch.long)  # (frames, n_q)
    if c.ndim != 2 or c.shape[1] != n_q or c.shape[0] == 0:
        raise ExtractError(f"codes must be (frames, {n_q}) with frames >= 1, got {tuple(c.shape)}")
    if c.min() < 0 or c.max() >= codebook_size:
        raise ExtractError(f"codes must be in 0..{codebook_size - 1}")
    audio = encodec_decode(quantizer, decoder, c.T[None])  # (1, T')
    return resample(audio[0].numpy(), codec_rate, sample_rate)


class CodecDecoder(nn.Module):
    """The regenerate stage of ``tts-codec``: codes (frames, n_q) -> waveform through a frozen copy of the codec's
    quantizer and decoder (deterministic). Nothing to train: the decoder was trained with the codec, on the same
    audio and objective a regenerate stage would use; its folder holds the copy, so it reloads on its own."""

    stochastic = False

    def __init__(self, extractor: CodecExtractor):
        super().__init__()
        self.quantizer = copy.deepcopy(extractor.codec.quantizer).eval().requires_grad_(False)
        self.decoder = copy.deepcopy(extractor.codec.decoder).eval().requires_grad_(False)
        self.n_q, self.codebook_size = extractor.n_q, extractor.codebook_size
        self.codec_rate, self.sample_rate = extractor.codec_rate, extractor.sample_rate

    def forward(self, batch: Any) -> Any:
        raise NotImplementedError("the codec's decoder is trained with the codec (the extract stage): nothing to train here")

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        try:
            return decode_codes(self.quantizer, self.decoder, condition, self.n_q, self.codebook_size, self.codec_rate,
                                self.sample_rate).astype(np.float32)
        except ExtractError as err:
            raise RegenerateError(str(err)) from None
