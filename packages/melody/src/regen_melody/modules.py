"""The network every melody model shares: an aligned conditional transformer.

The condition (template entries, or syllables) and the output (notes, or beat advances) are
aligned one to one. A bidirectional encoder reads the condition; a causal decoder reads, at
step ``i``, the encoded condition ``i`` plus the embedding of output ``i - 1`` and predicts the
fields of output ``i`` (one softmax head per field). Sampling is autoregressive with
temperature and top-k; a ``constrain`` callback masks logits that would make an invalid output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from regen_core.errors import LimitError


@dataclass(frozen=True)
class NetConfig:
    """Size of one aligned conditional transformer."""

    d_model: int = 64  # width
    n_layers: int = 2  # layers in the encoder and in the decoder each
    n_heads: int = 4  # attention heads
    dropout: float = 0.1  # dropout in the transformer layers


def sinusoid(t: int, d: int, device: torch.device | None = None) -> torch.Tensor:
    """(t, d) sinusoidal positions (no length limit, so long melodies sample fine)."""
    pos = torch.arange(t, device=device, dtype=torch.float32)[:, None]  # (t, 1)
    i = torch.arange(0, d, 2, device=device, dtype=torch.float32)[None, :]  # (1, d/2)
    ang = pos / torch.pow(10000.0, i / d)  # (t, d/2)
    out = torch.zeros(t, d, device=device)
    out[:, 0::2] = torch.sin(ang)
    out[:, 1::2] = torch.cos(ang[:, : d // 2])
    return out


class FieldEmbedding(nn.Module):
    """Sum of one embedding per categorical field: (..., F) long -> (..., D)."""

    def __init__(self, sizes: Sequence[int], d: int):
        super().__init__()
        self.sizes = tuple(int(s) for s in sizes)
        self.tables = nn.ModuleList(nn.Embedding(s, d) for s in self.sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = 0
        for f, table in enumerate(self.tables):
            out = out + table(x[..., f].clamp(0, self.sizes[f] - 1))
        return out


def _layers(cfg: NetConfig) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.n_heads, 2 * cfg.d_model, cfg.dropout, batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)


def pick(logits: torch.Tensor, temperature: float, top_k: int, generator: torch.Generator | None) -> int:
    """One index from (V,) logits: argmax at temperature 0, else top-k sampling."""
    if temperature <= 0:
        return int(torch.argmax(logits))
    logits = logits / temperature
    if 0 < top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = F.softmax(logits, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


Constrain = Callable[[int, int, torch.Tensor, list[int]], torch.Tensor]


class AlignedTransformer(nn.Module):
    """Condition (B, T, Fc) + global (B, G) -> output fields (B, T, Fo), aligned one to one."""

    def __init__(self, cond_sizes: Sequence[int], global_sizes: Sequence[int], out_sizes: Sequence[int], cfg: NetConfig):
        super().__init__()
        self.out_sizes = tuple(int(s) for s in out_sizes)
        d = cfg.d_model
        self.cond = FieldEmbedding(cond_sizes, d)
        self.glob = FieldEmbedding(global_sizes, d) if global_sizes else None
        self.prev = FieldEmbedding([s + 1 for s in self.out_sizes], d)  # index s = "no previous output"
        self.encoder = _layers(cfg)
        self.decoder = _layers(cfg)
        self.norm = nn.LayerNorm(d)
        self.heads = nn.ModuleList(nn.Linear(d, s) for s in self.out_sizes)

    def encode(self, cond: torch.Tensor, glob: torch.Tensor | None, pad: torch.Tensor | None) -> torch.Tensor:
        """cond (B, T, Fc), glob (B, G), pad (B, T) True on padding -> (B, T, D)."""
        h = self.cond(cond) + sinusoid(cond.shape[1], self.norm.normalized_shape[0], cond.device)[None]  # (B, T, D)
        if self.glob is not None and glob is not None:
            h = h + self.glob(glob)[:, None, :]  # (B, 1, D) broadcast over T
        return self.encoder(h, src_key_padding_mask=pad)

    def decode(self, memory: torch.Tensor, prev: torch.Tensor, pad: torch.Tensor | None) -> list[torch.Tensor]:
        """memory (B, T, D), prev (B, T, Fo) = outputs shifted right -> logits per field [(B, T, V_f)]."""
        t = memory.shape[1]
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool, device=memory.device), 1)  # (T, T) True = masked
        h = self.decoder(memory + self.prev(prev), mask=causal, src_key_padding_mask=pad)  # (B, T, D)
        h = self.norm(h)
        return [head(h) for head in self.heads]

    def shift(self, targets: torch.Tensor) -> torch.Tensor:
        """(B, T, Fo) -> previous outputs (B, T, Fo) with the "none" index at step 0."""
        start = torch.tensor(self.out_sizes, device=targets.device).view(1, 1, -1).expand(targets.shape[0], 1, -1)
        return torch.cat([start, targets[:, :-1]], dim=1)

    def loss(self, cond: torch.Tensor, glob: torch.Tensor | None, targets: torch.Tensor, lengths: torch.Tensor,
             names: Sequence[str]) -> tuple[torch.Tensor, dict[str, float]]:
        """Mean cross-entropy over real positions, summed over fields; stats per field (loss, accuracy)."""
        t = cond.shape[1]
        real = torch.arange(t, device=cond.device)[None, :] < lengths[:, None]  # (B, T)
        memory = self.encode(cond, glob, ~real)
        logits = self.decode(memory, self.shift(targets), ~real)
        total = cond.new_zeros((), dtype=torch.float32)
        stats: dict[str, float] = {}
        for f, (lg, name) in enumerate(zip(logits, names)):
            ce = F.cross_entropy(lg[real], targets[..., f][real])  # over the N real positions
            total = total + ce
            stats[f"ce_{name}"] = float(ce.detach())
            stats[f"acc_{name}"] = float((lg[real].argmax(-1) == targets[..., f][real]).float().mean())
        return total, stats

    @torch.no_grad()
    def sample(self, cond: torch.Tensor, glob: torch.Tensor | None, *, temperature: float = 1.0, top_k: int = 0,
               generator: torch.Generator | None = None, constrain: Constrain | None = None,
               cache: bool = True, progress: bool | None = None) -> list[list[int]]:
        """cond (T, Fc), glob (G,) -> T outputs, each a list of Fo field indices.

        With ``cache`` (the default) each step runs the decoder on the new position only, attending to the
        keys and values kept from earlier steps (linear cost in T); ``cache=False`` recomputes the whole
        prefix every step (quadratic; kept as the reference the cached path is tested against, and used in
        training mode, where dropout is active and the eval-mode cache does not apply). ``progress``
        shows a tqdm bar (default: when T >= PROGRESS_FROM).
        """
        t = cond.shape[0]
        if t > MAX_STEPS:
            raise LimitError(f"{t} aligned steps requested; the melody models sample at most {MAX_STEPS} in one call")
        memory = self.encode(cond[None], None if glob is None else glob[None], None)  # (1, T, D)
        prev = torch.tensor(self.out_sizes, device=cond.device).view(1, 1, -1)  # (1, 1, Fo)
        cache = cache and not self.training  # the cache re-implements the eval-mode forward only (no dropout)
        step = _CachedDecoder(self, t) if cache else None
        bar = None
        if progress or (progress is None and t >= PROGRESS_FROM):
            from tqdm.auto import tqdm

            bar = tqdm(total=t, desc="sampling", unit="note", leave=False)
        outputs: list[list[int]] = []
        for i in range(t):
            if step is not None:
                logits = step(memory[:, i : i + 1], prev[:, -1:])  # [(1, 1, V_f)]
            else:
                logits = self.decode(memory[:, : i + 1], prev, None)  # [(1, i+1, V_f)]
            chosen: list[int] = []
            for f, lg in enumerate(logits):
                row = lg[0, -1].float()
                if constrain is not None:
                    row = constrain(i, f, row, chosen)
                chosen.append(pick(row, temperature, top_k, generator))
            outputs.append(chosen)
            new = torch.tensor(chosen, device=cond.device).view(1, 1, -1)  # (1, 1, Fo)
            prev = new if step is not None else torch.cat([prev, new], dim=1)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        return outputs


#: Most aligned steps (notes / syllables) one ``AlignedTransformer.sample`` call produces.
MAX_STEPS = 8192
#: Sampling shows a progress bar from this many steps on.
PROGRESS_FROM = 500


class _CachedDecoder:
    """The causal decoder of an :class:`AlignedTransformer`, one position at a time with a key/value cache.

    Re-implements the eval-mode forward of ``nn.TransformerEncoderLayer(norm_first=True)`` for the newest
    position: ``x + SA(norm1(x))`` then ``x + FF(norm2(x))``, where the attention's keys and values of every
    earlier position are kept per layer. Dropout is inactive in eval mode, so the result equals the full
    causal forward's last row (to float rounding).
    """

    def __init__(self, net: AlignedTransformer, length: int):
        self.net = net
        self.layers = list(net.decoder.layers)
        if net.training or net.decoder.norm is not None or not all(l.norm_first for l in self.layers):
            raise RuntimeError("the cached decoder needs an eval-mode, norm-first decoder without a final norm")
        attn = self.layers[0].self_attn
        shape = (1, attn.num_heads, length, attn.embed_dim // attn.num_heads)  # (1, H, T, Dh)
        device, dtype = attn.in_proj_weight.device, attn.in_proj_weight.dtype
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in self.layers]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in self.layers]
        self.i = 0  # positions cached so far

    def __call__(self, memory_i: torch.Tensor, prev_i: torch.Tensor) -> list[torch.Tensor]:
        """memory_i (1, 1, D), prev_i (1, 1, Fo) -> logits per field [(1, 1, V_f)] for this position."""
        x = memory_i + self.net.prev(prev_i)  # (1, 1, D)
        for n, layer in enumerate(self.layers):
            attn = layer.self_attn
            h, d = attn.num_heads, attn.embed_dim
            q, k, v = F.linear(layer.norm1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)  # (1, 1, D) each
            q, k, v = (z.view(1, 1, h, d // h).transpose(1, 2) for z in (q, k, v))  # (1, H, 1, Dh)
            self.keys[n][:, :, self.i] = k[:, :, 0]
            self.values[n][:, :, self.i] = v[:, :, 0]
            k, v = self.keys[n][:, :, : self.i + 1], self.values[n][:, :, : self.i + 1]  # (1, H, i+1, Dh)
            a = F.scaled_dot_product_attention(q, k, v)  # (1, H, 1, Dh): the newest position sees all before it
            x = x + attn.out_proj(a.transpose(1, 2).reshape(1, 1, d))
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm2(x))))
        self.i += 1
        x = self.net.norm(x)
        return [head(x) for head in self.net.heads]


def generator_for(seed: int | None) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**31 - 1, ()).item()))
    return g


def mask_below(row: torch.Tensor, lo: int) -> torch.Tensor:
    """Forbid indices < lo (keeps at least the last index allowed)."""
    lo = min(lo, row.numel() - 1)
    out = row.clone()
    out[:lo] = float("-inf")
    return out


def mask_from(row: torch.Tensor, hi: int) -> torch.Tensor:
    """Forbid indices >= hi (keeps at least index 0 allowed)."""
    hi = max(hi, 1)
    out = row.clone()
    out[hi:] = float("-inf")
    return out

