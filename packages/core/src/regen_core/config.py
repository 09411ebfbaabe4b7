"""Configs: frozen dataclasses, YAML presets of values only, ``key=value`` overrides.

OmegaConf structured configs do the type checking: an unknown key or a value of the
wrong type is a :class:`ConfigError` naming the key, never a silent default. A domain's
config (``regen_<domain>/config.py``) checks the values types cannot express in its
``__post_init__``, raising ``ValueError`` that names the key; :func:`build_config` reports it
as a :class:`ConfigError` too.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from .errors import RegenError


class ConfigError(RegenError, ValueError):
    """A config file or override is invalid (unknown key, wrong type, unreadable YAML)."""


@dataclass(frozen=True)
class TrainConfig:
    """How the shared trainer trains one stage."""

    seed: int = 0  # seeds model init, data order, dropout
    max_steps: int = 1000  # optimizer steps in total
    batch_size: int = 16  # global batch (split across processes under DDP), per optimizer step
    grad_accum: int = 1  # micro-batches per optimizer step (batch_size must divide by grad_accum * world size)
    lr: float = 1e-3  # peak learning rate (AdamW)
    weight_decay: float = 0.0  # AdamW weight decay
    betas: tuple[float, float] = (0.9, 0.99)  # AdamW betas
    warmup_steps: int = 0  # linear warm-up steps before the cosine decay
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio at max_steps
    clip_grad: float = 1.0  # max global gradient norm; 0 disables clipping
    ema_decay: float = 0.0  # exponential moving average of weights; 0 disables EMA
    valid_every: int = 0  # validate every N steps (and at the end); 0 = only at the end
    valid_batches: int = 0  # cap on validation batches; 0 = the whole validation set
    save_every: int = 0  # checkpoint every N steps (and at the end); 0 = only at the end
    keep_last: int = 2  # keep the last K step checkpoints (best/ and final/ are kept apart)
    best_metric: str = "valid_loss"  # validation stat used to keep best/
    best_mode: str = "min"  # direction of best_metric: "min" (lower is better, a loss) or "max" (higher is better, an accuracy)
    log_every: int = 10  # JSONL / TensorBoard logging interval in steps
    device: str = "auto"  # "auto" (cuda > mps > cpu), "cpu", "cuda", "cuda:1", "mps"
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 elsewhere), "fp32", "bf16"
    num_workers: int = 0  # DataLoader worker processes
    progress: bool = True  # tqdm progress bar (loss, throughput, ETA)
    tensorboard: bool = True  # write TensorBoard event files beside the JSONL log
    max_seconds: float = 0.0  # stop early (with a checkpoint) after this wall time; 0 = no limit
    max_cpu_seconds: float = 0.0  # stop early after this much training CPU time (process, all threads); 0 = no limit
    group_by_length: int = 0  # > 0: each batch comes from a window of this many batches sorted by example length (less padding); needs the stage data's lengths


@dataclass(frozen=True)
class StagesConfig:
    """One trainer config per stage, so each side's budget is explicit."""

    extract: TrainConfig = field(default_factory=TrainConfig)  # the learned extractor (if any)
    generate: TrainConfig = field(default_factory=TrainConfig)  # X -> Y'
    regenerate: TrainConfig = field(default_factory=TrainConfig)  # Y' -> Y
    direct: TrainConfig = field(default_factory=TrainConfig)  # X -> Y baseline


@dataclass(frozen=True)
class EvalConfig:
    """How ``evaluate`` / ``compare`` judge both sides."""

    seeds: tuple[int, ...] = (0, 1, 2)  # sampling seeds; the report's confidence interval is over these
    n_test: int = 16  # test examples per seed (0 = the whole test split)
    temperature: float = 1.0  # sampling temperature for every model
    n_visualise: int = 2  # examples drawn by the domain visualiser / written as listenable/viewable files


@dataclass(frozen=True)
class PairedConfig:
    """How much *paired* (X, Y) data the generate and direct stages see.

    Regeneration's claim is that Y alone trains the regenerate stage (and a learned extractor), so they
    always keep the whole training split; only the stages that need X see the paired subset. The subset
    is the first ``n`` (or ``share`` of the) training examples in an order fixed by ``seed``, so smaller
    subsets are nested in larger ones. Applied in one place: :func:`regen_core.pipeline.paired_data`.
    """

    share: float = 1.0  # share of the training split that is paired, in (0, 1]
    n: int = 0  # number of paired training examples; > 0 overrides share
    seed: int = 0  # seed of the order the paired examples are taken in

    def __post_init__(self) -> None:
        if not (0.0 < self.share <= 1.0):
            raise ValueError(f"paired.share must be in (0, 1], got {self.share}")
        if self.n < 0:
            raise ValueError(f"paired.n must be >= 0 (0 = use paired.share), got {self.n}")


@functools.lru_cache(maxsize=None)
def run_config_class(pairing_config_class: type) -> type:
    """The full, typed config of a run for one pairing: ``pairing``, ``train``, ``evaluate``, ``paired``."""
    return dataclasses.make_dataclass(
        f"RunConfig_{pairing_config_class.__name__}",
        [
            ("pairing", pairing_config_class, field(default_factory=pairing_config_class)),
            ("train", StagesConfig, field(default_factory=StagesConfig)),
            ("evaluate", EvalConfig, field(default_factory=EvalConfig)),
            ("paired", PairedConfig, field(default_factory=PairedConfig)),
        ],
        frozen=True,
    )


def _describe(err: OmegaConfBaseException) -> str:
    key = getattr(err, "full_key", None)
    msg = getattr(err, "msg", None) or str(err).splitlines()[0]
    return f"config key {key!r}: {msg}" if key else msg


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a preset with ``yaml.safe_load``; values only (mapping at the top)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top, got {type(data).__name__}")
    return data


def build_config(
    cls: type, *, files: Iterable[str | Path] = (), overrides: Iterable[str] = (), values: dict | None = None
) -> Any:
    """Defaults of ``cls`` <- each YAML file <- ``values`` <- ``key=value`` overrides; a frozen ``cls``."""
    try:
        cfg = OmegaConf.structured(cls)
        for f in files:
            cfg = OmegaConf.merge(cfg, OmegaConf.create(read_yaml(f)))
        if values:
            cfg = OmegaConf.merge(cfg, OmegaConf.create(values))
        overrides = list(overrides)
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"override {item!r} is not of the form key=value")
        if overrides:
            cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(overrides))
        obj = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as err:
        raise ConfigError(_describe(err)) from None
    except ValueError as err:  # a domain config's __post_init__ check, which names the key and the value expected
        raise ConfigError(str(err)) from None
    obj = _tuples(obj)
    check_ranges(obj)
    return obj


# Value ranges of the shared configs, checked by :func:`check_ranges` wherever a config is built.
_POSITIVE = {
    TrainConfig: ("max_steps", "batch_size", "grad_accum", "lr", "log_every", "keep_last"),
}
_NON_NEGATIVE = {
    TrainConfig: ("weight_decay", "warmup_steps", "clip_grad", "valid_every", "valid_batches", "save_every",
                  "max_seconds", "max_cpu_seconds", "num_workers", "group_by_length"),
    EvalConfig: ("n_test", "n_visualise", "temperature"),  # temperature 0 asks for the mode
}
_UNIT = {TrainConfig: ("min_lr_ratio",)}  # in [0, 1]
_UNIT_OPEN = {TrainConfig: ("ema_decay",)}  # in [0, 1)
_CHOICES = {TrainConfig: {"precision": ("auto", "fp32", "bf16"), "best_mode": ("min", "max")}}


def check_ranges(cfg: Any, prefix: str = "") -> None:
    """Refuse out-of-range values of the shared configs (every stage of every pairing), naming the key.

    A budget, learning rate or batch size of zero or less is a :class:`ConfigError`, as is a NaN/Inf float.
    """
    if not dataclasses.is_dataclass(cfg):
        return
    kind = type(cfg)
    for f in dataclasses.fields(cfg):
        key, value = f"{prefix}{f.name}", getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            check_ranges(value, f"{key}.")
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"config key {key!r}: must be a finite number, got {value}")
        if f.name in _POSITIVE.get(kind, ()) and not value > 0:
            raise ConfigError(f"config key {key!r}: must be > 0, got {value}")
        if f.name in _NON_NEGATIVE.get(kind, ()) and value < 0:
            raise ConfigError(f"config key {key!r}: must be >= 0, got {value}")
        if f.name in _UNIT.get(kind, ()) and not 0 <= value <= 1:
            raise ConfigError(f"config key {key!r}: must be in [0, 1], got {value}")
        if f.name in _UNIT_OPEN.get(kind, ()) and not 0 <= value < 1:
            raise ConfigError(f"config key {key!r}: must be in [0, 1), got {value}")
        if f.name in _CHOICES.get(kind, {}) and value not in _CHOICES[kind][f.name]:
            raise ConfigError(f"config key {key!r}: must be one of {', '.join(_CHOICES[kind][f.name])}, got {value!r}")
    if kind is TrainConfig and not all(0 <= b < 1 for b in cfg.betas):
        raise ConfigError(f"config key {prefix + 'betas'!r}: each must be in [0, 1), got {list(cfg.betas)}")
    if kind is EvalConfig and not cfg.seeds:
        raise ConfigError(f"config key {prefix + 'seeds'!r}: needs at least one seed")


def _tuples(obj: Any) -> Any:
    """OmegaConf returns lists for tuple fields; put tuples back so configs stay hashable/frozen."""
    if dataclasses.is_dataclass(obj):
        changes = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            fixed = _tuples(value)
            if isinstance(value, list):
                fixed = tuple(_tuples(v) for v in value)
            if fixed is not value:
                changes[f.name] = fixed
        return dataclasses.replace(obj, **changes) if changes else obj
    return obj


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-able dict of a config dataclass."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild ``cls`` from :func:`to_dict` output, type-checked like any config."""
    return build_config(cls, values=data)
