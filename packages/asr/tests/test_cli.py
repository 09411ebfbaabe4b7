"""Entry points (transcribe, g2p, evaluate, finetune, bench) on a toy run: slow integration tests."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import soundfile as sf
import torch


pytestmark = pytest.mark.slow  # each trains a toy run or a quick benchmark


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


def test_transcribe_cli_resamples_downmixes_and_prints_timestamps(toy_run, tmp_path, capsys, tone):
    from regen_asr.transcribe import main

    wav = tmp_path / "x.wav"
    sf.write(wav, tone(44100, 0.5, channels=2), 44100)
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


def test_finetune_on_fsdd_trains_both_sides_equally_and_scores_them(toy_run, tmp_path, capsys, tone):
    from regen_core.checkpoint import load_tensors
    from regen_core.pipeline import load_run

    from regen_asr.finetune import main

    rec = tmp_path / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    for digit in (1, 2):
        for take in (0, 5, 12):
            sf.write(rec / f"{digit}_jackson_{take}.wav", tone(8000, 0.3 + 0.05 * digit), 8000)
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
