"""Export a trained image run's networks to ONNX: ``regen export image --onnx DIR --run RUN``.

Graphs (batch axis dynamic; image and latent sizes are fixed by the config):

- ``generate_unet.onnx`` / ``direct_unet.onnx``: the diffusion UNet of a :class:`ClassDiffusion`
  (latent or low-resolution generator; the pixel-space direct baseline): sample (B, C, h, w),
  timestep (B,) int64, class_labels (B,) int64 (``num_classes`` = the null class of classifier-free
  guidance) -> velocity (B, C, h, w) (v-prediction);
- ``regenerate.onnx``: Y' (B, c, h, w) -> image (B, C, H, W) in [0, 1]: the KL autoencoder's decoder
  or the super-resolution network.

Outside the graphs: the DDIM sampling loop (timesteps, guidance, the update rule; ``manifest.json``
records the scheduler settings, the guidance weight and the target normalisation it needs) runs in
PyTorch / diffusers; there is no onnxruntime sampling command yet. Not exported: the ``image-vq``
pairing's masked-token prior (iterative unmasking with sampling) and its VQ decoder (codebook lookup
of integer tokens); the export says so and stops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from regen_core.onnx_export import OnnxExportError, export_graph, load_for_export, sha256, write_manifest

from .diffusion import ClassDiffusion
from .regenerate import AutoencoderDecoder, SuperResolution

OPSET = 17
DYNAMIC = ("batch",)
FORMAT = "regen-image-onnx"


class UNetGraph(nn.Module):
    """ClassDiffusion's UNet: (x, t, class) -> v."""

    def __init__(self, model: ClassDiffusion):
        super().__init__()
        self.unet = model.unet

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, class_labels: torch.Tensor) -> torch.Tensor:
        return self.unet(sample, timestep, class_labels=class_labels).sample


class DecoderGraph(nn.Module):
    """Y' (B, c, h, w) -> image (B, C, H, W) in [0, 1]."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, y_prime: torch.Tensor) -> torch.Tensor:
        return self.model.decode_batch(y_prime)


def _diffusion_entry(model: ClassDiffusion) -> dict:
    cfg = model.scheduler.config
    return {"num_classes": model.num_classes, "null_class": model.num_classes, "guidance": model.guidance,
            "sample_steps": model.sample_steps, "scaling": model.scaling,
            "data_mean": model.data_mean.tolist(), "data_std": model.data_std.tolist(),
            "scheduler": {"num_train_timesteps": cfg.num_train_timesteps, "beta_schedule": cfg.beta_schedule,
                          "prediction_type": cfg.prediction_type, "clip_sample": cfg.clip_sample,
                          "sampler": "DDIM, eta 0, timestep_spacing trailing"}}


def export_models(pairing: Any, models: dict[str, Any], out: str | Path, checkpoints: dict[str, Path] | None = None,
                  check: bool = True) -> dict:
    """Export the diffusion UNets and the decoder in ``models`` into ``out``; -> manifest."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    graphs: dict[str, dict] = {}
    extra = "regen-image[onnx]"
    for stage in ("generate", "direct"):
        model = models.get(stage)
        if model is None:
            continue
        if not isinstance(model, ClassDiffusion):
            raise OnnxExportError(f"the {stage} model is {type(model).__name__}, not a diffusion UNet: the image-vq "
                                  "masked-token prior (iterative unmasking with sampling) is not exported")
        model.eval()
        c, h, w = model.shape
        example = (torch.randn(2, c, h, w), torch.tensor([3, 7]), torch.tensor([0, model.num_classes]))
        g = export_graph(UNetGraph(model), example, out / f"{stage}_unet.onnx",
                         {"sample": ("batch", c, h, w), "timestep": ("batch",), "class_labels": ("batch",)},
                         {"velocity": ("batch", c, h, w)}, DYNAMIC, opset=OPSET, extra=extra)
        g.update(stage=stage, diffusion=_diffusion_entry(model))
        graphs[f"{stage}_unet"] = g
    reg = models.get("regenerate")
    if reg is not None:
        if not isinstance(reg, (AutoencoderDecoder, SuperResolution)) or \
                (isinstance(reg, AutoencoderDecoder) and getattr(reg.autoencoder, "kind", "") != "kl"):
            raise OnnxExportError("only the KL autoencoder's decoder and the super-resolution network export; "
                                  "the VQ decoder takes integer tokens through a codebook lookup (not exported)")
        reg.eval()
        y_shape = tuple(_y_prime_shape(pairing, models))
        example = (torch.randn(2, *y_shape),)
        size, channels = pairing.config.image_size, pairing.config.channels
        g = export_graph(DecoderGraph(reg), example, out / "regenerate.onnx", {"y_prime": ("batch", *y_shape)},
                         {"image": ("batch", channels, size, size)},
                         DYNAMIC, opset=OPSET, extra=extra)
        g["stage"] = "regenerate"
        graphs["regenerate"] = g
    if not graphs:
        raise OnnxExportError("nothing to export: the run has no generate, direct or regenerate network")
    sources = {s: {"folder": str(f), "model.safetensors sha256": sha256(Path(f) / "model.safetensors")}
               for s, f in (checkpoints or {}).items()
               if any(g["stage"] == s for g in graphs.values()) and (Path(f) / "model.safetensors").exists()}
    manifest = {"format": FORMAT, "version": 1, "pairing": pairing.name, "opset": OPSET, "torch": torch.__version__,
                "exporter": "torch.onnx.export (TorchScript tracing, dynamic_axes)", "graphs": graphs,
                "source_checkpoints": sources,
                "outside_the_graphs": "DDIM sampling with classifier-free guidance (regen_image.diffusion.ClassDiffusion."
                                      "sample_batch), the target normalisation (scaling, data_mean, data_std)"}
    if check:
        manifest["parity"] = parity(models, out, graphs)
    write_manifest(out / "manifest.json", manifest)
    return manifest


def _y_prime_shape(pairing: Any, models: dict[str, Any]) -> tuple[int, ...]:
    """(c, h, w) of Y': the generator's target shape, else the extractor's output on a blank image."""
    gen = models.get("generate")
    if isinstance(gen, ClassDiffusion):
        return tuple(gen.shape)
    cfg = pairing.config
    blank = np.zeros((cfg.channels, cfg.image_size, cfg.image_size), np.float32)
    return tuple(np.asarray(pairing.build("extract").eval().extract(blank)).shape)


def export_run(run: str | Path, out: str | Path, check: bool = True, pairing_name: str | None = None) -> dict:
    """Export a run folder (or one ``<stage>/final`` model folder) to ``out``; -> manifest.

    ``pairing_name``: refuse a run of another pairing (:func:`regen_core.onnx_export.load_for_export`).
    """
    pairing, models, folders = load_for_export(run, pairing_name)
    return export_models(pairing, {k: v for k, v in models.items() if k != "extract"}, out, folders, check=check)


def parity(models: dict[str, Any], folder: str | Path, graphs: dict[str, dict], batch: int = 3) -> dict:
    """Max abs difference onnxruntime vs PyTorch at batch ``batch`` (the graphs were traced at 2), seeded inputs."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise OnnxExportError("the parity check needs onnxruntime: pip install 'regen-image[onnx]'") from None
    g = torch.Generator().manual_seed(0)
    rec: dict[str, Any] = {"batch": batch, "inputs": "seeded normal noise; timesteps and classes drawn at random"}
    for name, entry in graphs.items():
        sess = ort.InferenceSession(str(Path(folder) / entry["file"]), providers=["CPUExecutionProvider"])
        with torch.no_grad():
            if name.endswith("_unet"):
                model = models[entry["stage"]]
                x = torch.randn(batch, *model.shape, generator=g)
                t = torch.randint(0, model.scheduler.config.num_train_timesteps, (batch,), generator=g)
                c = torch.randint(0, model.num_classes + 1, (batch,), generator=g)
                ref = UNetGraph(model)(x, t, c).numpy()
                got = sess.run(None, {"sample": x.numpy(), "timestep": t.numpy(), "class_labels": c.numpy()})[0]
            else:
                shape = entry["inputs"][0]["shape"][1:]
                y = torch.randn(batch, *shape, generator=g)
                ref = DecoderGraph(models["regenerate"])(y).numpy()
                got = sess.run(None, {"y_prime": y.numpy()})[0]
        rec[f"{name}_max_abs"] = float(np.abs(got - ref).max())
    return rec
