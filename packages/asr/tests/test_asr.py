"""Domain tests of regen_asr: vocabularies, G2P, CTC decoding, windows, bad audio, data loaders, CLIs."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from regen_asr import ctc
from regen_asr.config import ASRConfig
from regen_asr.extract import G2PExtractor, G2PSettings, lexicon_split
from regen_asr.features import FeatureSettings, log_mel, windows
from regen_asr.metrics import cer, edit_distance, per, wer, word_error
from regen_asr.recogniser import EncoderSettings
from regen_asr.generate import PhonemeRecogniser
from regen_asr.seq2seq import Seq2Seq
from regen_asr.vocab import WORD_SEP, G2PError, char_vocab, normalise, number_to_words, phoneme_vocab

TOY = dict(d_model=16, n_heads=2, layers=1)


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


# -- features, windows, bad audio ------------------------------------------------------------


def test_log_mel_shape_and_normalisation():
    fs = FeatureSettings(n_mels=20)
    m = log_mel(np.random.default_rng(0).normal(size=16000).astype(np.float32) * 0.1, fs)
    assert m.shape == (101, 20)
    assert torch.allclose(m.mean(0), torch.zeros(20), atol=1e-4)


def test_long_audio_is_cut_into_windows_at_pauses():
    sr = 1000
    rng = np.random.default_rng(0)
    audio = rng.normal(size=10 * sr).astype(np.float32)
    audio[3500:3700] = 0.0  # a pause inside the search zone of the first window
    wins = windows(audio, sr, max_seconds=4.0, search_seconds=1.0)
    assert wins[0][0] == 0 and wins[-1][1] == len(audio)
    assert all(b - a <= 4 * sr for a, b in wins)
    assert all(wins[i][1] == wins[i + 1][0] for i in range(len(wins) - 1))
    assert 3500 <= wins[0][1] <= 3700


@pytest.fixture(scope="module")
def recogniser():
    torch.manual_seed(0)
    enc = EncoderSettings(d_model=16, n_heads=2, layers=1, conv_channels=4, beam=2, max_window_s=1.0)
    return PhonemeRecogniser(enc, FeatureSettings(n_mels=16), stress=False).eval()


def test_recogniser_decodes_long_audio_in_windows_with_increasing_timestamps(recogniser):
    audio = np.random.default_rng(1).normal(size=16000 * 3).astype(np.float32) * 0.1
    per_window = recogniser.transcribe_tokens(audio)
    assert len(per_window) >= 3  # 1-second windows
    starts = [t.start for w in per_window for t in w]
    assert starts == sorted(starts) and all(0 <= s <= 3.0 for s in starts)
    assert isinstance(recogniser.sample(audio), list)


@pytest.mark.parametrize("audio, error", [
    (np.zeros(0, np.float32), "EmptyAudioError"),
    (np.array([0.1, np.nan, 0.2] * 1000, np.float32), "NonFiniteAudioError"),
    (np.zeros(16000, np.float32), "SilentAudioError"),
])
def test_bad_audio_gives_typed_errors(recogniser, audio, error):
    with pytest.raises(ValueError) as info:
        recogniser.sample(audio)
    assert type(info.value).__name__ == error


def test_multichannel_array_is_refused_with_a_hint(recogniser):
    with pytest.raises(ValueError, match="load_audio"):
        recogniser.sample(np.ones((2, 1600), np.float32))


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


# -- data loaders: FSDD layout and LJSpeech folders -------------------------------------------


def _tone(sr: int, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    x = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def test_fsdd_layout_test_split_is_takes_0_to_4(tmp_path):
    from regen_asr.data import load_paired

    rec = tmp_path / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    for digit in (1, 2):
        for take in (0, 5, 10):
            sf.write(rec / f"{digit}_jackson_{take}.wav", _tone(8000, 0.3), 8000)
    data = load_paired(ASRConfig(corpus="fsdd", corpus_dir=str(tmp_path / "fsdd")))
    assert sorted(data["test"]["text"]) == ["one", "two"]
    assert len(data["train"]) == 2 and len(data["valid"]) == 2
    assert len(data["test"][0]["audio"]) == int(0.3 * 16000)  # resampled 8 kHz -> 16 kHz


def test_ljspeech_folder_any_rate_and_channels(tmp_path):
    from regen_asr.data import load_paired

    (tmp_path / "wavs").mkdir()
    lines = []
    for i in range(10):
        sf.write(tmp_path / "wavs" / f"u{i}.wav", _tone(22050, 0.2, channels=2), 22050)
        lines.append(f"u{i}|Utterance {i}!|Utterance {i}!")
    (tmp_path / "metadata.csv").write_text("\n".join(lines) + "\n")
    data = load_paired(ASRConfig(corpus="ljspeech", corpus_dir=str(tmp_path)))
    assert sum(len(v) for v in data.values()) == 10
    ex = data["train"][0]
    assert ex["text"].startswith("utterance ") and len(ex["audio"]) == int(0.2 * 16000)


def test_ljspeech_needs_a_folder():
    from regen_core.data import DataError

    from regen_asr.data import load_paired

    with pytest.raises(DataError, match="corpus_dir"):
        load_paired(ASRConfig(corpus="ljspeech"))


# -- entry points on a toy run -----------------------------------------------------------------


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    from regen_core.config import TrainConfig
    from regen_core.pipeline import load_run_config, train_stage

    from regen_asr.pairing import ASRPairing

    out = tmp_path_factory.mktemp("asr-run")
    cfg = load_run_config(ASRPairing, "toy")
    tiny = TrainConfig(max_steps=2, batch_size=2, progress=False, tensorboard=False, device="cpu")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, extract=tiny, generate=tiny,
                                                               regenerate=tiny, direct=tiny))
    pairing = ASRPairing(cfg.pairing)
    data = pairing.load_data()
    for stage in ("extract", "generate", "regenerate", "direct"):
        train_stage(pairing, stage, cfg, out, data=data)
    return out


def test_transcribe_cli_resamples_downmixes_and_prints_timestamps(toy_run, tmp_path, capsys):
    from regen_asr.transcribe import main

    wav = tmp_path / "x.wav"
    sf.write(wav, _tone(44100, 0.5, channels=2), 44100)
    assert main([str(wav), "--model", str(toy_run), "--direct", "-v"]) == 0
    out = capsys.readouterr().out
    assert "phonemes (" in out and "RTF" in out and "direct baseline:" in out
    assert "44100" in out and "16000" in out  # the resampling is reported
    assert main([str(wav), "--model", str(toy_run), "--json"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert row["audio_seconds"] == pytest.approx(0.5) and isinstance(row["phonemes"], list)


def test_transcribe_cli_names_a_corrupt_file(toy_run, tmp_path, capsys):
    from regen_asr.transcribe import main

    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wav")
    assert main([str(bad), "--model", str(toy_run)]) == 2
    assert "broken.wav" in capsys.readouterr().err


def test_g2p_cli_words_marks_the_source(toy_run, capsys):
    from regen_asr.g2p import main

    assert main(["words", "--model", str(toy_run / "extract" / "final"), "hello zqxwvbrunt"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "hello\tHH AH L OW\t(cmudict)" and out[1].endswith("(neural)")


def test_evaluate_reports_every_asr_metric(toy_run):
    from regen_core.pipeline import load_run

    from regen_asr.evaluate import asr_report

    pairing, models = load_run(toy_run)
    rep = asr_report(pairing, models, pairing.load_data()["test"], n=2, g2p_words=20)
    for key in ("generate_per", "p2g_wer_from_gold", "generate_rtf"):
        assert math.isfinite(rep[key])
    assert set(rep["regeneration"]) == set(rep["direct"]) == {"wer", "cer", "rtf", "rtf_cpu"}
    assert rep["g2p"]["words"] == 20


def test_finetune_on_fsdd_trains_both_sides_equally_and_scores_them(toy_run, tmp_path, capsys):
    from regen_core.checkpoint import load_tensors
    from regen_core.pipeline import load_run

    from regen_asr.finetune import main

    rec = tmp_path / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    for digit in (1, 2):
        for take in (0, 5, 12):
            sf.write(rec / f"{digit}_jackson_{take}.wav", _tone(8000, 0.3 + 0.05 * digit), 8000)
    out = tmp_path / "ft"
    argv = ["--run", str(toy_run), "--out", str(out), "--fsdd-dir", str(tmp_path / "fsdd"), "--steps", "3",
            "--batch-size", "2"]
    assert main(argv) == 0
    res = json.loads((out / "finetune.json").read_text())
    assert res["data"] == {"train": 4, "test": 2, "train_takes": "5-49", "test_takes": "0-4", "speakers": ["jackson"]}
    budget = res["training"]["budget"]
    assert budget["steps"] == 3 and res["training"]["generate"]["steps"] == res["training"]["direct"]["steps"] == 3
    for name in ("zero_shot", "p2g_run_text", "p2g_fsdd_text"):
        assert res[name]["n_test"] == 2 and 0 <= res[name]["regeneration"]["wer"] and 0 <= res[name]["direct"]["cer"]
    for stage in ("generate", "direct"):  # fine-tuning moved the weights away from the run's
        before = load_tensors(toy_run / stage / "final" / "model.safetensors")
        after = load_tensors(out / stage / "final" / "model.safetensors")
        assert any(not torch.equal(before[k], after[k]) for k in before)
    pairing, models = load_run(out)  # OUT is an FSDD run folder whose P2G LM holds the digit words
    assert pairing.config.corpus == "fsdd" and set(models) == {"extract", "generate", "regenerate", "direct"}
    assert set(models["regenerate"].decoder().lm.vocab[2:]) == {"one", "two"}  # counted on the FSDD transcripts
    assert "regeneration WER" in capsys.readouterr().out
    assert main(argv[:-4] + ["--steps", "0"]) == 2  # a bad budget is a clear error
    assert "steps" in capsys.readouterr().err


def test_bench_quick_writes_bench_json(tmp_path):
    from regen_asr.bench import main

    assert main(["--quick", "--out", str(tmp_path), "--n-test", "2"]) == 0
    res = json.loads((tmp_path / "bench.json").read_text())
    assert res["quick"] and res["sweep"][0]["runs"][0]["regeneration"]["wer"] >= 0
    assert set(res["test_speakers"]).isdisjoint(res["train_speakers"])


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
