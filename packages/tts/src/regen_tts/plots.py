"""PNG figures: predicted vs reference log-mel spectrograms."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def mel_comparison(path: str | Path, panels: list[tuple[str, np.ndarray]], *, title: str = "", hop_s: float = 0.0) -> Path:
    """One row per (label, log-mel (T, n_mels)) panel, shared colour scale; returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    vmax = max(float(np.max(m)) for _, m in panels)
    vmin = max(min(float(np.min(m)) for _, m in panels), vmax - 12.0)
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 1.9 * len(panels)), squeeze=False)
    for ax, (label, mel) in zip(axes[:, 0], panels):
        extent = None
        if hop_s > 0:
            extent = (0, mel.shape[0] * hop_s, 0, mel.shape[1])
        ax.imshow(np.asarray(mel).T, origin="lower", aspect="auto", vmin=vmin, vmax=vmax, cmap="magma", extent=extent)
        ax.set_ylabel("mel bin")
        ax.set_title(label, fontsize=9)
    axes[-1, 0].set_xlabel("seconds" if hop_s > 0 else "frame")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
