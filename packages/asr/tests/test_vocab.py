"""regen_asr.vocab: fixed vocabularies, normalisation, typed G2P errors."""

from __future__ import annotations

import pytest

from regen_asr.vocab import G2PError, char_vocab, normalise, number_to_words, phoneme_vocab


# -- vocabularies and normalisation ----------------------------------------------------------


def test_vocabularies_are_fixed_and_stress_doubles_vowels():
    assert len(phoneme_vocab(False)) == 3 + 1 + 39
    assert len(phoneme_vocab(True)) == 3 + 1 + 15 * 3 + 24
    assert char_vocab().tokens[3:5] == (" ", "'") and len(char_vocab()) == 3 + 28
    assert phoneme_vocab(False).decode(phoneme_vocab(False).encode(["K", "AE", "T"]) + [2, 5]) == ["K", "AE", "T"]
    with pytest.raises(ValueError, match="'AE1'"):
        phoneme_vocab(False).encode(["AE1"])


def test_normalise_reads_numbers_strips_accents_and_punctuation():
    assert normalise("Café, 42 well-known O’Brien's!") == "cafe forty two well known o'brien's"
    assert number_to_words(2023) == "two thousand twenty three"
    assert number_to_words(1_000_001) == "one million one"


def test_non_latin_word_is_an_error_naming_the_word():
    with pytest.raises(G2PError, match="'мир'"):
        normalise("hello мир")
