"""CTC decoding: greedy, prefix beam search, and Viterbi alignment for token timestamps.

All functions take one utterance's log-probabilities ``(T, V)`` as a numpy array; index 0 is blank.
"""

from __future__ import annotations

import numpy as np

BLANK = 0
NEG_INF = -np.inf


def greedy(logp: np.ndarray) -> list[int]:
    """Best path: argmax per frame, merge repeats, drop blanks."""
    best = logp.argmax(-1)  # (T,)
    out, prev = [], BLANK
    for t in best.tolist():
        if t != prev and t != BLANK:
            out.append(t)
        prev = t
    return out


def prefix_beam_search(logp: np.ndarray, beam: int = 8, prune: int = 8,
                       threshold: float = -9.0) -> list[tuple[tuple[int, ...], float]]:
    """CTC prefix beam search; returns up to ``beam`` (label sequence, log-probability), best first.

    Each frame only the ``prune`` most likely tokens with log-probability above ``threshold``
    are expanded (the best token always is).
    """
    beams: dict[tuple[int, ...], list[float]] = {(): [0.0, NEG_INF]}  # prefix -> [log p(blank end), log p(non-blank end)]
    lae = np.logaddexp
    for t in range(logp.shape[0]):
        lp = logp[t]
        cands = np.argpartition(lp, -prune)[-prune:] if prune < lp.shape[0] else np.arange(lp.shape[0])
        cands = cands[(lp[cands] > threshold) | (lp[cands] >= lp.max())]
        nxt: dict[tuple[int, ...], list[float]] = {}

        def get(p: tuple[int, ...]) -> list[float]:
            e = nxt.get(p)
            if e is None:
                e = nxt[p] = [NEG_INF, NEG_INF]
            return e

        for prefix, (pb, pnb) in beams.items():
            total = lae(pb, pnb)
            last = prefix[-1] if prefix else None
            for c in cands.tolist():
                p = float(lp[c])
                if c == BLANK:
                    e = get(prefix)
                    e[0] = lae(e[0], total + p)
                elif c == last:
                    e = get(prefix + (c,))  # a repeat needs a blank in between
                    e[1] = lae(e[1], pb + p)
                    e = get(prefix)  # ...otherwise it merges into the same label
                    e[1] = lae(e[1], pnb + p)
                else:
                    e = get(prefix + (c,))
                    e[1] = lae(e[1], total + p)
        ranked = sorted(nxt.items(), key=lambda kv: -lae(kv[1][0], kv[1][1]))[:beam]
        beams = dict(ranked)
    out = [(p, float(lae(s[0], s[1]))) for p, s in beams.items()]
    out.sort(key=lambda ps: -ps[1])
    return out


def align(logp: np.ndarray, labels: list[int]) -> list[tuple[int, int]]:
    """Viterbi CTC alignment: (first frame, last frame) of each label of ``labels`` in ``logp`` (T, V).

    Labels that cannot fit (more labels than frames) raise ValueError.
    """
    T, L = logp.shape[0], len(labels)
    if L == 0:
        return []
    ext = [BLANK]
    for lab in labels:
        ext += [lab, BLANK]
    S = len(ext)  # 2L + 1
    ext_arr = np.asarray(ext)
    # a state may skip the blank before it when its label differs from the label two back
    can_skip = np.zeros(S, dtype=bool)
    for s in range(2, S):
        can_skip[s] = ext[s] != BLANK and ext[s] != ext[s - 2]
    score = np.full(S, NEG_INF)
    score[0] = logp[0, ext[0]]
    score[1] = logp[0, ext[1]]
    back = np.zeros((T, S), dtype=np.int8)  # 0 stay, 1 from s-1, 2 from s-2
    for t in range(1, T):
        stay = score
        prev1 = np.concatenate([[NEG_INF], score[:-1]])
        prev2 = np.where(can_skip, np.concatenate([[NEG_INF, NEG_INF], score[:-2]]), NEG_INF)
        stacked = np.stack([stay, prev1, prev2])  # (3, S)
        choice = stacked.argmax(0)
        score = stacked[choice, np.arange(S)] + logp[t, ext_arr]
        back[t] = choice
    end = S - 1 if score[S - 1] >= score[S - 2] else S - 2
    if not np.isfinite(score[end]):
        raise ValueError(f"cannot align {L} labels to {T} frames")
    states = np.empty(T, dtype=np.int64)
    s = end
    for t in range(T - 1, -1, -1):
        states[t] = s
        s -= int(back[t, s])
    spans: list[list[int]] = [[-1, -1] for _ in range(L)]
    for t, s in enumerate(states.tolist()):
        if s % 2 == 1:
            k = s // 2
            if spans[k][0] < 0:
                spans[k][0] = t
            spans[k][1] = t
    return [(a, b) for a, b in spans]
