"""ONNX export of the recognisers at toy size: the graphs match PyTorch's CTC log-probabilities at other lengths.

Tolerance: 1e-4 absolute on log-probabilities (float32, toy models, untrained weights seeded).
"""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install 'regen-asr[onnx]')")
pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install 'regen-asr[onnx]')")


def test_recognisers_export_with_dynamic_lengths_and_match_pytorch(tmp_path):
    from regen_core.pipeline import load_run_config
    from regen_speech import espeak
    from regen_asr.export import export_models
    from regen_asr.pairing import ASRPairing

    if not espeak.available():
        pytest.skip("libespeak-ng not installed (held-out speech is spoken by espeak)")
    pairing = ASRPairing(load_run_config(ASRPairing, "toy", []).pairing)
    torch.manual_seed(0)
    models = {"generate": pairing.build("generate"), "direct": pairing.build("direct")}
    manifest = export_models(pairing, models, tmp_path)
    assert set(manifest["graphs"]) == {"generate", "direct"}
    g = manifest["graphs"]["generate"]
    assert g["inputs"][0] == {"name": "features", "dtype": "float32", "shape": ["batch", "frames", pairing.config.n_mels]}
    assert g["outputs"][0]["shape"] == ["batch", "out_frames", len(models["generate"].vocab)]
    assert g["vocabulary"][0] == models["generate"].vocab.tokens[0] and manifest["features"]["sample_rate"] > 0
    par = manifest["parity"]
    assert par["generate_log_probs_max_abs"] < 1e-4 and par["direct_log_probs_max_abs"] < 1e-4, par
    assert json.loads((tmp_path / "manifest.json").read_text())["parity"] == par
    # batch axis: two equal-length utterances in one call give what one gives alone
    import onnxruntime as ort

    from regen_asr.export import held_out_features

    f = held_out_features(pairing.config.sample_rate, models["generate"].feats)[1][None].numpy()
    sess = ort.InferenceSession(str(tmp_path / "generate.onnx"), providers=["CPUExecutionProvider"])
    one = sess.run(None, {"features": f, "lengths": np.array([f.shape[1]])})[0]
    two = sess.run(None, {"features": np.concatenate([f, f]), "lengths": np.array([f.shape[1]] * 2)})[0]
    assert two.shape[0] == 2 and np.abs(two - one).max() < 1e-5
    # a trained-looking change of weights shows up: the check is not vacuous
    with torch.no_grad():
        models["direct"].head.bias += 1.0
        models["direct"].head.bias[0] += 3.0
    from regen_asr.export import parity

    assert parity(models, tmp_path)["direct_log_probs_max_abs"] > 0.1
