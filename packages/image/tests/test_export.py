"""ONNX export at toy size: the diffusion UNets and the decoders match PyTorch at another batch size.

Tolerance: 1e-4 absolute (float32, toy models, untrained weights seeded); the graphs are traced at batch 2
and checked at batch 3.
"""

import json

import pytest
import torch

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install 'regen-image[onnx]')")
pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install 'regen-image[onnx]')")

from regen_core.onnx_export import OnnxExportError  # noqa: E402
from regen_core.pipeline import load_run_config  # noqa: E402
from regen_image.export import export_models  # noqa: E402
from regen_image.pairing import ImageDownPairing, ImagePairing, ImageVQPairing  # noqa: E402


def _models(cls, stages):
    pairing = cls(load_run_config(cls, "toy", []).pairing)
    torch.manual_seed(0)
    ext = pairing.build("extract")
    return pairing, {s: pairing.build(s, ext) for s in stages}


def test_kl_latent_unet_decoder_and_direct_unet_export(tmp_path):
    pairing, models = _models(ImagePairing, ("regenerate", "direct"))
    manifest = export_models(pairing, models, tmp_path)
    assert set(manifest["graphs"]) == {"direct_unet", "regenerate"}
    unet = manifest["graphs"]["direct_unet"]
    assert unet["inputs"][0]["shape"][0] == "batch" and [i["name"] for i in unet["inputs"]] == ["sample", "timestep", "class_labels"]
    assert unet["diffusion"]["scheduler"]["prediction_type"] == "v_prediction"
    par = manifest["parity"]
    assert par["batch"] == 3 and par["direct_unet_max_abs"] < 1e-4 and par["regenerate_max_abs"] < 1e-4, par
    assert json.loads((tmp_path / "manifest.json").read_text())["parity"] == par


def test_low_resolution_pairing_exports_its_super_resolution(tmp_path):
    pairing, models = _models(ImageDownPairing, ("regenerate",))
    par = export_models(pairing, models, tmp_path)["parity"]
    assert par["regenerate_max_abs"] < 1e-4, par


def test_vq_prior_is_refused_with_the_reason(tmp_path):
    pairing, models = _models(ImageVQPairing, ("regenerate",))
    with pytest.raises(OnnxExportError, match="VQ decoder"):
        export_models(pairing, models, tmp_path)
