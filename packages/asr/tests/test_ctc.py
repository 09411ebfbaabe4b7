"""CTC decoding: greedy, beam search, alignment."""

from __future__ import annotations

import numpy as np
import pytest

from regen_asr import ctc


# -- CTC -----------------------------------------------------------------------------------


def _logp(path: list[int], v: int = 5, sharp: float = 4.0) -> np.ndarray:
    x = np.full((len(path), v), -sharp)
    x[np.arange(len(path)), path] = 0.0
    return x - np.log(np.exp(x).sum(1, keepdims=True))


def test_ctc_greedy_merges_repeats_and_drops_blanks():
    assert ctc.greedy(_logp([0, 1, 1, 0, 1, 2, 2, 0])) == [1, 1, 2]


def test_ctc_beam_search_finds_the_best_path_and_align_gives_ordered_spans():
    lp = _logp([0, 3, 3, 0, 3, 4, 0, 0])
    best, score = ctc.prefix_beam_search(lp, beam=4)[0]
    assert list(best) == [3, 3, 4] == ctc.greedy(lp)
    assert score <= 0
    spans = ctc.align(lp, [3, 3, 4])
    assert spans == [(1, 2), (4, 4), (5, 5)]
    with pytest.raises(ValueError, match="cannot align"):
        ctc.align(lp[:2], [3, 3, 4])


def test_ctc_beam_search_beats_greedy_when_paths_split():
    # two frames: greedy picks blank twice (0.4 each), but label 1 summed over its paths is likelier
    p = np.log(np.array([[0.4, 0.3, 0.3], [0.4, 0.3, 0.3]]))
    assert ctc.greedy(p) == []
    assert list(ctc.prefix_beam_search(p, beam=4, prune=3)[0][0]) in ([1], [2])
