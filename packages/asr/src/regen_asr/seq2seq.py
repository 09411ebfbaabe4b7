"""A small transformer encoder-decoder over token ids, with greedy and beam-search decoding.

Used twice with different vocabularies: the neural G2P (letters -> phonemes, inside the
extractor) and the P2G regenerator (phonemes -> characters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


def sinusoids(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """Sinusoidal position table (length, dim); no maximum length to outgrow."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]  # (L, 1)
    inv = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(pos * inv)
    table[:, 1::2] = torch.cos(pos * inv[: dim // 2])
    return table  # (L, dim)


@dataclass(frozen=True)
class Hypothesis:
    ids: tuple[int, ...]  # output ids without <s> / </s>
    score: float  # total log-probability (length-normalised for ranking, see beam_search)
    logprob: float  # total log-probability


class Seq2Seq(nn.Module):
    """Transformer encoder-decoder: (B, S) source ids -> (B, T, V_tgt) next-token logits."""

    def __init__(self, src_vocab: int, tgt_vocab: int, *, d_model: int, n_heads: int, enc_layers: int,
                 dec_layers: int, ff_mult: int = 4, dropout: float = 0.1, pad: int = 0, bos: int = 1, eos: int = 2):
        super().__init__()
        self.d_model, self.pad, self.bos, self.eos = d_model, pad, bos, eos
        self.src_emb = nn.Embedding(src_vocab, d_model, padding_idx=pad)
        self.tgt_emb = nn.Embedding(tgt_vocab, d_model, padding_idx=pad)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d_model, n_heads, ff_mult * d_model, dropout, batch_first=True, norm_first=True),
            enc_layers, enable_nested_tensor=False,
        )
        self.decoder = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(d_model, n_heads, ff_mult * d_model, dropout, batch_first=True, norm_first=True),
            dec_layers,
        )
        self.enc_norm = nn.LayerNorm(d_model)
        self.dec_norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, tgt_vocab)
        self.drop = nn.Dropout(dropout)

    def _embed(self, emb: nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
        x = emb(ids)  # (B, L, d): N(0, 1) embeddings, the same scale as the sinusoids
        return self.drop(x + sinusoids(ids.shape[1], self.d_model, ids.device)[None])

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S) ids -> memory (B, S, d), padding mask (B, S) True on padding."""
        mask = src == self.pad  # (B, S)
        memory = self.enc_norm(self.encoder(self._embed(self.src_emb, src), src_key_padding_mask=mask))
        return memory, mask

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, mem_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) ids starting with <s> -> logits (B, T, V)."""
        t = tgt_in.shape[1]
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool, device=tgt_in.device), diagonal=1)  # (T, T) True = masked
        h = self.decoder(self._embed(self.tgt_emb, tgt_in), memory, tgt_mask=causal,
                         tgt_key_padding_mask=tgt_in == self.pad, memory_key_padding_mask=mem_mask)
        return self.out(self.dec_norm(h))  # (B, T, V)

    def loss(self, src: torch.Tensor, tgt: torch.Tensor, label_smoothing: float = 0.0) -> tuple[torch.Tensor, dict]:
        """Teacher-forced cross-entropy. ``tgt`` (B, T) holds ids followed by </s>, padded with pad."""
        bos = torch.full_like(tgt[:, :1], self.bos)
        tgt_in = torch.cat([bos, tgt[:, :-1]], dim=1)  # (B, T)
        tgt_in = tgt_in.masked_fill(tgt_in == self.eos, self.pad)  # never feed </s> (only after the end)
        memory, mem_mask = self.encode(src)
        logits = self.decode(tgt_in, memory, mem_mask)  # (B, T, V)
        loss = F.cross_entropy(logits.transpose(1, 2), tgt, ignore_index=self.pad, label_smoothing=label_smoothing)
        with torch.no_grad():
            real = tgt != self.pad
            acc = ((logits.argmax(-1) == tgt) & real).sum() / real.sum().clamp(min=1)
        return loss, {"token_acc": float(acc)}

    @torch.no_grad()
    def beam_search(self, src: list[int], *, beam: int = 4, max_len: int = 200, length_penalty: float = 1.0,
                    n_best: int = 1) -> list[Hypothesis]:
        """The ``n_best`` hypotheses for one source sequence, best first.

        Hypotheses are ranked by log-probability / length**length_penalty. ``beam=1`` is greedy.
        The decoder is re-run over the whole prefix each step (no cache): fine at these sizes.
        """
        device = self.out.weight.device
        src_t = torch.tensor([src if src else [self.eos]], dtype=torch.long, device=device)  # (1, S)
        memory, mem_mask = self.encode(src_t)  # (1, S, d), (1, S)
        prefixes = torch.full((1, 1), self.bos, dtype=torch.long, device=device)  # (K, t)
        scores = torch.zeros(1, device=device)  # (K,)
        finished: list[Hypothesis] = []
        for step in range(max_len):
            k = prefixes.shape[0]
            logits = self.decode(prefixes, memory.expand(k, -1, -1), mem_mask.expand(k, -1))[:, -1]  # (K, V)
            logp = F.log_softmax(logits.float(), dim=-1)
            logp[:, self.pad] = -float("inf")
            logp[:, self.bos] = -float("inf")
            cand = (scores[:, None] + logp).reshape(-1)  # (K * V,)
            top = torch.topk(cand, min(beam * 2, cand.numel()))
            v = logp.shape[1]
            new_prefixes, new_scores = [], []
            for s, idx in zip(top.values.tolist(), top.indices.tolist()):
                b, tok = divmod(idx, v)
                if tok == self.eos:
                    ids = tuple(prefixes[b, 1:].tolist())
                    norm = max(1, len(ids) + 1) ** length_penalty
                    finished.append(Hypothesis(ids, s / norm, s))
                else:
                    new_prefixes.append(torch.cat([prefixes[b], prefixes.new_tensor([tok])]))
                    new_scores.append(s)
                if len(new_prefixes) == beam:
                    break
            if not new_prefixes:
                break
            # stop when the best finished hypothesis beats what any live prefix could still reach
            if len(finished) >= n_best:
                best_done = sorted(h.score for h in finished)[-n_best]
                best_live = max(new_scores) / (step + 2) ** length_penalty
                if best_done >= best_live:
                    break
            prefixes, scores = torch.stack(new_prefixes), torch.tensor(new_scores, device=device)
        if not finished:  # ran out of length: keep the live prefixes as they are
            for p, s in zip(prefixes.tolist(), scores.tolist()):
                ids = tuple(p[1:])
                finished.append(Hypothesis(ids, s / max(1, len(ids)) ** length_penalty, s))
        finished.sort(key=lambda h: -h.score)
        return finished[:n_best]

    @torch.no_grad()
    def beam_batch(self, srcs: list[list[int]], *, beam: int = 4, max_len: int = 64,
                   length_penalty: float = 1.0) -> list[list[int]]:
        """Beam search of many short sources at once (the G2P on word lists); the best hypothesis of each.

        Every step extends each of the ``beam`` live prefixes of every source by every token: the
        </s> extensions are finished hypotheses (ranked by log p / (length + 1) ** length_penalty, the
        best kept per source), the best ``beam`` other extensions stay live. A source stops when its best
        finished hypothesis outranks what its best live prefix could still reach (log-probabilities only
        fall), as in :meth:`beam_search`. ``beam=1`` is :meth:`greedy_batch`.
        """
        if beam <= 1:
            return self.greedy_batch(srcs, max_len=max_len)
        device = self.out.weight.device
        n, k = len(srcs), beam
        s_max = max(1, max(len(s) for s in srcs))
        src = torch.full((n, s_max), self.pad, dtype=torch.long, device=device)  # (N, S)
        for i, s in enumerate(srcs):
            src[i, : len(s)] = torch.tensor(s if s else [self.eos], dtype=torch.long)
        memory, mem_mask = self.encode(src)  # (N, S, d), (N, S)
        memory = memory.repeat_interleave(k, dim=0)  # (N*K, S, d): beam b of source i is row i*K + b
        mem_mask = mem_mask.repeat_interleave(k, dim=0)
        prefixes = torch.full((n * k, 1), self.bos, dtype=torch.long, device=device)  # (N*K, t)
        scores = torch.full((n, k), -float("inf"), device=device)  # (N, K) log p of the live prefixes
        scores[:, 0] = 0.0  # one live prefix (<s>) per source at the start
        best_score = torch.full((n,), -float("inf"), device=device)  # (N,) best finished, length-normalised
        best_ids: list[list[int]] = [[] for _ in range(n)]
        active = torch.ones(n, dtype=torch.bool, device=device)
        for step in range(max_len):
            logits = self.decode(prefixes, memory, mem_mask)[:, -1]  # (N*K, V)
            logp = F.log_softmax(logits.float(), dim=-1)
            logp[:, self.pad] = -float("inf")
            logp[:, self.bos] = -float("inf")
            v = logp.shape[1]
            total = scores[:, :, None] + logp.view(n, k, v)  # (N, K, V)
            # 1. </s> extensions finish: keep each source's best (length = step + 1 output tokens with </s>)
            done = total[:, :, self.eos] / float(step + 1) ** length_penalty  # (N, K)
            done = done.masked_fill(~active[:, None], -float("inf"))
            top_done, top_beam = done.max(dim=1)  # (N,)
            better = top_done > best_score
            for i in better.nonzero().flatten().tolist():
                best_score[i] = top_done[i]
                best_ids[i] = prefixes[i * k + int(top_beam[i]), 1:].tolist()
            # 2. the best K other extensions stay live
            total[:, :, self.eos] = -float("inf")
            new_scores, flat = total.view(n, k * v).topk(k, dim=1)  # (N, K)
            src_beam = torch.div(flat, v, rounding_mode="floor") + torch.arange(n, device=device)[:, None] * k
            tokens = flat % v  # (N, K)
            prefixes = torch.cat([prefixes[src_beam.flatten()], tokens.reshape(-1, 1)], dim=1)  # (N*K, t+1)
            scores = new_scores
            # 3. a source is done when no live prefix can still beat its best finished hypothesis
            reach = scores.max(dim=1).values / float(step + 2) ** length_penalty  # (N,)
            active &= ~(best_score >= reach) & torch.isfinite(scores.max(dim=1).values)
            if not bool(active.any()):
                break
            scores = scores.masked_fill(~active[:, None], -float("inf"))
        for i in range(n):  # ran out of length without </s>: the best live prefix as it is
            if not best_ids[i] and not torch.isfinite(best_score[i]):
                best_ids[i] = prefixes[i * k + int(scores[i].argmax()), 1:].tolist()
        return [[t for t in ids if t not in (self.pad, self.bos, self.eos)] for ids in best_ids]

    @torch.no_grad()
    def greedy_batch(self, srcs: list[list[int]], max_len: int = 64) -> list[list[int]]:
        """Greedy decoding of many short sources at once (used by the G2P on word lists)."""
        device = self.out.weight.device
        s_max = max(1, max(len(s) for s in srcs))
        src = torch.full((len(srcs), s_max), self.pad, dtype=torch.long, device=device)  # (B, S)
        for i, s in enumerate(srcs):
            src[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        memory, mem_mask = self.encode(src)
        out = torch.full((len(srcs), 1), self.bos, dtype=torch.long, device=device)  # (B, t)
        done = torch.zeros(len(srcs), dtype=torch.bool, device=device)
        for _ in range(max_len):
            logits = self.decode(out, memory, mem_mask)[:, -1]  # (B, V)
            logits[:, self.pad] = -float("inf")
            logits[:, self.bos] = -float("inf")
            nxt = logits.argmax(-1).masked_fill(done, self.pad)  # (B,)
            out = torch.cat([out, nxt[:, None]], dim=1)
            done |= nxt == self.eos
            if bool(done.all()):
                break
        result = []
        for row in out[:, 1:].tolist():
            ids = []
            for t in row:
                if t in (self.eos, self.pad):
                    break
                ids.append(t)
            result.append(ids)
        return result
