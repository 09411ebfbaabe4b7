"""The text front-end: normalisation, bad text, sentence splitting, phonemes that match the corpus."""

import pytest

from regen_tts import text as T


def test_normalize_numbers_abbreviations_symbols():
    s = T.normalize("Dr. Smith paid $5 & 10% on the 3rd of May, No. 7 + 2 = 9.")
    assert s.startswith("doctor Smith paid five dollars and ten percent on the third of May")
    assert "number seven plus two equals nine" in s
    assert not any(c.isdigit() for c in s)


@pytest.mark.parametrize("raw, spoken", [
    ("It cost $5.50.", "It cost five dollars and fifty cents."),
    ("$1.01 or \u00a32.01", "one dollar and one cent or two pounds and one penny"),
    ("\u20ac0.99", "ninety nine cents"),
    ("Take 3-4 pills, pages 10 \u2013 12.", "Take three to four pills, pages ten to twelve."),
    ("At 3:30 p.m. today", "At three thirty P M today"),
    ("Wake at 7:05am. Then 12:00.", "Wake at seven oh five A M. Then twelve o'clock."),
])
def test_money_ranges_and_times_are_read_out(raw, spoken):
    assert T.normalize(raw) == spoken


def test_accents_are_stripped_and_quotes_normalised():
    assert T.normalize("Café “naïve” — fine") == "Cafe \"naive\" - fine"


@pytest.mark.parametrize("bad", ["", "   ", "...!?", "- - ;"])
def test_empty_or_only_punctuation_is_an_error(bad):
    with pytest.raises(T.TextError):
        T.normalize(bad)


def test_unknown_characters_are_named_or_dropped():
    with pytest.raises(T.TextError, match="U\\+4F60"):
        T.normalize("hello 你好 world")
    assert T.normalize("hello 你好 world", unknown="drop") == "hello world"


def test_long_text_is_split_into_sentences():
    long = " ".join(["This is a fairly long clause, with a comma"] * 12) + ". And a short one."
    parts = T.split_sentences(T.normalize(long), max_chars=80)
    assert len(parts) > 3
    assert all(len(p) <= 80 for p in parts)
    assert parts[-1] == "And a short one."


def test_vocabulary_encodes_decodes_and_decomposes():
    vocab = T.PhonemeVocab()
    ids = vocab.encode(["h", "ə", "l", "oʊ", T.PAUSE])
    assert 0 not in ids and vocab.decode(ids) == ["h", "ə", "l", "oʊ", T.PAUSE]
    assert T.decompose("eʲ", T.ESPEAK_EN_PHONEMES) == ["e", "ʲ"]
    with pytest.raises(T.TextError, match="not in the model's phoneme vocabulary"):
        T.decompose("☃", T.ESPEAK_EN_PHONEMES)
    with pytest.raises(ValueError, match="duplicates"):
        T.PhonemeVocab(("a", "a", T.PAUSE))


def test_phonemes_match_the_corpus_timing_events(espeak_available):
    if not espeak_available:
        pytest.skip("libespeak-ng not installed")
    from regen_speech import espeak

    for sentence, voice in [("Hello world, this is forty two tests.", "en-us+m3"),
                            ("He said \"go away\" and left; then (quietly) slept.", "en-gb+f2"),
                            ("The quick brown fox jumps over the lazy dog.", "en-gb-scotland+m1")]:
        events = T.clean_phonemes(espeak.synthesize(sentence, voice).phonemes)
        assert T.phonemize(sentence, accent=voice.split("+")[0]) == events


def test_cmudict_g2p_uses_the_same_vocabulary(espeak_available):
    if not espeak_available:
        pytest.skip("libespeak-ng not installed")
    ph = T.phonemize("the cat sat zxqvbn", g2p="cmudict")
    assert ph[:3] == ["ð", "ə", "k"] and ph[-1] == T.PAUSE
    T.PhonemeVocab().encode(ph)  # every symbol is in the vocabulary
