"""Helpers the domains' ONNX exports share (``regen export PAIRING --onnx DIR``; optional ``onnx`` package).

- :func:`attention` / :func:`positions`: export-friendly equivalents of ``nn.MultiheadAttention``
  (eval mode, self-attention with a key padding mask) and of the interleaved sin / cos position
  table: the traced ``nn.MultiheadAttention`` bakes the example's batch and length into its reshapes,
  so a graph traced through it fails (or is wrong) at any other size;
- :func:`export_graph`: ``torch.onnx.export`` (TorchScript tracing, named dynamic axes), the ONNX
  checker, and the graph's inputs / outputs (names, dtypes, shapes) and SHA-256 for a manifest;
- :func:`sha256`: of a file, for the manifest's source checkpoints;
- :func:`load_for_export`: the run (or one model folder) a domain's ``export_run`` exports, refused before
  anything is written when it belongs to another pairing; :func:`write_manifest`: the manifest, atomically.
"""

from __future__ import annotations

import hashlib
import importlib
import math
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .errors import RegenError


class OnnxExportError(RegenError, ValueError):
    """An export that cannot run (the onnx package missing, a model with no graph form)."""


def require_onnx(extra: str) -> Any:
    """``import onnx``, or :class:`OnnxExportError` naming the extra (e.g. ``regen-tts[onnx]``) that installs it."""
    try:
        return importlib.import_module("onnx")
    except ImportError:
        raise OnnxExportError(f"ONNX export needs the 'onnx' package: pip install '{extra}' (or make setup)") from None


def load_for_export(run: str | Path, pairing_name: str | None = None) -> tuple[Any, dict[str, Any], dict[str, Path]]:
    """``(pairing, models, folders)`` of a run folder or of one ``<stage>/final`` model folder.

    ``pairing_name``: the pairing ``regen export PAIRING`` names; a run of another pairing is an
    :class:`OnnxExportError` naming both, raised before the caller creates its output folder.
    """
    from .pipeline import final_dir, load_model, load_run

    run = Path(run)
    if not run.exists():
        raise OnnxExportError(f"--run {run} does not exist")
    if (run / "run_config.json").exists():
        pairing, models = load_run(run)
        folders = {s: final_dir(run, s) for s in models}
    else:
        pairing, stage, model = load_model(run)
        models, folders = {stage: model}, {stage: run}
    if pairing_name is not None and pairing.name != pairing_name:
        raise OnnxExportError(f"--run {run} is a run of pairing {pairing.name!r}, not {pairing_name!r}: "
                              f"export it with `regen export {pairing.name}`")
    return pairing, models, folders


def write_manifest(path: str | Path, manifest: dict[str, Any]) -> Path:
    """Write an export's ``manifest.json`` once, atomically, keys in the order the domain built them."""
    from .atomic import write_json

    return write_json(path, manifest, sort_keys=False)


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def attention(mha: nn.MultiheadAttention, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``mha(x, x, x, key_padding_mask=~valid, need_weights=False)[0]`` in eval mode, batch first.

    x (B, T, d), valid (B, T) True on real positions -> (B, T, d). Only the head count and head size
    are fixed in the graph.
    """
    if not mha.batch_first or not mha._qkv_same_embed_dim:
        raise OnnxExportError("attention() supports batch-first self-attention with one input projection")
    q, k, v = F.linear(x, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)  # (B, T, d) each
    q, k, v = (t.unflatten(-1, (mha.num_heads, -1)).transpose(1, 2) for t in (q, k, v))  # (B, H, T, d / H)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (B, H, T, T)
    scores = scores.masked_fill(~valid[:, None, None, :], float("-inf"))
    out = (scores.softmax(-1) @ v).transpose(1, 2).flatten(2)  # (B, T, d)
    return mha.out_proj(out)


def positions(like: torch.Tensor) -> torch.Tensor:
    """(B, T, d) -> (T, d) sinusoids: even columns sin(t · f_i), odd columns cos(t · f_i), f_i = 10000^(-2i/d).

    The length comes from ``like``'s shape, so it stays dynamic in a traced graph. ``d`` must be even.
    """
    d = like.shape[2]
    pos = torch.cumsum(torch.ones_like(like[0, :, :1]), 0) - 1  # (T, 1): 0 .. T-1
    freq = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))  # (d / 2,)
    angle = pos * freq  # (T, d / 2)
    return torch.stack([torch.sin(angle), torch.cos(angle)], -1).flatten(1)  # (T, d)


def export_graph(module: nn.Module, args: tuple, path: str | Path, inputs: dict[str, Sequence[str | int]],
                 outputs: dict[str, Sequence[str | int]], dynamic: Sequence[str], *, opset: int, extra: str) -> dict:
    """Export ``module(*args)`` to ``path``; -> {"file", "inputs", "outputs", "sha256"} for a manifest.

    ``inputs`` / ``outputs``: name -> shape by axis names; the names in ``dynamic`` become dynamic axes.
    """
    onnx = require_onnx(extra)
    path = Path(path)
    module.eval()
    axes = {name: {i: a for i, a in enumerate(shape) if a in dynamic} for name, shape in {**inputs, **outputs}.items()}
    with torch.no_grad():
        torch.onnx.export(module, args, str(path), input_names=list(inputs), output_names=list(outputs),
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)

    def describe(values: Any) -> list[dict]:
        out = []
        for v in values:
            t = v.type.tensor_type
            dims = [d.dim_param or d.dim_value for d in t.shape.dim]
            out.append({"name": v.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name, "shape": dims})
        return out

    return {"file": path.name, "inputs": describe(model.graph.input), "outputs": describe(model.graph.output),
            "sha256": sha256(path)}
