"""Metrics that judge generated images, all in the feature space of a classifier trained in-project.

- :class:`EvalClassifier`: a small CNN trained on the pairing's training split (with +-2 pixel
  shifts); its test accuracy is reported beside every score, so a reader knows how far to trust it.
- :func:`fid`: Fréchet distance between Gaussians fitted to classifier features. It is biased at
  small sample sizes, so it is always reported beside the real-vs-real FID at the same size.
- :func:`precision_recall`: k-NN precision (fraction of generated samples inside the real
  manifold) and recall (fraction of real samples inside the generated manifold), Kynkäänniemi et al. 2019.
- conditional accuracy: does the classifier see the requested class.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from torch import nn


class EvalClassifier(nn.Module):
    """(B, C, 32, 32) in [0, 1] -> (features (B, feature_dim), logits (B, num_classes))."""

    def __init__(self, channels: int, num_classes: int, width: int = 32, feature_dim: int = 64):
        super().__init__()
        w = width
        self.conv = nn.Sequential(
            nn.Conv2d(channels, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
        )
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(8 * w, feature_dim), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(feature_dim, num_classes))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(self.conv(images * 2 - 1))  # (B, feature_dim)
        return f, self.head(f)

    @torch.no_grad()
    def embed(self, images: torch.Tensor, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """images (N, C, H, W) -> features (N, D) float64, class probabilities (N, K)."""
        self.eval()
        feats, probs = [], []
        for s in range(0, len(images), batch):
            f, logits = self(images[s : s + batch].float())
            feats.append(f.double().numpy())
            probs.append(F.softmax(logits, -1).double().numpy())
        return np.concatenate(feats), np.concatenate(probs)


def _shift(images: torch.Tensor, g: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random integer translations (zero padded) as augmentation."""
    b, _, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2,), generator=g).tolist()
    return padded[:, :, dy : dy + h, dx : dx + w]


def train_classifier(images: torch.Tensor, labels: torch.Tensor, *, num_classes: int, steps: int, width: int = 32,
                     feature_dim: int = 64, seed: int = 0, batch: int = 64, lr: float = 2e-3) -> EvalClassifier:
    """Train the evaluation classifier on (N, C, H, W) images in [0, 1] with labels (N,)."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = EvalClassifier(images.shape[1], num_classes, width, feature_dim)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, steps))
        model.train()
        for _ in range(steps):
            idx = torch.randint(0, len(images), (min(batch, len(images)),), generator=g)
            _, logits = model(_shift(images[idx], g))
            loss = F.cross_entropy(logits, labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def accuracy(model: EvalClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    _, probs = model.embed(images)
    return float((probs.argmax(1) == labels.numpy()).mean())


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a (N, D) and b (M, D)."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"FID needs at least 2 samples per set, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # singular products are handled below
        covmean, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
        if not np.isfinite(covmean).all():  # near-singular product: regularise, as the reference FID code does
            eps = np.eye(len(cov_a)) * 1e-6
            covmean = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    covmean = np.real(covmean)
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean))
    return max(value, 0.0)


def _kth_distances(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row of x to its k-th nearest other row."""
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))  # (N, N)
    k = min(k, len(x) - 1)
    return np.sort(d, axis=1)[:, k]  # column 0 is the point itself


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """k-NN precision and recall of fake (M, D) against real (N, D)."""
    if len(real) < 2 or len(fake) < 2:
        raise ValueError("precision/recall need at least 2 samples per set")
    r_real, r_fake = _kth_distances(real, k), _kth_distances(fake, k)
    cross = np.sqrt(((fake[:, None] - real[None]) ** 2).sum(-1))  # (M, N)
    precision = float((cross <= r_real[None]).any(1).mean())
    recall = float((cross.T <= r_fake[None]).any(1).mean())
    return precision, recall


def images_per_second(fn, n: int) -> tuple[float, Any]:
    """Time ``fn()`` that makes n images; returns (images/s, fn's result)."""
    t0 = time.perf_counter()
    out = fn()
    return n / max(time.perf_counter() - t0, 1e-9), out
