"""WER, CER, PER and edit distances on known values."""

from __future__ import annotations

import math

import pytest

from regen_asr.metrics import cer, edit_distance, per, wer, word_error


# -- metrics -------------------------------------------------------------------------------


def test_metrics_on_known_values():
    assert wer("the cat sat", "the cat sat") == 0.0
    assert math.isclose(wer(["a b c", "d e"], ["a x c", ""]), 3 / 5)
    assert math.isclose(cer("abcd", "abed"), 0.25)
    assert edit_distance("kitten", "sitting") == 3
    assert math.isclose(per([["K", "AE", "T"]], [["K", "AH", "T", "S"]]), 2 / 3)
    assert word_error([("A",), ("B",)], [("A",), ("C",)]) == 0.5
    with pytest.raises(ValueError):
        wer("", "x")
