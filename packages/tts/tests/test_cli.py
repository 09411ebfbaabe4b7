"""Entry points at toy size: a trained run synthesises, fine-tunes and benchmarks; LJSpeech folders load."""

import json

import numpy as np
import pytest
import soundfile as sf

from regen_tts import bench, synthesize
from regen_tts.bench import train_run
from regen_tts.finetune import finetune_vocoder


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_run("toy", tmp_path_factory.mktemp("tts") / "run", [])


def test_synthesize_writes_a_wav_and_rejects_bad_text(run, tmp_path, capsys):
    wav = tmp_path / "x.wav"
    assert synthesize.main(["--text", "Hello there, 2 dogs.", "--speaker", "en-gb+f2", "--model", str(run),
                            "--out", str(wav), "--png"]) == 0
    audio, sr = sf.read(wav)
    assert sr == 8000 and len(audio) > 0 and wav.with_suffix(".png").exists()
    assert synthesize.main(["--text", "hi", "--model", str(run / "direct" / "final"), "--side", "direct",
                            "--out", str(tmp_path / "d.wav")]) == 0
    assert synthesize.main(["--text", "hi", "--model", str(run / "generate" / "final"), "--out", str(tmp_path / "g.wav")]) == 0
    assert synthesize.main(["--text", "?!", "--model", str(run), "--out", str(tmp_path / "bad.wav")]) == 2
    assert synthesize.main(["--text", "hi", "--speaker", "nobody", "--model", str(run), "--out", str(tmp_path / "b.wav")]) == 2
    assert "unknown speaker" in capsys.readouterr().err
    assert synthesize.main(["--list-speakers", "--model", str(run)]) == 0
    assert capsys.readouterr().out.split() == ["en-us+m3", "en-gb+f2"]


def test_vocoder_finetuning_records_its_effect(run):
    record = finetune_vocoder(run, steps=2, seconds=0, n_eval=1, progress=False)
    assert record["steps"] == 2 and set(record["metrics"]) == {"vocoder", "vocoder_finetuned"}
    assert (run / "regenerate_ft" / "final" / "model.safetensors").exists()


@pytest.mark.slow
def test_quick_bench_writes_bench_json(run, tmp_path):
    assert bench.main(["--quick", "--config", "toy", "--n", "2", "--out", str(tmp_path), "--run", str(run)]) == 0
    result = json.loads((tmp_path / "bench.json").read_text())
    for key in ("mel_extraction", "griffinlim", "rtf"):
        assert key in result
    assert result["mel_extraction"]["max_abs_logmel_difference"] < 1e-3
    assert result["griffinlim"]["lsd_ours_db"] > 0 and result["rtf"]["end_to_end_rtf"] > 0
    assert len(result["machine"]["load_average"]) == 3 and len(result["machine"]["load_average_end"]) == 3
    assert 0 < result["bench_cpu_seconds"] and "front-end" in result["rtf"]["timing"]
    onnx = result["onnx"]
    assert onnx["torch_rtf"] > 0 and onnx["onnxruntime_rtf"] > 0 and onnx["threads"] == 1
    assert onnx["parity"]["log_mel_max_abs"] < 1e-4 and onnx["parity"]["waveform_max_abs"] < 1e-4


def _ljspeech(folder, espeak):
    from regen_speech.espeak import synthesize as speak

    (folder / "wavs").mkdir(parents=True)
    lines = []
    for i, text in enumerate(["The cat sat on the mat.", "A dog ran home quickly.", "Birds sing in spring.",
                              "Rain fell all day long.", "We like green apples."]):
        s = speak(text, "en-us")
        audio = s.audio if i != 1 else np.stack([s.audio, s.audio], 1)  # one stereo file
        sf.write(folder / "wavs" / f"u{i}.wav", audio, 22050)
        lines.append(f"u{i}|{text}|{text}")
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n")


def test_ljspeech_folder_without_timings_trains_with_the_aligner(tmp_path, espeak_available, capsys):
    if not espeak_available:
        pytest.skip("libespeak-ng not installed")
    from regen_core.pipeline import load_run_config
    from regen_tts.pairing import TTSPairing

    _ljspeech(tmp_path / "lj", True)
    cfg = load_run_config(TTSPairing, "toy", [f"pairing.source=ljspeech", f"pairing.ljspeech_dir={tmp_path / 'lj'}",
                                              "pairing.valid_fraction=0.2", "pairing.test_fraction=0.2"])
    pairing = TTSPairing(cfg.pairing)
    assert pairing.use_aligner and pairing.speakers == ["default"]
    data = pairing.load_data()
    err = capsys.readouterr().err  # the conversions are said, not silent
    assert "5 file(s) at 22050 Hz resampled to 8000 Hz" in err and "1 file(s) with 2 channels down-mixed to mono" in err
    assert len(data["train"][0]["audio"]) < 22050 * 3 and np.asarray(data["train"][0]["audio"]).ndim == 1
    ext = pairing.build("extract")
    sd = pairing.stage_data("generate", data, ext)
    loss, stats = pairing.build("generate", ext)(sd.collate(sd.train[:2]))
    assert np.isfinite(float(loss)) and "align_ctc" in stats
    # a transcript the front-end cannot read names its utterance
    meta = tmp_path / "lj" / "metadata.csv"
    meta.write_text(meta.read_text().replace(".", " \u4f60."))
    from regen_tts.text import TextError

    bad = TTSPairing(cfg.pairing)
    with pytest.raises(TextError, match=r"utterance 'u\d'.*U\+4F60"):
        bad.stage_data("generate", bad.load_data(), ext)
    # a corrupt file is named
    (tmp_path / "lj" / "wavs" / "u0.wav").write_bytes(b"not a wav at all")
    from regen_speech.audio import CorruptAudioError

    with pytest.raises(CorruptAudioError, match="u0.wav"):
        TTSPairing(cfg.pairing).load_data()


def test_config_errors_are_clear():
    from regen_core.pipeline import load_run_config
    from regen_core.data import DataError
    from regen_tts.pairing import TTSPairing

    with pytest.raises(DataError, match="pairing.source"):
        TTSPairing(load_run_config(TTSPairing, "toy", ["pairing.source=youtube"]).pairing)
    with pytest.raises(DataError, match="timings"):
        TTSPairing(load_run_config(TTSPairing, "toy", ["pairing.source=fsdd", "pairing.durations=timings"]).pairing)


def test_fsdd_folder_loads_with_the_resampling_reported(tmp_path, capsys):
    from regen_core.pipeline import load_run_config
    from regen_tts.pairing import TTSPairing

    rec = tmp_path / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for take in (0, 5, 12):  # test (0-4), valid (5-9), train
        sf.write(rec / f"3_theo_{take}.wav", (0.1 * rng.standard_normal(4000)).astype(np.float32), 8000)
    cfg = load_run_config(TTSPairing, "toy", [f"pairing.source=fsdd", f"pairing.fsdd_dir={tmp_path / 'fsdd'}",
                                              "pairing.sample_rate=16000"]).pairing
    data = TTSPairing(cfg).load_data()
    assert "3 file(s) at 8000 Hz resampled to 16000 Hz" in capsys.readouterr().err
    assert {k: len(v) for k, v in data.items()} == {"train": 1, "valid": 1, "test": 1}
    ex = data["test"][0]
    assert ex["x"] == {"text": "three", "speaker": "theo"} and len(ex["audio"]) == 8000  # 0.5 s at 16 kHz


def test_vocoder_trains_on_any_audio_folder_and_serves_another_generator(run, tmp_path, capsys):
    from regen_core.data import DataError
    from regen_core.pipeline import load_run_config
    from regen_tts import train
    from regen_tts.pairing import TTSPairing

    audio = tmp_path / "my_audio"
    rng = np.random.default_rng(0)
    t = np.arange(6000) / 16000
    for i, sub in enumerate(["a", "a", "b", "b/deeper", "c", "c"]):  # nested folders, two formats, 16 kHz (resampled)
        (audio / sub).mkdir(parents=True, exist_ok=True)
        wave = (0.3 * np.sin(2 * np.pi * (120 + 30 * i) * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
        sf.write(audio / sub / f"clip{i}.{'flac' if i % 2 else 'wav'}", wave, 16000)
    (audio / "notes.txt").write_text("not audio, ignored")
    overrides = ["pairing.source=audio", f"pairing.audio_dir={audio}", "pairing.valid_fraction=0.2", "pairing.test_fraction=0.2"]
    out = tmp_path / "vocoder_run"
    assert train.main(["--stage", "regenerate", "--config", "toy", "--out", str(out), *overrides]) == 0
    assert "6 file(s) at 16000 Hz resampled to 8000 Hz" in capsys.readouterr().err
    assert (out / "regenerate" / "final" / "model.safetensors").exists()
    # a folder without transcripts cannot train the text side: a clear error, not a crash later
    pairing = TTSPairing(load_run_config(TTSPairing, "toy", overrides).pairing)
    with pytest.raises(DataError, match="no transcripts"):
        pairing.stage_data("generate", pairing.load_data(), pairing.build("extract"))
    # the corpus run's generator speaks through the audio-folder vocoder
    wav = tmp_path / "v.wav"
    assert synthesize.main(["--text", "Hello there.", "--model", str(run), "--vocoder", str(out / "regenerate" / "final"),
                            "--out", str(wav)]) == 0
    assert sf.info(wav).samplerate == 8000 and sf.info(wav).frames > 0
    # a vocoder of other mel settings is refused, naming the setting
    other = tmp_path / "other_run"
    assert train.main(["--stage", "regenerate", "--config", "toy", "--out", str(other), *overrides, "pairing.n_mels=24"]) == 0
    assert synthesize.main(["--text", "Hello.", "--model", str(run), "--vocoder", str(other / "regenerate" / "final"),
                            "--out", str(tmp_path / "x.wav")]) == 2
    assert "n_mels 24 vs 20" in capsys.readouterr().err


def test_evaluate_entry_point_writes_report_with_rtf_wavs_and_pngs(run, tmp_path):
    from regen_tts import evaluate

    out = tmp_path / "ev"
    assert evaluate.main(["--run", str(run), "--out", str(out), "evaluate.seeds=[0,1]", "evaluate.n_test=1"]) == 0
    report = json.loads((out / "report.json").read_text())
    metrics = {m["name"]: m for m in report["metrics"]}
    assert {"mcd", "lsd", "f0_rmse", "duration_error", "real_time_factor"} <= set(metrics)
    rtf = metrics["real_time_factor"]
    assert not rtf["higher_is_better"] and rtf["regeneration"]["mean"] > 0 and rtf["direct"]["mean"] > 0
    assert report["budgets"]["regeneration"]["parameters"] > 0 and report["budgets"]["direct"]["parameters"] > 0
    for side in ("regeneration", "direct"):
        folder = out / "examples" / side
        assert (folder / "example00.wav").exists() and (folder / "example00_reference.wav").exists()
        assert (folder / "example00.png").stat().st_size > 1000
    assert "real_time_factor" in (out / "report.md").read_text()


@pytest.mark.parametrize("name, write, error", [
    ("silent.wav", lambda p: sf.write(p, np.zeros(4000, np.float32), 8000), "SilentAudioError"),
    ("empty.wav", lambda p: p.write_bytes(b""), "EmptyAudioError"),
    ("nan.wav", lambda p: sf.write(p, np.array([0.1, np.nan] * 2000, np.float32), 8000, subtype="FLOAT"), "NonFiniteAudioError"),
    ("corrupt.wav", lambda p: p.write_bytes(b"RIFF0000WAVEjunk" * 10), "CorruptAudioError"),
])
def test_bad_audio_in_a_training_folder_is_a_typed_error_naming_the_file(tmp_path, name, write, error):
    from regen_core.pipeline import load_run_config
    from regen_tts.pairing import TTSPairing

    folder = tmp_path / "audio"
    folder.mkdir()
    sf.write(folder / "good.wav", (0.1 * np.random.default_rng(0).standard_normal(4000)).astype(np.float32), 8000)
    write(folder / name)
    cfg = load_run_config(TTSPairing, "toy", ["pairing.source=audio", f"pairing.audio_dir={folder}"]).pairing
    with pytest.raises(ValueError, match=name) as info:
        TTSPairing(cfg).load_data()
    assert type(info.value).__name__ == error


def test_codec_run_speaks_through_its_learned_codec_without_a_trained_regenerate_stage(tmp_path, capsys):
    from regen_tts import train

    out = tmp_path / "codec"
    assert train.main(["--codec", "--stage", "generate", "--config", "toy", "--out", str(out)]) == 2
    assert "train the extract stage first" in capsys.readouterr().err  # the codec is learned: extract comes first
    assert train.main(["--codec", "--stage", "extract", "--config", "toy", "--out", str(out), "train.extract.max_steps=2"]) == 0
    assert train.main(["--codec", "--stage", "generate", "--config", "toy", "--out", str(out), "train.generate.max_steps=2"]) == 0
    for model in (out, out / "generate" / "final"):  # a run folder and a model folder
        wav = tmp_path / f"{model.name}.wav"
        assert synthesize.main(["--text", "Two codecs.", "--model", str(model), "--out", str(wav), "--png"]) == 0
        assert sf.info(wav).samplerate == 8000 and sf.info(wav).frames > 0 and wav.with_suffix(".png").exists()


@pytest.mark.slow
def test_aligner_benchmark_runs_at_a_tiny_size(tmp_path):
    from regen_tts import align_bench

    assert align_bench.main(["--out", str(tmp_path), "--n", "6", "--steps", "2", "pairing.valid_fraction=0.2",
                             "pairing.test_fraction=0.2"]) == 0
    result = json.loads((tmp_path / "align_bench.json").read_text())
    assert result["utterances"] >= 4 and result["aligner"]["mean_ms"] > 0 and result["even_durations"]["mean_ms"] > 0
