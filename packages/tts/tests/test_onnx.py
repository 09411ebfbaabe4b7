"""ONNX export at toy size: a toy run trained for a few steps, exported, run with onnxruntime, compared to PyTorch.

Tolerances (float32, toy models): log-mel and waveforms within 1e-4 absolute of PyTorch at
temperature 0 (the numpy glue draws other noise than torch, so only the mean path is comparable).
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install 'regen-tts[onnx]')")
pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install 'regen-tts[onnx]')")

from regen_tts import synthesize  # noqa: E402
from regen_tts.bench import train_run  # noqa: E402
from regen_tts.export import HELD_OUT, InverseSTFT, export_run  # noqa: E402
from regen_tts.onnx_backend import OnnxError, OnnxTTS  # noqa: E402

TOL = 1e-4


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_run("toy", tmp_path_factory.mktemp("tts-onnx") / "run", [])


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx")
    return out, export_run(run, out)


def test_inverse_stft_graph_matches_torch_istft():
    torch.manual_seed(0)
    for n_fft, hop, win in ((256, 64, 256), (64, 16, 48), (64, 24, 64)):  # the last: hop does not divide n_fft
        window = torch.hann_window(win)
        log_mag, phase = torch.randn(2, n_fft // 2 + 1, 9) * 0.5, torch.randn(2, n_fft // 2 + 1, 9) * 3
        ref = torch.istft(torch.polar(log_mag.exp(), phase), n_fft, hop, win, window, center=True, length=8 * hop)
        for fft in ("dft", "matmul"):
            got = InverseSTFT(n_fft, hop, window, fft)(log_mag, phase)
            assert got.shape == ref.shape
            assert float((got - ref).abs().max()) < 1e-5, fft


def test_export_writes_graphs_and_a_manifest_with_what_a_runtime_needs(run, exported):
    out, manifest = exported
    assert set(manifest["graphs"]) == {"generate_encoder", "generate_decoder", "regenerate", "direct_encoder", "direct_decoder"}
    for g in manifest["graphs"].values():
        assert (out / g["file"]).exists()
    voc = manifest["graphs"]["regenerate"]
    assert voc["inputs"] == [{"name": "log_mel", "dtype": "float32", "shape": ["batch", "frames", 20]}]
    assert voc["outputs"][0]["name"] == "waveform" and voc["outputs"][0]["shape"][0] == "batch"
    enc = manifest["graphs"]["generate_encoder"]
    assert [i["name"] for i in enc["inputs"]] == ["phonemes", "speaker", "phoneme_mask"]
    assert enc["inputs"][0]["shape"] == ["batch", "phonemes"]
    feats = manifest["features"]
    assert (feats["sample_rate"], feats["hop"], feats["n_mels"]) == (8000, 64, 20)
    assert manifest["text"]["speakers"] == ["en-us+m3", "en-gb+f2"] and len(manifest["text"]["phonemes"]) > 40
    sha = manifest["source_checkpoints"]["generate"]["model.safetensors sha256"]
    ckpt = json.loads((run / "generate" / "final" / "manifest.json").read_text())
    assert sha == ckpt["model.safetensors"]["sha256"]
    assert json.loads((out / "manifest.json").read_text())["parity"] == manifest["parity"]


def test_parity_with_pytorch_on_held_out_sentences(exported):
    parity = exported[1]["parity"]
    assert parity["sentences"] == list(HELD_OUT)
    assert not [k for k in parity if k.endswith("shape_mismatch")]
    for key in ("log_mel_max_abs", "waveform_max_abs", "direct_waveform_max_abs"):
        assert parity[key] < TOL, (key, parity[key])
    assert parity["log_mel_ref_max_abs"] > 1.0  # the compared values are not all zero


def test_graphs_take_other_lengths_and_batches(run, exported):
    from regen_core.pipeline import load_run

    _, models = load_run(run)
    tts = OnnxTTS(exported[0], threads=1)
    mels = [np.random.default_rng(i).normal(-4, 1, (t, 20)).astype(np.float32) for i, t in ((0, 31), (1, 31))]
    batch = tts.session("regenerate").run(None, {"log_mel": np.stack(mels)})[0]  # batch 2, 31 frames (traced: 2 x 7)
    assert batch.shape == (2, 30 * 64)
    for i, m in enumerate(mels):
        ref = models["regenerate"].sample(m)
        assert np.abs(batch[i] - ref).max() < TOL
    long_text = " ".join(HELD_OUT * 2)  # several sentences, with pauses between them
    ref = models["generate"].sample({"text": long_text, "speaker": "en-gb+f2"}, seed=0, temperature=0.0)
    got = tts.generate(long_text, "en-gb+f2", temperature=0.0)
    assert got.shape == ref.shape and np.abs(got - ref).max() < TOL


def test_sampling_with_noise_is_seeded_and_varies(exported):
    tts = OnnxTTS(exported[0])
    a = tts.generate("Hello there.", seed=1)
    assert np.array_equal(a, tts.generate("Hello there.", seed=1))
    assert not np.array_equal(a, tts.generate("Hello there.", seed=2)) or a.shape != tts.generate("Hello there.", seed=2).shape


def test_onnx_path_runs_without_importing_torch(exported, tmp_path):
    code = ("import sys; from regen_tts.onnx_backend import OnnxTTS; "
            f"w, m = OnnxTTS({str(exported[0])!r}).synthesize('Hello there.', seed=0); "
            "assert len(w) > 0 and m.shape[1] == 20; print('torch' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"


def test_synthesize_backend_onnx(run, exported, tmp_path, capsys):
    wav = tmp_path / "x.wav"
    assert synthesize.main(["--backend", "onnx", "--model", str(exported[0]), "--text", "Hello there, 2 dogs.",
                            "--speaker", "en-gb+f2", "--out", str(wav), "--png"]) == 0
    audio, sr = sf.read(wav)
    assert sr == 8000 and len(audio) > 0 and wav.with_suffix(".png").exists()
    assert "onnxruntime" in capsys.readouterr().out
    assert synthesize.main(["--backend", "onnx", "--model", str(exported[0]), "--side", "direct", "--text", "hi",
                            "--out", str(tmp_path / "d.wav")]) == 0
    assert synthesize.main(["--backend", "onnx", "--model", str(exported[0]), "--text", "?!", "--out", str(tmp_path / "b.wav")]) == 2
    assert synthesize.main(["--backend", "onnx", "--model", str(exported[0]), "--text", "hi", "--speaker", "nobody",
                            "--out", str(tmp_path / "b.wav")]) == 2
    assert "unknown speaker 'nobody'" in capsys.readouterr().err
    assert synthesize.main(["--backend", "onnx", "--model", str(tmp_path), "--text", "hi", "--out", str(tmp_path / "b.wav")]) == 2
    assert "neither an ONNX export" in capsys.readouterr().err
    # a run folder is exported to RUN/onnx first
    assert synthesize.main(["--backend", "onnx", "--model", str(run), "--text", "hi", "--out", str(tmp_path / "r.wav")]) == 0
    assert (run / "onnx" / "manifest.json").exists()


def test_regen_export_command(run, tmp_path, capsys):
    from regen_core.cli import main

    assert main(["export", "tts", "--onnx", str(tmp_path / "o"), "--run", str(run / "regenerate" / "final")]) == 0
    out = capsys.readouterr().out
    assert "regenerate" in out and "waveform_max_abs" in out
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["graphs"].keys() == {"regenerate"}
    assert main(["export", "tts", "--onnx", str(tmp_path / "p"), "--run", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_missing_onnxruntime_names_the_extra(exported, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(OnnxError, match=r"regen-tts\[onnx\]"):
        OnnxTTS(exported[0]).session("regenerate")
