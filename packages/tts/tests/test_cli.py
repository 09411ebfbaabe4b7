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


def test_vocoder_finetuning_records_its_effect(run):
    record = finetune_vocoder(run, steps=2, seconds=0, n_eval=1, progress=False)
    assert record["steps"] == 2 and set(record["metrics"]) == {"vocoder", "vocoder_finetuned"}
    assert (run / "regenerate_ft" / "final" / "model.safetensors").exists()


def test_quick_bench_writes_bench_json(run, tmp_path):
    assert bench.main(["--quick", "--config", "toy", "--n", "2", "--out", str(tmp_path), "--run", str(run)]) == 0
    result = json.loads((tmp_path / "bench.json").read_text())
    for key in ("mel_extraction", "griffinlim", "rtf"):
        assert key in result
    assert result["mel_extraction"]["max_abs_logmel_difference"] < 1e-3
    assert result["griffinlim"]["lsd_ours_db"] > 0 and result["rtf"]["end_to_end_rtf"] > 0


def _ljspeech(folder, espeak):
    from regen_core.speech.espeak import synthesize as speak

    (folder / "wavs").mkdir(parents=True)
    lines = []
    for i, text in enumerate(["The cat sat on the mat.", "A dog ran home quickly.", "Birds sing in spring.",
                              "Rain fell all day long.", "We like green apples."]):
        s = speak(text, "en-us")
        audio = s.audio if i != 1 else np.stack([s.audio, s.audio], 1)  # one stereo file
        sf.write(folder / "wavs" / f"u{i}.wav", audio, 22050)
        lines.append(f"u{i}|{text}|{text}")
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n")


def test_ljspeech_folder_without_timings_trains_with_the_aligner(tmp_path, espeak_available):
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
    ext = pairing.build("extract")
    sd = pairing.stage_data("generate", data, ext)
    loss, stats = pairing.build("generate", ext)(sd.collate(sd.train[:2]))
    assert np.isfinite(float(loss)) and "align_ctc" in stats
    # a corrupt file is named
    (tmp_path / "lj" / "wavs" / "u0.wav").write_bytes(b"not a wav at all")
    from regen_core.speech.audio import CorruptAudioError

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
