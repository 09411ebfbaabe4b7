"""Viewable outputs: MP4 with the speech muxed in (imageio-ffmpeg's bundled ffmpeg), GIF, PNG strips.

If the audio cannot be muxed (no ffmpeg binary, an encoder error), the MP4 is written silent, the
WAV is written beside it, and the returned note says so.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np


def _upscale(frames: np.ndarray, scale: int) -> np.ndarray:
    """(T, H, W) float [0, 1] -> (T, H*scale, W*scale) uint8, nearest neighbour."""
    u8 = np.clip(np.round(np.nan_to_num(np.asarray(frames, np.float32)) * 255), 0, 255).astype(np.uint8)
    return np.repeat(np.repeat(u8, scale, axis=1), scale, axis=2)


def side_by_side(videos: Sequence[np.ndarray], gap: int = 1) -> np.ndarray:
    """Videos (T_i, H, W) next to each other (cut to the shortest), separated by a white column."""
    n = min(len(v) for v in videos)
    parts = []
    for i, v in enumerate(videos):
        if i:
            parts.append(np.ones((n, v.shape[1], gap), np.float32))
        parts.append(np.asarray(v[:n], np.float32))
    return np.concatenate(parts, axis=2)


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: int, *, audio: np.ndarray | None = None,
              sample_rate: int | None = None, scale: int = 4) -> tuple[Path, str]:
    """Write (T, H, W) grey frames in [0, 1] as H.264 MP4, with ``audio`` muxed as AAC when given.

    Returns (path, note): the note says whether the audio is in the file or in a WAV beside it.
    """
    import imageio_ffmpeg

    from regen_speech.audio import save_wav

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if np.asarray(frames).ndim == 4:  # colour frames (T, H, W, 3) uint8: written at their own size
        rgb = np.asarray(frames, np.uint8)
        h, w = rgb.shape[1:3]
        pad_h, pad_w = (-h) % 16, (-w) % 16
        if pad_h or pad_w:
            rgb = np.pad(rgb, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    else:
        big = _upscale(frames, scale)
        h, w = big.shape[1:]
        pad_h, pad_w = (-h) % 16, (-w) % 16  # whole macro blocks
        if pad_h or pad_w:
            big = np.pad(big, ((0, 0), (0, pad_h), (0, pad_w)))
        rgb = np.repeat(big[..., None], 3, axis=3)
    wav = None
    if audio is not None:
        fd, tmp = tempfile.mkstemp(suffix=".wav", dir=path.parent)
        os.close(fd)
        wav = save_wav(tmp, np.clip(np.asarray(audio, np.float32), -1, 1), int(sample_rate))

    def encode(with_audio: bool) -> None:
        kw = {"audio_path": str(wav), "audio_codec": "aac"} if with_audio else {}
        gen = imageio_ffmpeg.write_frames(str(path), (rgb.shape[2], rgb.shape[1]), fps=fps, codec="libx264",
                                          pix_fmt_out="yuv420p", macro_block_size=16, ffmpeg_log_level="error",
                                          output_params=["-shortest"] if with_audio else None, **kw)
        gen.send(None)
        for f in rgb:
            gen.send(np.ascontiguousarray(f))
        gen.close()

    try:
        if wav is None:
            encode(False)
            return path, "no audio"
        try:
            encode(True)
            return path, "audio muxed (AAC)"
        except Exception as err:  # an ffmpeg without AAC, ...: keep the video, put the speech beside it
            encode(False)
            beside = path.with_suffix(".wav")
            os.replace(wav, beside)
            return path, f"audio could not be muxed ({type(err).__name__}: {err}); written to {beside.name}"
    finally:
        if wav is not None and Path(wav).exists():
            Path(wav).unlink()


def write_gif(path: str | os.PathLike, frames: np.ndarray, fps: int, scale: int = 4) -> Path:
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    big = np.asarray(frames, np.uint8) if np.asarray(frames).ndim == 4 else _upscale(frames, scale)
    imageio.mimsave(str(path), list(big), duration=1.0 / fps, loop=0)
    return path


def strip_png(path: str | os.PathLike, rows: Sequence[tuple[str, np.ndarray]], *, n: int = 8, fps: int = 25,
              title: str = "", width: float = 1.1) -> Path:
    """A PNG with one row per labelled video, ``n`` frames evenly spaced over the shortest."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    length = min(len(v) for _, v in rows)
    idx = np.linspace(0, length - 1, min(n, length)).round().astype(int)
    fig, axes = plt.subplots(len(rows), len(idx), figsize=(width * len(idx) + 0.8, (width + 0.1) * len(rows) + 0.4), squeeze=False)
    for r, (label, video) in enumerate(rows):
        for c, t in enumerate(idx):
            ax = axes[r, c]
            if np.asarray(video).ndim == 4:  # colour (T, H, W, 3) uint8
                ax.imshow(np.asarray(video[t], np.uint8), interpolation="bilinear")
            else:
                ax.imshow(np.clip(video[t], 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{t / fps:.2f} s", fontsize=7)
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    if title:
        fig.suptitle(title[:100], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
