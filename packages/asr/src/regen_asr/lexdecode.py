"""Phonemes -> words with an inverted pronunciation lexicon and a word language model.

The lexicon is the extractor turned around: every word of the text corpus with the phonemes the
extractor gives it (CMUdict or the neural G2P), plus - as an open vocabulary - every other
CMUdict word. Decoding is a beam search over word segmentations of the phoneme sequence:

1. arcs: every span of phonemes whose pronunciation is a lexicon word exactly;
2. word separators ``|`` in the input are soft: an arc that crosses one, or ends where none is,
   pays ``boundary_cost`` nats (inputs without separators are segmented freely);
3. a separator-delimited span no exact word covers gets the ``max_near`` corpus words nearest to it
   (at most ``max_edit_ratio`` phoneme edits per phoneme) at ``edit_cost`` nats per edit; one with none of those
   either goes to ``fallback`` (the neural seq2seq P2G, all such spans of a sentence in one batch),
   whose spelling enters as an arc at ``fallback_cost`` nats, scored by the LM like any unseen word;
4. hypotheses carry the LM history; score = ``lm_weight`` x log P_LM - arc costs; the ``beam``
   best survive at each phoneme position.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from .extract import lexicon
from .lm import WordLM
from .vocab import WORD_SEP


@lru_cache(maxsize=None)
def open_lexicon(stress: bool) -> dict[tuple[str, ...], str]:
    """CMUdict inverted: pronunciation -> one spelling (the shortest, then alphabetical)."""
    out: dict[tuple[str, ...], str] = {}
    for word, pron in lexicon(stress).items():
        best = out.get(pron)
        if best is None or (len(word), word) < (len(best), best):
            out[pron] = word
    return out


@dataclass(frozen=True)
class LexDecodeSettings:
    lm_weight: float = 1.0  # weight of the LM log-probability
    edit_cost: float = 1.5  # nats per phoneme edit between a span and a word's pronunciation
    max_edit_ratio: float = 0.5  # an approximate match has at most this many edits per span phoneme (at least 1)
    max_near: int = 8  # approximate matches kept per span (the nearest)
    boundary_cost: float = 4.0  # nats for crossing a "|" inside a word, or ending a word where no "|" is
    fallback_cost: float = 2.0  # nats for a span spelled by the neural fallback
    beam: int = 8  # hypotheses kept per phoneme position
    max_span: int = 20  # longest word in phonemes
    open_vocab: bool = True  # CMUdict words outside the text corpus are candidates (at the LM's unseen-word probability)


class LexiconDecoder:
    """Beam search over word segmentations of a phoneme sequence, scored by a word LM."""

    def __init__(self, lm: WordLM, prons: dict[str, tuple[str, ...]], settings: LexDecodeSettings, *,
                 stress: bool, fallback: Callable[[list[list[str]]], list[str]] | None = None):
        self.lm, self.settings, self.fallback = lm, settings, fallback
        # 1. exact index: pronunciation -> corpus words (ids in the LM), and the open CMUdict words
        self.exact: dict[tuple[str, ...], list[str]] = {}
        for w, p in prons.items():
            if p:
                self.exact.setdefault(tuple(p), []).append(w)
        for ws in self.exact.values():
            ws.sort()
        self.open = open_lexicon(stress) if settings.open_vocab else {}
        # 2. corpus pronunciations as a padded id matrix for vectorised edit distances
        self.near_prons = list(self.exact)
        symbols = sorted({p for pron in self.near_prons for p in pron})
        self.symbol_id = {p: i + 1 for i, p in enumerate(symbols)}  # 0 = padding
        width = max((len(p) for p in self.near_prons), default=1)
        self.near_ids = np.zeros((len(self.near_prons), width), dtype=np.int16)  # (W, Lmax)
        for i, p in enumerate(self.near_prons):
            self.near_ids[i, : len(p)] = [self.symbol_id[x] for x in p]
        self.near_len = np.asarray([len(p) for p in self.near_prons], dtype=np.int64)  # (W,)
        self.by_len = {int(n): np.nonzero(self.near_len == n)[0] for n in np.unique(self.near_len)}  # length -> rows
        self.near_counts = np.zeros((len(self.near_prons), len(symbols) + 1), dtype=np.int16)  # (W, symbols): bag of phonemes
        for i, p in enumerate(self.near_prons):
            for x in p:
                self.near_counts[i, self.symbol_id[x]] += 1
        self._none = np.zeros(0, dtype=np.int64)
        self.k = settings.max_edit_ratio > 0 and settings.max_near > 0
        self._near_cache: dict[tuple[str, ...], list[tuple[tuple[str, ...], int]]] = {}  # span -> near matches
        self.fallbacks = 0  # spans spelled by the neural fallback so far (for reports)

    # -- candidates --------------------------------------------------------------------------

    def _exact(self, span: tuple[str, ...]) -> list[str]:
        words = list(self.exact.get(span, ()))
        extra = self.open.get(span)
        if extra is not None and extra not in words and self.lm.word_id(extra) < 0:
            words.append(extra)
        return words

    def _approx(self, span: tuple[str, ...]) -> list[tuple[tuple[str, ...], int]]:
        hit = self._near_cache.get(span)
        if hit is None:
            hit = self._approx_uncached(span)
            if len(self._near_cache) < 50_000:
                self._near_cache[span] = hit
        return hit

    def _approx_uncached(self, span: tuple[str, ...]) -> list[tuple[tuple[str, ...], int]]:
        """The ``max_near`` corpus pronunciations nearest to ``span`` within the edit budget, with distances.

        Levenshtein distances to every pronunciation of a compatible length and phoneme content at once:
        one numpy row update per span phoneme, the insertion chain resolved by a running minimum.
        """
        s = self.settings
        k = max(1, int(s.max_edit_ratio * len(span)))
        rows = np.concatenate([self.by_len.get(n, self._none) for n in range(max(1, len(span) - k), len(span) + k + 1)])
        # a cheap lower bound first: edits >= longer length - shared phonemes (as multisets)
        q_counts = np.zeros(self.near_counts.shape[1], dtype=np.int16)
        for x in span:
            q_counts[self.symbol_id.get(x, 0)] += 1 if x in self.symbol_id else 0
        shared = np.minimum(self.near_counts[rows], q_counts).sum(axis=1)
        rows = rows[np.maximum(self.near_len[rows], len(span)) - shared <= k]
        if len(rows) == 0:
            return []
        width = min(self.near_ids.shape[1], len(span) + k)  # longer columns are never read
        ids = self.near_ids[rows, :width]  # (R, width)
        steps = np.arange(width + 1, dtype=np.int16)  # (width + 1,)
        prev = np.broadcast_to(steps, (len(rows), width + 1)).copy()  # distances from the empty span prefix
        for i, x in enumerate(span, 1):
            sym = self.symbol_id.get(x, -1)
            cur = np.empty_like(prev)
            cur[:, 0] = i
            np.minimum(prev[:, 1:] + 1, prev[:, :-1] + (ids != sym), out=cur[:, 1:])
            cur -= steps
            np.minimum.accumulate(cur, axis=1, out=cur)  # insertions: cur[j] <= cur[j-1] + 1
            cur += steps
            prev = cur
        dist = prev[np.arange(len(rows)), self.near_len[rows]]  # (R,)
        ok = np.nonzero(dist <= k)[0]
        ok = ok[np.argsort(dist[ok], kind="stable")[: s.max_near]]
        return [(self.near_prons[rows[j]], int(dist[j])) for j in ok]

    # -- decoding ------------------------------------------------------------------------------

    def decode(self, tokens: list[str]) -> str:
        s = self.settings
        ph: list[str] = []
        sep_after: list[bool] = []  # sep_after[i]: a "|" follows phoneme i
        for t in tokens:
            if t == WORD_SEP:
                if sep_after:
                    sep_after[-1] = True
            else:
                ph.append(t)
                sep_after.append(False)
        n = len(ph)
        if n == 0:
            return ""
        has_sep = any(sep_after[:-1])
        sep_after[-1] = True  # the end is a boundary
        bounds = {0} | {i + 1 for i in range(n) if sep_after[i]}  # positions where the input puts a word boundary
        # 1. arcs[start] = [(end, words, cost)]: exact matches of every span
        arcs: list[list[tuple[int, tuple[str, ...], float]]] = [[] for _ in range(n)]
        for a in range(n):
            for b in range(a + 1, min(n, a + s.max_span) + 1):
                cost = 0.0
                if has_sep:
                    inside = sum(sep_after[a : b - 1])  # separators inside the word
                    if inside > 1:
                        break
                    cost += s.boundary_cost * inside + (0.0 if b in bounds else s.boundary_cost)  # a word ends where no separator is
                for w in self._exact(tuple(ph[a:b])):
                    arcs[a].append((b, (w,), cost))
        # 2. a separator-delimited span no exact word covers: approximate matches, else the neural fallback
        order = sorted(bounds)
        units = list(zip(order, order[1:])) if has_sep else [(a, b) for a in range(n) for b in range(a + 1, min(n, a + s.max_span) + 1)]
        uncovered = []
        for a, b in units:
            if any(e == b for e, _, _ in arcs[a]):
                continue
            found = False
            if self.k:
                for pron, dist in self._approx(tuple(ph[a:b])):
                    for w in self.exact[pron]:
                        arcs[a].append((b, (w,), s.edit_cost * dist))
                        found = True
            if not found and has_sep:
                uncovered.append((a, b))
        if uncovered and self.fallback is not None:
            self.fallbacks += len(uncovered)
            for (a, b), text in zip(uncovered, self.fallback([ph[a:b] for a, b in uncovered])):
                if text.split():
                    arcs[a].append((b, tuple(text.split()), s.fallback_cost))
        # 3. beam search over positions; a hypothesis is (score, history ids, words)
        lm = self.lm
        hist_len = max(0, lm.order - 1)
        start = (0,)[-hist_len:] if hist_len else ()
        beams: list[dict[tuple[int, ...], tuple[float, tuple[str, ...]]]] = [dict() for _ in range(n + 1)]
        beams[0][start] = (0.0, ())
        for a in range(n):
            if not beams[a]:
                continue
            live = sorted(beams[a].items(), key=lambda kv: -kv[1][0])[: s.beam]
            for b, words, cost in arcs[a]:
                for hist, (score, out) in live:
                    sc, h = score - cost, hist
                    for w in words:
                        wid = lm.word_id(w)
                        sc += s.lm_weight * lm.logprob_ids(wid, h)
                        h = (h + (wid,))[-hist_len:] if hist_len else ()
                    prev = beams[b].get(h)
                    if prev is None or sc > prev[0]:
                        beams[b][h] = (sc, out + words)
        if not beams[n]:  # no segmentation reaches the end
            if self.fallback is None:
                return ""
            self.fallbacks += 1
            return self.fallback([ph])[0]
        best = max(beams[n].items(), key=lambda kv: kv[1][0] + s.lm_weight * lm.logprob_ids(1, kv[0]))
        return " ".join(best[1][1])
