"""The extract step: dictionary + neural G2P, and the seq2seq model with its beam search."""

from __future__ import annotations

import pytest
import torch

from regen_asr.extract import G2PExtractor, G2PSettings, lexicon_split
from regen_asr.seq2seq import Seq2Seq
from regen_asr.vocab import WORD_SEP, G2PError

TOY = dict(d_model=16, n_heads=2, layers=1)


# -- extract: G2P ----------------------------------------------------------------------------


def test_cmudict_lookup_with_and_without_stress():
    plain = G2PExtractor(G2PSettings(neural=False))
    assert plain.extract("Hello, world") == ["HH", "AH", "L", "OW", WORD_SEP, "W", "ER", "L", "D"]
    stressed = G2PExtractor(G2PSettings(neural=False, stress=True, word_sep=False))
    assert stressed.extract("hello world") == ["HH", "AH0", "L", "OW1", "W", "ER1", "L", "D"]
    assert not any(p.requires_grad for p in plain.parameters())  # dictionary-only extractor is explicit


def test_oov_word_goes_through_the_neural_g2p_deterministically():
    torch.manual_seed(0)
    ex = G2PExtractor(G2PSettings(**TOY)).eval()
    word = "zqxwvbrunt"
    assert word not in ex.lexicon
    a = ex.extract(f"the {word}")
    assert a[:2] == ["DH", "AH"] and a[2] == WORD_SEP
    assert a == G2PExtractor.extract(ex, f"the {word}")
    assert ex.extract_many([f"the {word}", "a cat"]) == [a, ex.extract("a cat")]
    with pytest.raises(G2PError, match=word):
        G2PExtractor(G2PSettings(neural=False)).extract(f"the {word}")


def test_g2p_held_out_words_are_never_trained_on():
    train = {w for w, _ in lexicon_split(False, "train")}
    test = [w for w, _ in lexicon_split(False, "test")]
    assert 1000 < len(test) < 5000
    assert not train & set(test)


def test_seq2seq_memorises_and_beam_search_returns_it():
    torch.manual_seed(0)
    m = Seq2Seq(10, 10, d_model=16, n_heads=2, enc_layers=1, dec_layers=1, dropout=0.0)
    src = torch.tensor([[3, 4, 5], [6, 7, 0]])
    tgt = torch.tensor([[8, 9, 3, 2], [5, 5, 2, 0]])
    opt = torch.optim.Adam(m.parameters(), 2e-2)
    for _ in range(60):
        loss, _ = m.loss(src, tgt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    assert m.beam_search([3, 4, 5], beam=3)[0].ids == (8, 9, 3)
    assert m.beam_search([6, 7], beam=1)[0].ids == (5, 5)
    assert m.greedy_batch([[3, 4, 5], [6, 7]]) == [[8, 9, 3], [5, 5]]
    hyps = m.beam_search([3, 4, 5], beam=3, n_best=3)
    assert len(hyps) == 3 and hyps[0].score >= hyps[1].score >= hyps[2].score
    assert m.beam_batch([[3, 4, 5], [6, 7]], beam=3) == [[8, 9, 3], [5, 5]]


def test_batched_beam_search_agrees_with_the_exhaustive_best_on_a_random_model():
    # an untrained model spreads probability, so beams diverge; with beam = all tokens and 3 steps the
    # batched search must find each source's best finished hypothesis of length <= 2 exactly
    torch.manual_seed(1)
    m = Seq2Seq(6, 5, d_model=8, n_heads=2, enc_layers=1, dec_layers=1, dropout=0.0).eval()
    srcs = [[3, 4, 5], [4], [5, 5, 3, 4]]
    got = m.beam_batch(srcs, beam=5, max_len=3, length_penalty=1.0)
    for src, hyp in zip(srcs, got):
        memory, mask = m.encode(torch.tensor([src]))

        @torch.no_grad()
        def logp(prefix):
            out = m.decode(torch.tensor([[m.bos, *prefix]]), memory, mask)[0, -1]
            out[m.pad] = out[m.bos] = -float("inf")
            return torch.log_softmax(out, -1)

        best, best_ids = -float("inf"), None
        for seq in [[], *[[a] for a in (3, 4)], *[[a, b] for a in (3, 4) for b in (3, 4)]]:
            lp = sum(float(logp(seq[:i])[t]) for i, t in enumerate(seq)) + float(logp(seq)[m.eos])
            if lp / (len(seq) + 1) > best:
                best, best_ids = lp / (len(seq) + 1), seq
        assert hyp == best_ids
