"""The regenerate step: word LM, lexicon decoder, P2G in lexicon mode."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from regen_asr.extract import G2PExtractor, G2PSettings
from regen_asr.vocab import WORD_SEP


# -- regenerate: word LM, lexicon decoder, P2G in lexicon mode ----------------------------------


def test_word_lm_is_a_distribution_and_survives_tensors():
    from regen_asr.lm import WordLM

    lm = WordLM.fit(["the cat sat", "the dog sat", "a cat ran"], order=3, open_size=10)
    for hist in [("<s>",), ("<s>", "the"), ("the", "cat"), ("never", "seen")]:
        total = sum(math.exp(lm.logprob(w, hist)) for w in lm.vocab[1:]) + 10 * math.exp(lm.logprob("zebra", hist))
        assert total == pytest.approx(1.0)
    assert lm.logprob("sat", ("the", "cat")) > lm.logprob("ran", ("the", "cat"))
    back = WordLM.from_tensors(lm.to_tensors())
    assert back.logprob("sat", ("the", "cat")) == lm.logprob("sat", ("the", "cat"))
    assert WordLM.fit([], order=3).logprob("anything") == 0.0  # empty model, empty open vocabulary: one word


def _lex_decoder(sentences, fallback=None, **kw):
    from regen_asr.lexdecode import LexDecodeSettings, LexiconDecoder
    from regen_asr.lm import WordLM

    ex = G2PExtractor(G2PSettings(neural=False))
    lm = WordLM.fit(sentences, order=3, open_size=1000)
    words = lm.vocab[2:]
    prons = dict(zip(words, ex.word_phonemes(words)))
    return ex, LexiconDecoder(lm, prons, LexDecodeSettings(**kw), stress=False, fallback=fallback)


def test_lexicon_decoder_picks_homophones_by_context_and_segments_without_separators():
    ex, dec = _lex_decoder(["they went there", "they lost their keys", "i sat there", "their keys are here"] * 3)
    for text in ("they went there", "they lost their keys"):
        assert dec.decode(ex.extract(text)) == text
        no_sep = [p for p in ex.extract(text) if p != WORD_SEP]
        assert dec.decode(no_sep) == text  # word boundaries found by the lexicon and the LM
    # a CMUdict word the text never showed comes from the open vocabulary
    assert dec.decode(ex.extract("they lost their umbrella")) == "they lost their umbrella"


def test_lexicon_decoder_matches_noisy_spans_and_falls_back_on_the_rest():
    calls = []

    def fallback(spans):
        calls.append(spans)
        return ["zz" for _ in spans]

    ex, dec = _lex_decoder(["the circumference of the circle"] * 3, fallback=fallback, open_vocab=False)
    noisy = ex.extract("the circumference of the circle")
    noisy[noisy.index("ER")] = "AH"  # one recognition error inside "circumference"
    assert dec.decode(noisy) == "the circumference of the circle"
    assert not calls
    assert dec.decode(ex.extract("the") + [WORD_SEP, "ZH", "ZH", "ZH", "ZH"]) == "the zz"
    assert calls == [[["ZH", "ZH", "ZH", "ZH"]]] and dec.fallbacks == 1


def test_p2g_lexicon_mode_fits_on_text_saves_and_reloads(tmp_path):
    from safetensors.torch import load_model, save_model

    from regen_asr.regenerate import P2G, P2GSettings

    torch.manual_seed(0)
    ex = G2PExtractor(G2PSettings(neural=False))
    settings = P2GSettings(d_model=16, n_heads=2, enc_layers=1, dec_layers=1)
    p2g = P2G(settings, stress=False, extractor=ex).eval()
    assert not p2g.fitted
    texts = ["i knew the new rule", "we ate eight apples", "they read the red book"] * 2
    p2g.fit_text(texts)
    assert p2g.fitted
    for t in texts[:3]:
        assert p2g.sample(ex.extract(t)) == t
    save_model(p2g, str(tmp_path / "p2g.safetensors"))
    fresh = P2G(settings, stress=False, extractor=ex).eval()
    load_model(fresh, str(tmp_path / "p2g.safetensors"))
    assert fresh.fitted and all(torch.equal(v, fresh.state_dict()[k]) for k, v in p2g.state_dict().items())
    assert fresh.sample(ex.extract(texts[1])) == texts[1]
    neural = P2G(dataclasses.replace(settings, mode="seq2seq"), stress=False, extractor=ex).eval()
    assert isinstance(neural.sample(ex.extract(texts[0])), str)
    with pytest.raises(ValueError, match="mode"):
        P2G(dataclasses.replace(settings, mode="magic"), stress=False)
