"""The reference pairing: small enough to read in one sitting, real enough to test everything.

X  = a class label 0..n_classes-1 (each class has its own base frequency)
Y  = a 1-D signal of ``length`` samples: a sine of that frequency with a random phase and
     amplitude, plus a fine high-frequency ripple of random phase (detail X does not hold)
Y' = the signal down-sampled by ``factor`` (explicit: average pooling)

generate    X -> Y'  a conditional Gaussian over Y' (MLP mean + per-class log-std)
regenerate  Y' -> Y  an MLP up-sampler with a learned residual noise level, trained on Y alone
direct      X -> Y   a conditional Gaussian over Y (same MLP shape, wider output)

It is registered as ``toy`` so the CLI, the trainer and the contract suite can be exercised
without any domain package; use it as the template for a new pairing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..contract import Metric, Spec, Stage, StageData
from ..data import pad_collate
from ..errors import InputError


@dataclass(frozen=True)
class ToyConfig:
    """Settings of the toy pairing."""

    n_classes: int = 4  # number of condition classes
    length: int = 64  # samples per signal Y
    factor: int = 4  # down-sampling factor: Y' has length // factor samples
    n_examples: int = 256  # size of the synthetic dataset (split 80/10/10)
    ripple: float = 0.3  # amplitude of the fine detail that only regeneration's second step can add
    hidden: int = 64  # MLP width of every model
    data_seed: int = 0  # seed of the synthetic dataset


def make_signal(cls: int, rng: np.random.Generator, cfg: ToyConfig) -> np.ndarray:
    t = np.arange(cfg.length) / cfg.length
    freq = 1 + cls
    amp = rng.uniform(0.6, 1.0)
    phase = rng.uniform(0, 2 * np.pi)
    ripple = cfg.ripple * np.sin(2 * np.pi * (cfg.length / 4) * t + rng.uniform(0, 2 * np.pi))
    return (amp * np.sin(2 * np.pi * freq * t + phase) + ripple).astype(np.float32)  # (length,)


class DownSample(nn.Module):
    """Explicit extractor Y -> Y': average pooling."""

    def __init__(self, factor: int):
        super().__init__()
        self.factor = factor

    def extract(self, y: Any) -> np.ndarray:
        y = np.asarray(y, dtype=np.float32)  # (length,)
        return y.reshape(-1, self.factor).mean(axis=1)  # (length // factor,)


class ConditionalGaussian(nn.Module):
    """p(out | class) = N(mlp(onehot), diag(exp(log_std[class]))^2)."""

    stochastic = True

    def __init__(self, n_classes: int, out_dim: int, hidden: int, target: str):
        super().__init__()
        self.n_classes, self.target = n_classes, target
        self.mlp = nn.Sequential(nn.Embedding(n_classes, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, out_dim))
        self.log_std = nn.Parameter(torch.zeros(n_classes, out_dim))

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        c, y = batch["x"].long(), batch[self.target].float()  # (B,), (B, D)
        mean, log_std = self.mlp(c), self.log_std[c]  # (B, D) each
        nll = (0.5 * ((y - mean) / log_std.exp()) ** 2 + log_std).mean()
        return nll, {"mse": float(((y - mean.detach()) ** 2).mean())}

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        c = int(condition)
        if not 0 <= c < self.n_classes:
            raise InputError(f"class {c} is out of range 0..{self.n_classes - 1}")
        g = torch.Generator().manual_seed(seed if seed is not None else torch.seed() % 2**31)
        mean = self.mlp(torch.tensor([c]))[0]  # (D,)
        noise = torch.randn(mean.shape, generator=g) * self.log_std[c].exp() * temperature
        return (mean + noise).numpy()


class UpSampler(nn.Module):
    """p(Y | Y') = N(mlp(Y'), sigma^2): learned from Y alone (Y' = extract(Y))."""

    stochastic = True

    def __init__(self, in_dim: int, out_dim: int, hidden: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, out_dim))
        self.log_std = nn.Parameter(torch.zeros(out_dim))

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        yp, y = batch["y_prime"].float(), batch["y"].float()  # (B, D'), (B, D)
        mean = self.mlp(yp)  # (B, D)
        nll = (0.5 * ((y - mean) / self.log_std.exp()) ** 2 + self.log_std).mean()
        return nll, {"mse": float(((y - mean.detach()) ** 2).mean())}

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        g = torch.Generator().manual_seed(seed if seed is not None else torch.seed() % 2**31)
        mean = self.mlp(torch.as_tensor(np.asarray(condition, dtype=np.float32))[None])[0]  # (D,)
        return (mean + torch.randn(mean.shape, generator=g) * self.log_std.exp() * temperature).numpy()


class ToyPairing:
    """class -> down-sampled signal -> signal."""

    name: ClassVar[str] = "toy"
    x: ClassVar[Spec] = Spec("x", "label", "() int class")
    y: ClassVar[Spec] = Spec("y", "signal", "(length,) float32")
    y_prime: ClassVar[Spec] = Spec("y_prime", "signal", "(length // factor,) float32")
    headline: ClassVar[str] = "mse_to_reference"  # the comparisons' lead metric: distance to the reference
    metrics_spec: ClassVar[tuple[Metric, ...]] = (
        Metric("mse_to_reference", False, "mean squared error to the reference signal (one-to-many: not 0 at best)"),
        Metric("freq_correct", True, "1 if the dominant frequency matches the class, else 0"),
        Metric("ripple_power", True, "power at the ripple frequency (detail only Y holds)"),
    )
    config_class: ClassVar[type] = ToyConfig

    def __init__(self, config: ToyConfig):
        self.config = config

    def load_data(self):
        import datasets

        from ..data import split

        cfg = self.config
        rng = np.random.default_rng(cfg.data_seed)
        xs = rng.integers(0, cfg.n_classes, cfg.n_examples)
        ys = [make_signal(int(c), rng, cfg).tolist() for c in xs]
        ds = datasets.Dataset.from_dict({"x": xs.tolist(), "y": ys})
        return split(ds, valid=0.1, test=0.1, seed=cfg.data_seed)

    def build(self, stage: Stage, extractor: Any = None) -> nn.Module:
        cfg = self.config
        d, dp = cfg.length, cfg.length // cfg.factor
        if cfg.length % cfg.factor:
            raise ValueError(f"length={cfg.length} must divide by factor={cfg.factor}")
        if stage == "extract":
            return DownSample(cfg.factor)
        if stage == "generate":
            return ConditionalGaussian(cfg.n_classes, dp, cfg.hidden, "y_prime")
        if stage == "regenerate":
            return UpSampler(dp, d, cfg.hidden)
        if stage == "direct":
            return ConditionalGaussian(cfg.n_classes, d, cfg.hidden, "y")
        raise ValueError(f"unknown stage {stage!r}")

    def stage_data(self, stage: Stage, data: Any, extractor: Any) -> StageData:
        def rows(ds: Any) -> list[dict]:
            out = []
            for ex in ds:
                row = {"x": ex["x"], "y": np.asarray(ex["y"], dtype=np.float32)}
                if stage in ("generate", "regenerate"):
                    row["y_prime"] = extractor.extract(ex["y"])
                out.append(row)
            return out

        return StageData(rows(data["train"]), rows(data["valid"]), pad_collate())

    def metrics(self, prediction: Any, reference: Any, x: Any = None) -> dict[str, float]:
        pred = np.asarray(prediction, dtype=np.float64)
        ref = np.asarray(reference, dtype=np.float64)
        if pred.shape != ref.shape:
            raise ValueError(f"prediction shape {pred.shape} != reference shape {ref.shape}")
        spec = np.abs(np.fft.rfft(pred)) / len(pred)
        dominant = int(np.argmax(spec[1 : len(spec) // 2])) + 1
        return {
            "mse_to_reference": float(np.mean((pred - ref) ** 2)),
            "freq_correct": float(x is not None and dominant == int(x) + 1),
            "ripple_power": float(spec[self.config.length // 4]),
        }

    def parse_x(self, text: str) -> int:
        try:
            c = int(text)
        except ValueError:
            c = -1
        if not 0 <= c < self.config.n_classes:
            raise InputError(f"toy X is a class number 0..{self.config.n_classes - 1}, got {text!r}")
        return c

    def visualise(self, folder, name, *, x, y_prime, prediction, reference):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from pathlib import Path

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(6, 2.5))
        ax.plot(np.asarray(prediction), label="prediction")
        if reference is not None:
            ax.plot(np.asarray(reference), label="reference", alpha=0.6)
        if y_prime is not None:
            f = self.config.factor
            ax.step(np.arange(len(y_prime)) * f, np.asarray(y_prime), where="post", label="Y' (sampled)", alpha=0.8)
        ax.set_title(f"class {x}")
        ax.legend(fontsize=7)
        path = folder / f"{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=80)
        plt.close(fig)
        return [path]
