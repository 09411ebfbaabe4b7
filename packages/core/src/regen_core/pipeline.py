"""Train and load the stages of a pairing; the run-folder layout.

A run folder ``OUT`` holds ``run_config.json`` (the resolved config) and one sub-folder per
stage: ``OUT/extract``, ``OUT/generate``, ``OUT/regenerate``, ``OUT/direct``, each with the
trainer's ``checkpoints/``, ``train_log.jsonl`` and the model folder ``final/``
(``config.json`` + ``model.safetensors``). Any ``final/`` reloads from its folder alone.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from . import checkpoint as ckpt
from . import registry
from .config import ConfigError, build_config, from_dict, run_config_class, to_dict
from .contract import STAGES, KeepsOnInit, Stage, is_explicit
from .runlock import run_lock
from .trainer import TrainResult, refuse_existing, train
from .errors import RegenError

FORMAT = 1  # version of the model-folder layout written by regen


class PipelineError(RegenError, RuntimeError):
    """A stage cannot run: a stage it needs is missing, or a folder is not a regen model."""


def preset_path(pairing_cls: type, name: str) -> Path:
    """``<package>/presets/<name>.yaml`` of the package that defines ``pairing_cls``."""
    from importlib.resources import files

    package = pairing_cls.__module__.split(".")[0]
    path = Path(str(files(package) / "presets" / f"{name}.yaml"))
    if not path.is_file():
        raise ConfigError(f"pairing {pairing_cls.name!r} has no preset {name!r} (known: {', '.join(presets(pairing_cls)) or 'none'})")
    return path


def presets(pairing_cls: type) -> list[str]:
    from importlib.resources import files

    folder = Path(str(files(pairing_cls.__module__.split(".")[0]) / "presets"))
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def config_file(pairing_cls: type, config: str | Path) -> Path:
    """A ``--config`` value as a file: a path when it looks like one (a ``.yaml``/``.yml`` suffix or a folder
    separator), else the pairing's preset of that name — a same-named file in the working folder does not
    shadow a preset."""
    text = str(config)
    p = Path(config)
    if isinstance(config, Path) or p.suffix in (".yaml", ".yml") or "/" in text or (os.sep in text):
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        return p
    return preset_path(pairing_cls, text)


def load_run_config(pairing_cls: type, config: str | Path | None = None, overrides: list[str] | tuple = (), *,
                    values: dict[str, Any] | None = None) -> Any:
    """The resolved run config: defaults <- preset name or YAML path <- ``values`` (e.g. a model's saved
    run_config.json) <- ``key=value`` overrides."""
    files = []
    if config:
        files.append(config_file(pairing_cls, config))
    return build_config(run_config_class(pairing_cls.config_class), files=files, values=values, overrides=list(overrides))


def saved_config(pairing: Any, stage: Stage) -> dict[str, Any]:
    return {"regen": {"pairing": pairing.name, "stage": stage, "format": FORMAT}, "pairing": to_dict(pairing.config)}


def stage_dir(out: str | Path, stage: Stage) -> Path:
    return Path(out) / stage


def final_dir(out: str | Path, stage: Stage) -> Path:
    return Path(out) / stage / "final"


def load_extractor(pairing: Any, out: str | Path | None) -> Any:
    """The extractor for the later stages: the trained one from ``out/extract/final``, or an explicit one."""
    extractor = pairing.build("extract")
    if is_explicit(extractor):
        return extractor.eval()
    folder = final_dir(out, "extract") if out is not None else None
    if folder is None or not folder.exists():
        raise PipelineError(
            f"pairing {pairing.name!r} has a learned extractor: train the extract stage first "
            f"(regen train {pairing.name} --stage extract --run {out})"
        )
    ckpt.load_pretrained_weights(folder, extractor)
    return extractor.eval().requires_grad_(False)


@dataclass
class StageRecord:
    stage: Stage  # extract / generate / regenerate / direct
    parameters: int  # trainable parameters of the model
    steps: int  # optimizer steps
    seconds: float  # training wall time
    folder: str  # model folder
    explicit: bool = False  # True when the stage has nothing to train
    extra: dict[str, Any] = field(default_factory=dict)


#: The stages that learn from paired (X, Y) examples; the others learn from Y alone.
PAIRED_STAGES = ("generate", "direct")


def paired_data(data: Any, paired: Any, stage: str) -> Any:
    """``data`` as ``stage`` sees it: for :data:`PAIRED_STAGES`, the training split cut to the paired subset
    ``paired`` (a :class:`~regen_core.config.PairedConfig`) names; every other stage and split unchanged."""
    if stage not in PAIRED_STAGES or paired is None or (paired.n <= 0 and paired.share >= 1.0):
        return data  # nothing to cut (the default): the data is passed on untouched, even a stage's own source
    train = data["train"]
    n_all = len(train)
    if paired.n > n_all:
        raise ConfigError(f"'paired.n' is {paired.n} but the training split holds {n_all} examples: "
                          f"use paired.n <= {n_all} (or paired.share)")
    n = paired.n if paired.n > 0 else max(1, int(round(paired.share * n_all)))
    if n >= n_all:
        return data
    import numpy as np

    order = np.random.default_rng(paired.seed).permutation(n_all)[:n]
    keep = sorted(int(i) for i in order)
    subset = train.select(keep) if hasattr(train, "select") else [train[i] for i in keep]
    out = {k: data[k] for k in data}
    out["train"] = subset
    try:  # keep the container's type (a datasets.DatasetDict) where it is one
        return type(data)(out)
    except TypeError:
        return out


def train_stage(
    pairing: Any,
    stage: Stage,
    run_cfg: Any,
    out: str | Path,
    *,
    resume: bool = False,
    data: Any = None,
    init: str | Path | None = None,
) -> StageRecord:
    """Train one stage of ``pairing`` into ``out/<stage>`` (an explicit model is just saved).

    ``init``: a run folder (a shipped model, see :mod:`regen_core.pretrained`) whose ``<stage>/final`` weights the
    model starts from (fine-tuning); its other stages are copied into ``out`` where ``out`` has none (so ``out``
    is a whole model), and a pairing setting that would change the model is refused, by name."""
    if stage not in STAGES:
        raise PipelineError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    out = Path(out)
    # 0. One writer per run folder, before anything in it is cleaned or written; then every check that can
    #    refuse the run, so a refused run changes nothing; run_config.json is written last, atomically.
    with run_lock(out):
        refuse_existing(stage_dir(out, stage), resume)
        tcfg = getattr(run_cfg.train, stage)
        init_dir = _check_init(pairing, stage, init) if init is not None else None
        if init_dir is not None:
            _copy_other_stages(pairing, Path(init), out, stage)
        # 1. The extractor (trained and frozen) for every stage after extract.
        extractor = None if stage == "extract" else load_extractor(pairing, out)
        # 2. A fresh model, seeded (or the --init model's weights).
        torch.manual_seed(tcfg.seed)
        model = pairing.build(stage) if stage == "extract" else pairing.build(stage, extractor)
        if init_dir is not None and not is_explicit(model):
            ckpt.load_pretrained_weights(init_dir, model)
        # 3. Explicit models have nothing to train: save them so every stage loads the same way.
        if is_explicit(model):
            folder = final_dir(out, stage)
            record = {"steps": 0, "seconds": 0.0, "parameters": 0, "explicit": True}
            ckpt.write_json_atomic(out / "run_config.json", to_dict(run_cfg))
            ckpt.save_pretrained(folder, model, {**saved_config(pairing, stage), "training": record})
            return StageRecord(stage, 0, 0, 0.0, str(folder), explicit=True)
        # 4. Data for the stage, then the shared trainer.
        data = data if data is not None else pairing.load_data()
        sd = pairing.stage_data(stage, paired_data(data, run_cfg.paired, stage), extractor)
        ckpt.write_json_atomic(out / "run_config.json", to_dict(run_cfg))
        saved = saved_config(pairing, stage)
        if init_dir is not None:  # the fine-tune's origin, kept in its model folder
            saved["regen"]["init_from"] = str(init_dir)
        result: TrainResult = train(
            model, sd, tcfg, stage_dir(out, stage), saved_config=saved, resume=resume,
            description=f"{pairing.name}:{stage}",
        )
    return StageRecord(stage, result.parameters, result.steps, result.seconds, str(result.final_dir))


def _check_init(pairing: Any, stage: Stage, init: str | Path) -> Path:
    """``init/<stage>/final``, after checking that this run's pairing settings keep that model's."""
    folder = final_dir(init, stage)
    if not folder.is_dir():
        raise PipelineError(f"--init {init}: it has no trained {stage} stage ({folder} is missing)")
    cfg = ckpt.read_config(folder)
    if cfg.get("regen", {}).get("pairing") != pairing.name:
        raise PipelineError(f"--init {init}: its {stage} model is a {cfg.get('regen', {}).get('pairing')!r} model, not {pairing.name!r}")
    keep = pairing.init_keeps if isinstance(pairing, KeepsOnInit) else ()
    init_settings_check(type(pairing), cfg["pairing"], to_dict(pairing.config), stage, keep)
    return folder


def init_settings_check(pairing_cls: type, model_cfg: dict[str, Any], run_pairing_cfg: dict[str, Any], stage: str,
                        keep: Sequence[str] = ()) -> None:
    """Refuse a fine-tuning config whose pairing settings change the model that ``--init`` starts from.

    A setting is the model's when the pairing declares it (``keep``: vocabularies, feature settings) or when
    changing it alone changes the stage's parameter names or shapes. Data settings (corpus, folders,
    sizes) may differ. The error names every such setting with both values."""
    changed = sorted(k for k in set(model_cfg) | set(run_pairing_cfg) if model_cfg.get(k) != run_pairing_cfg.get(k))
    if not changed:
        return
    base = pairing_cls(from_dict(pairing_cls.config_class, model_cfg))
    shapes = stage_shapes(base, stage)
    bad = [k for k in changed if k in keep]
    for k in changed:
        if k in bad or k not in model_cfg:
            continue
        try:
            other = pairing_cls(from_dict(pairing_cls.config_class, {**model_cfg, k: run_pairing_cfg.get(k)}))
            if stage_shapes(other, stage) != shapes:
                bad.append(k)
        except Exception:  # a value the model cannot be built with: the settings are not compatible
            bad.append(k)
    if bad:
        detail = "; ".join(f"pairing.{k}: model {model_cfg.get(k)!r}, this run {run_pairing_cfg.get(k)!r}" for k in sorted(set(bad)))
        raise PipelineError(
            f"--init: the {stage} model was trained with other settings that fine-tuning must keep ({detail}); "
            f"drop these overrides (or train from scratch without --init)"
        )


def stage_shapes(pairing: Any, stage: str) -> dict[str, tuple[int, ...]]:
    """Parameter name -> shape of a pairing's freshly built ``stage`` model ({} for an explicit one)."""
    extractor = pairing.build("extract")
    model = extractor if stage == "extract" else pairing.build(stage, extractor)
    if is_explicit(model):
        return {}
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def copy_stage_folder(src: Path, dst: Path, pairing: Any) -> None:
    """A trained stage's model folder copied to ``dst`` (atomically), to load as ``pairing``'s: its config takes this
    pairing's name and settings (the caller checked they keep the model) and records ``copied_from``."""
    cfg = ckpt.read_config(src)
    cfg = {**cfg, "regen": {**cfg.get("regen", {}), "pairing": pairing.name}, "pairing": to_dict(pairing.config),
           "training": {**cfg.get("training", {}), "copied_from": str(src)}}
    w = ckpt.FolderWriter(dst)
    try:
        shutil.copy2(src / "model.safetensors", w.path("model.safetensors"))
        with open(w.path("config.json"), "w", encoding="utf-8") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
        w.commit()
    except BaseException:
        w.abort()
        raise


def _copy_other_stages(pairing: Any, init: Path, out: Path, stage: Stage) -> None:
    """The --init model's other stages into ``out`` where ``out`` has none (its learned extractor is what the later
    stages train on), so ``out`` is a whole model with the fine-tuned stage in it."""
    learned_extract = not is_explicit(pairing.build("extract"))
    for other in STAGES:
        src, dst = final_dir(init, other), final_dir(out, other)
        if other == stage or dst.exists() or not src.is_dir():
            continue
        if stage == "extract" and learned_extract and other != "direct":
            continue  # the later stages were trained on the old extractor's Y': they are retrained, not copied
        copy_stage_folder(src, dst, pairing)
    if stage != "extract" and learned_extract and not final_dir(out, "extract").exists():
        raise PipelineError(f"--init {init}: the pairing's extractor is learned but {final_dir(init, 'extract')} is missing")


def load_model(folder: str | Path, *, extractor: Any = None, pairing: Any = None) -> tuple[Any, str, Any]:
    """``(pairing, stage, model)`` from a model folder alone (config.json + model.safetensors)."""
    folder = Path(folder)
    cfg = ckpt.read_config(folder)
    meta = cfg.get("regen")
    if not isinstance(meta, dict) or "pairing" not in meta or "stage" not in meta:
        raise PipelineError(f"{folder}/config.json is not a regen model folder (no 'regen' section)")
    if meta.get("format", 0) > FORMAT:
        raise PipelineError(f"{folder} was written by a newer regen (format {meta['format']} > {FORMAT}); upgrade regen-core")
    if pairing is None:
        cls = registry.pairing_class(meta["pairing"])
        pairing = cls(from_dict(cls.config_class, cfg["pairing"]))
    stage = meta["stage"]
    if stage == "extract":
        model = pairing.build("extract")
    else:
        if extractor is None:
            extractor = pairing.build("extract")
            sibling = folder.parent.parent / "extract" / "final"
            if not is_explicit(extractor) and sibling.exists():
                ckpt.load_pretrained_weights(sibling, extractor)
            extractor.eval()
        model = pairing.build(stage, extractor)
    ckpt.load_pretrained_weights(folder, model)
    return pairing, stage, model.eval()


def training_record(folder: str | Path) -> dict[str, Any]:
    """Steps, seconds and parameters recorded in a model folder's config.json."""
    cfg = ckpt.read_json(Path(folder) / "config.json", "model config")
    return dict(cfg.get("training", {}))


def load_run(out: str | Path) -> tuple[Any, dict[str, Any]]:
    """``(pairing, models)`` of a run folder: models by stage, for every stage that was trained."""
    out = Path(out)
    cfg_path = out / "run_config.json"
    if not cfg_path.exists():
        raise PipelineError(f"{out} is not a regen run folder (no run_config.json)")
    folders = {s: final_dir(out, s) for s in STAGES if final_dir(out, s).exists()}
    if not folders:
        raise PipelineError(f"{out} holds no trained stage (no */final folders)")
    first = next(iter(folders.values()))
    pairing, _, _ = load_model(first)
    models: dict[str, Any] = {}
    if "extract" in folders:
        _, _, models["extract"] = load_model(folders["extract"], pairing=pairing)
    else:
        models["extract"] = pairing.build("extract").eval()
    for s in ("generate", "regenerate", "direct"):
        if s in folders:
            _, _, models[s] = load_model(folders[s], extractor=models["extract"], pairing=pairing)
    return pairing, models
