"""The contract test suite every pairing passes (langchain's standard-tests pattern).

A domain subclasses it with a toy preset::

    from regen_core.testing import PairingContractTests

    class TestTTSContract(PairingContractTests):
        pairing_name = "tts"
        preset = "toy"

The checks: specs and config are well-formed; splits are deterministic; extract is
deterministic; each trainable stage runs forward/backward and a 2-step CPU training whose
model folder reloads to the same weights; sampling is seeded (same seed, same output; two
seeds differ where the model is stochastic); the full pipeline returns Y' and Y and the
metrics judge Y; every shipped preset loads and dry-runs.

This module is also regen's pytest plugin (the ``pytest11`` entry point ``regen`` of regen-core,
so it is active in any pytest run where regen-core is installed: ``pytest packages/tts/tests``
alone as well as ``make test``). For the whole test session it

- points ``REGEN_CACHE`` at a fresh temporary folder, removed at the end, so tests build their
  corpora and caches from scratch and never read or write the user's cache. ``REGEN_CACHE``
  itself is deliberately ignored (it names the user's working cache); to keep a test cache
  across runs (faster re-runs), set ``REGEN_TEST_CACHE=DIR``, which is then used as is;
- runs torch on one thread (toy-sized tensors: more threads only add overhead, and they thrash
  on a shared 2-core machine) and silences the ``datasets`` progress bars;
- registers the ``slow`` marker for long integration tests (train + evaluate a pairing, a CLI
  run end to end): ``pytest -m "not slow"`` runs the fast ones, a plain run runs everything.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
from typing import Any

import numpy as np
import pytest
import torch

from . import registry
from .config import PairedConfig, TrainConfig
from .contract import STAGES, Metric, Model, Spec, Stage, Stochastic, is_explicit, regenerate_pipeline
from .pipeline import load_model, load_run_config, paired_data, presets, train_stage


def same(a: Any, b: Any) -> bool:
    """Deep equality for sample outputs: tensors, arrays, lists, dicts, strings, numbers, objects."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        a, b = np.asarray(torch.as_tensor(a).detach().cpu()), np.asarray(torch.as_tensor(b).detach().cpu())
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
        return type(a) is type(b) and same(dataclasses.asdict(a), dataclasses.asdict(b))
    if hasattr(a, "__dict__") and hasattr(b, "__dict__") and type(a) is type(b):
        return same(vars(a), vars(b))
    return a == b


def _trainable(model: Any) -> bool:
    return not is_explicit(model)


class PairingContractTests:
    """Subclass with ``pairing_name`` (registry name) and ``preset`` (a toy preset)."""

    pairing_name: str = ""
    preset: str = "toy"
    #: Overrides applied on top of the preset for every contract test (keep sizes toy).
    overrides: tuple[str, ...] = ()

    # -- fixtures ---------------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def pairing_cls(cls) -> type:
        if not cls.pairing_name:
            pytest.fail("set pairing_name on the PairingContractTests subclass")
        return registry.pairing_class(cls.pairing_name)

    @pytest.fixture(scope="class")
    @classmethod
    def run_cfg(cls, pairing_cls: type) -> Any:
        return load_run_config(pairing_cls, cls.preset, cls.overrides)

    @pytest.fixture(scope="class")
    @classmethod
    def pairing(cls, pairing_cls: type, run_cfg: Any) -> Any:
        return pairing_cls(run_cfg.pairing)

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls, pairing: Any) -> Any:
        return pairing.load_data()

    @pytest.fixture(scope="class")
    @classmethod
    def extractor(cls, pairing: Any) -> Any:
        torch.manual_seed(0)
        return pairing.build("extract").eval()

    @pytest.fixture(scope="class")
    @classmethod
    def models(cls, pairing: Any, extractor: Any) -> dict[str, Any]:
        torch.manual_seed(0)
        return {s: pairing.build(s, extractor).eval() for s in ("generate", "regenerate", "direct")}

    # -- declarations -----------------------------------------------------------------------

    def test_declares_specs_metrics_and_config(self, pairing_cls: type, pairing: Any) -> None:
        for attr in ("x", "y", "y_prime"):
            spec = getattr(pairing_cls, attr)
            assert isinstance(spec, Spec), f"{attr} must be a regen_core.contract.Spec"
            assert spec.name and spec.modality and spec.shape
        assert pairing_cls.name == self.pairing_name
        assert pairing_cls.metrics_spec and all(isinstance(m, Metric) for m in pairing_cls.metrics_spec)
        assert dataclasses.is_dataclass(pairing_cls.config_class)
        assert pairing_cls.config_class.__dataclass_params__.frozen, "the config dataclass must be frozen"
        assert isinstance(pairing.config, pairing_cls.config_class)

    def test_declares_a_headline_metric(self, pairing_cls: type) -> None:
        from .compare import headline_metric

        metric = headline_metric(pairing_cls)  # raises naming the problem
        assert isinstance(metric, Metric)

    @pytest.mark.parametrize("stage", ("generate", "direct"))
    def test_paired_share_cuts_only_the_paired_stages(self, stage: str, pairing: Any, data: Any, extractor: Any) -> None:
        """``paired.share`` reaches the stages that learn from (X, Y) pairs; the regenerate stage keeps all of Y."""
        half = PairedConfig(share=0.5)
        full_n = len(pairing.stage_data(stage, data, extractor).train)
        cut_n = len(pairing.stage_data(stage, paired_data(data, half, stage), extractor).train)
        assert cut_n < full_n, f"{stage}: paired.share=0.5 left {cut_n} of {full_n} training examples"
        assert paired_data(data, half, "regenerate") is data, "the regenerate stage must keep the whole training split"

    def test_splits_are_deterministic(self, pairing: Any, data: Any) -> None:
        for split in ("train", "valid", "test"):
            assert split in data, f"load_data() must return a {split!r} split"
            assert len(data[split]) > 0, f"split {split!r} is empty"
            for col in (pairing.x.name, pairing.y.name):
                assert col in data[split].column_names, f"split {split!r} lacks column {col!r}"
        again = pairing.load_data()
        for split in ("train", "test"):
            assert len(again[split]) == len(data[split])
            assert same(again[split][0], data[split][0]), f"split {split!r} changed between two loads"

    # -- extract ----------------------------------------------------------------------------

    def test_extract_is_deterministic(self, extractor: Any, data: Any, pairing: Any) -> None:
        y = data["train"][0][pairing.y.name]
        a, b = extractor.extract(y), extractor.extract(y)
        assert a is not None
        assert same(a, b), "extract(y) gave two different Y' for one Y"
        y2 = data["train"][1][pairing.y.name]
        assert not same(a, extractor.extract(y2)) or same(y, y2), "two different Y gave the same Y'"

    # -- every trainable stage ----------------------------------------------------------------

    @pytest.mark.parametrize("stage", STAGES)
    def test_forward_backward(self, stage: Stage, pairing: Any, data: Any, extractor: Any) -> None:
        torch.manual_seed(0)
        model = pairing.build(stage) if stage == "extract" else pairing.build(stage, extractor)
        if not _trainable(model):
            pytest.skip(f"{stage} is explicit (no trainable parameters)")
        sd = pairing.stage_data(stage, data, None if stage == "extract" else extractor)
        batch = sd.collate([sd.train[i] for i in range(min(2, len(sd.train)))])
        model.train()
        loss, stats = model(batch)
        assert isinstance(loss, torch.Tensor) and loss.dim() == 0, "forward must return a scalar loss"
        assert torch.isfinite(loss), f"{stage} loss is not finite: {loss}"
        assert isinstance(stats, dict) and all(math.isfinite(float(v)) for v in stats.values())
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), f"{stage}: no parameter got a gradient"

    @pytest.mark.parametrize("stage", STAGES)
    def test_two_step_training_and_reload(self, stage: Stage, pairing: Any, run_cfg: Any, data: Any, tmp_path_factory) -> None:
        out = tmp_path_factory.mktemp(f"run-{stage}")
        tiny = TrainConfig(max_steps=2, batch_size=2, progress=False, tensorboard=False, device="cpu", log_every=1)
        cfg = dataclasses.replace(run_cfg, train=dataclasses.replace(run_cfg.train, **{s: tiny for s in STAGES}))
        if stage != "extract":
            train_stage(pairing, "extract", cfg, out, data=data)
        rec = train_stage(pairing, stage, cfg, out, data=data)
        if rec.explicit:
            assert rec.steps == 0
        else:
            assert rec.steps == 2
        _, stage_back, model = load_model(rec.folder)
        assert stage_back == stage
        torch.manual_seed(0)
        from safetensors.torch import load_file

        saved = load_file(f"{rec.folder}/model.safetensors")
        state = model.state_dict()
        for k, v in saved.items():
            assert torch.equal(state[k], v), f"{stage}: {k} differs after reload"

    # -- sampling ---------------------------------------------------------------------------

    def _check_seeded(self, model: Any, condition: Any, what: str) -> Any:
        a = model.sample(condition, seed=0)
        b = model.sample(condition, seed=0)
        assert same(a, b), f"{what}.sample with the same seed gave different outputs"
        if not isinstance(model, Stochastic) or model.stochastic:
            c = model.sample(condition, seed=1)
            assert not same(a, c), f"{what}.sample gave the same output for seeds 0 and 1 (set stochastic=False if deterministic)"
        return a

    def test_generator_sampling_is_seeded(self, pairing: Any, data: Any, models: dict) -> None:
        self._check_seeded(models["generate"], data["test"][0][pairing.x.name], "generator")

    def test_regenerator_sampling_is_seeded(self, pairing: Any, data: Any, models: dict, extractor: Any) -> None:
        y_prime = extractor.extract(data["test"][0][pairing.y.name])
        self._check_seeded(models["regenerate"], y_prime, "regenerator")

    def test_direct_sampling_is_seeded(self, pairing: Any, data: Any, models: dict) -> None:
        self._check_seeded(models["direct"], data["test"][0][pairing.x.name], "direct")

    # -- inference and metrics ----------------------------------------------------------------

    def test_pipeline_returns_y_prime_and_metrics_judge_y(self, pairing: Any, data: Any, models: dict) -> None:
        ex = data["test"][0]
        inf = regenerate_pipeline(ex[pairing.x.name], models["generate"], models["regenerate"], seed=0)
        assert inf.y_prime is not None and inf.y is not None
        direct = models["direct"].sample(ex[pairing.x.name], seed=0)
        names = {m.name for m in pairing.metrics_spec}
        for pred in (inf.y, direct):
            scores = pairing.metrics(pred, ex[pairing.y.name], ex[pairing.x.name])
            assert names <= set(scores), f"metrics() lacks {names - set(scores)}"
            assert all(math.isfinite(float(scores[k])) for k in names)

    # -- presets --------------------------------------------------------------------------------

    def test_every_preset_loads_and_dry_runs(self, pairing_cls: type) -> None:
        names = presets(pairing_cls)
        assert self.preset in names, f"preset {self.preset!r} is not shipped (found {names})"
        for name in names:
            cfg = load_run_config(pairing_cls, name)
            pairing = pairing_cls(cfg.pairing)
            extractor = pairing.build("extract")
            for stage in ("generate", "regenerate", "direct"):
                model = pairing.build(stage, extractor)
                assert isinstance(model, Model), f"preset {name}: {stage} model lacks forward() or sample() (contract.Model)"
            for stage in STAGES:
                tc = getattr(cfg.train, stage)
                assert tc.max_steps >= 0 and tc.batch_size > 0, f"preset {name}: bad train.{stage}"


# -- the pytest plugin (entry point pytest11: regen = regen_core.testing) ------------------------

_SAVED_ENV: dict[str, str | None] = {}
_SESSION_CACHE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: a long integration test (trains and evaluates, or runs a CLI end to end); "
        "deselect with -m 'not slow'"
    )
    explicit = os.environ.get("REGEN_TEST_CACHE")
    if explicit:
        cache = explicit
    else:
        cache = tempfile.mkdtemp(prefix="regen-test-cache-")
        _SESSION_CACHE.append(cache)
    for key, value in (("REGEN_CACHE", cache), ("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")):
        _SAVED_ENV[key] = os.environ.get(key)
        os.environ[key] = value
    torch.set_num_threads(1)


def pytest_report_header(config: pytest.Config) -> str:
    return f"regen: REGEN_CACHE={os.environ.get('REGEN_CACHE')} (set REGEN_TEST_CACHE to keep one), torch threads=1"


def pytest_unconfigure(config: pytest.Config) -> None:
    for key, value in _SAVED_ENV.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _SAVED_ENV.clear()
    while _SESSION_CACHE:
        shutil.rmtree(_SESSION_CACHE.pop(), ignore_errors=True)
