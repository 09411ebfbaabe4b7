"""Ground-truth coefficient tracks of the synthetic talking faces.

- **Speech-determined** (``jaw``, ``spread``): each phoneme (espeak-ng IPA, timed by the speech
  corpus) has a viseme target and a dominance; the track at frame time t is the dominance-weighted
  mean of the targets (Cohen & Massaro's coarticulation model: each segment's dominance is flat
  over its core and decays exponentially outside it, so neighbours pull the mouth towards them
  and strong visemes such as the bilabial closure of p/b/m win). Diphthongs move from their first
  vowel's target to their second's.
- **Not determined by speech** (the one-to-many part): head pose (yaw, pitch, roll, tx, ty) and
  brows are Ornstein-Uhlenbeck processes started from their stationary law; blinks are a Poisson
  process with a fixed 5-frame lid profile. Every utterance draws them, and its identity, from its
  own seeded stream.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
from regen_core.errors import RegenError

from .face import COEFF_NAMES, N_COEFF, N_ID

# Viseme targets: symbol -> (jaw opening 0..1, spread +1 .. rounded -1, dominance).
VOWELS: dict[str, tuple[float, float, float]] = {
    "a": (0.85, 0.15, 1.0), "æ": (0.80, 0.35, 1.0), "ɐ": (0.65, 0.05, 0.9), "ɑ": (0.90, -0.05, 1.0),
    "ʌ": (0.60, 0.05, 0.9), "e": (0.50, 0.50, 1.0), "ɛ": (0.60, 0.45, 1.0), "ɜ": (0.45, 0.0, 0.9),
    "ə": (0.35, 0.0, 0.5), "ɚ": (0.35, -0.25, 0.6), "ᵻ": (0.30, 0.30, 0.6), "i": (0.20, 0.90, 1.0),
    "ɪ": (0.30, 0.60, 0.9), "y": (0.20, -0.70, 1.0), "o": (0.50, -0.75, 1.0), "ɔ": (0.65, -0.55, 1.0),
    "ɒ": (0.75, -0.35, 1.0), "ø": (0.40, -0.60, 1.0), "œ": (0.50, -0.50, 1.0), "u": (0.20, -0.95, 1.1),
    "ʊ": (0.30, -0.70, 1.0), "ʉ": (0.25, -0.60, 1.0), "ɘ": (0.35, 0.1, 0.6), "ɵ": (0.35, -0.4, 0.7),
}  # fmt: skip
CONSONANTS: dict[str, tuple[float, float, float]] = {
    "p": (0.0, 0.0, 3.0), "b": (0.0, 0.0, 3.0), "m": (0.0, 0.0, 3.0),
    "f": (0.08, 0.10, 2.0), "v": (0.08, 0.10, 2.0),
    "θ": (0.20, 0.10, 1.2), "ð": (0.20, 0.10, 1.2),
    "tʃ": (0.15, -0.45, 1.5), "dʒ": (0.15, -0.45, 1.5), "ʃ": (0.15, -0.50, 1.5), "ʒ": (0.15, -0.50, 1.5),
    "t": (0.20, 0.25, 0.8), "d": (0.20, 0.25, 0.8), "n": (0.20, 0.20, 0.7), "l": (0.25, 0.15, 0.6),
    "s": (0.12, 0.35, 1.2), "z": (0.12, 0.35, 1.2), "ɾ": (0.25, 0.15, 0.5), "ɬ": (0.2, 0.2, 0.7),
    "k": (0.30, 0.10, 0.6), "g": (0.30, 0.10, 0.6), "ɡ": (0.30, 0.10, 0.6), "ŋ": (0.25, 0.10, 0.6),
    "x": (0.30, 0.0, 0.6), "χ": (0.30, 0.0, 0.6), "q": (0.30, 0.0, 0.6), "c": (0.30, 0.1, 0.6),
    "ɣ": (0.30, 0.0, 0.6), "ɹ": (0.20, -0.45, 1.0), "r": (0.20, -0.35, 0.9), "w": (0.10, -0.90, 2.0),
    "ʍ": (0.10, -0.90, 2.0), "j": (0.20, 0.50, 0.8), "ʎ": (0.20, 0.40, 0.7), "ɲ": (0.20, 0.30, 0.7),
    "h": (0.35, 0.0, 0.25), "ʔ": (0.20, 0.0, 0.3),
}  # fmt: skip
PAUSE = "_"
REST = (0.0, 0.0, 0.6)  # mouth closed and relaxed in pauses
MODIFIERS = set("ˈˌːː:̩̪ʲ̃ʰ˞-")  # stress, length, syllabic, dental, palatal marks: no target of their own
DECAY = 0.07  # seconds: e-folding of a segment's dominance outside its core
CORE = 0.6  # share of a segment's duration with full dominance


class VisemeError(RegenError, ValueError):
    """A phoneme the viseme table does not know."""


def targets(phoneme: str) -> list[tuple[float, float, float]]:
    """The viseme target(s) of one timed phoneme: one, two for a diphthong (start, end), none for a
    stand-alone modifier symbol."""
    if phoneme == PAUSE:
        return [REST]
    for affricate in ("tʃ", "dʒ"):
        if phoneme.startswith(affricate):
            return [CONSONANTS[affricate]]
    base = [ch for ch in phoneme if ch not in MODIFIERS]
    if not base:  # a stand-alone modifier (espeak times e.g. "ʲ" on its own): no target, neighbours cover it
        return []
    if base[0] in CONSONANTS:
        return [CONSONANTS[base[0]]]
    vowels = [VOWELS[ch] for ch in base if ch in VOWELS]
    unknown = [ch for ch in base if ch not in VOWELS and ch not in CONSONANTS]
    if unknown or not vowels:
        raise VisemeError(f"phoneme {phoneme!r}: symbol(s) {unknown or base} are not in the viseme table")
    return vowels[:1] if len(vowels) == 1 else [vowels[0], vowels[-1]]


def mouth_track(phonemes: Sequence[str], starts: Sequence[float], ends: Sequence[float], n_frames: int, fps: int,
                articulation: float = 1.0) -> np.ndarray:
    """(n_frames, 2) jaw and spread at frame times i / fps, by dominance-weighted coarticulation."""
    segs = []  # (centre, half core, target jaw, target spread, dominance)
    for ph, a, b in zip(phonemes, starts, ends):
        a, b = float(a), float(b)
        tg = targets(ph)
        if not tg:
            continue
        if len(tg) == 1:
            segs.append(((a + b) / 2, CORE * (b - a) / 2, *tg[0]))
        else:  # a diphthong: first target over its first 60 %, second over the rest
            m = a + 0.6 * (b - a)
            segs.append(((a + m) / 2, CORE * (m - a) / 2, *tg[0]))
            segs.append(((m + b) / 2, CORE * (b - m) / 2, *tg[1]))
    if not segs:
        return np.zeros((n_frames, 2), np.float32)
    seg = np.asarray(segs, dtype=np.float64)  # (S, 5)
    t = np.arange(n_frames)[:, None] / fps  # (T, 1)
    dist = np.maximum(0.0, np.abs(t - seg[None, :, 0]) - seg[None, :, 1])  # (T, S)
    dom = seg[None, :, 4] * np.exp(-dist / DECAY) + 1e-12
    jaw = (dom * seg[None, :, 2]).sum(1) / dom.sum(1)
    spread = (dom * seg[None, :, 3]).sum(1) / dom.sum(1)
    return np.stack([articulation * jaw, articulation * spread], 1).astype(np.float32)


def ou_process(rng: np.random.Generator, n: int, sigma: float, tau_s: float, fps: int) -> np.ndarray:
    """(n,) Ornstein-Uhlenbeck samples with stationary std ``sigma`` and time constant ``tau_s``."""
    a = float(np.exp(-1.0 / (fps * tau_s)))
    out = np.empty(n)
    x = rng.normal(0.0, sigma)
    for i in range(n):
        out[i] = x
        x = a * x + sigma * np.sqrt(1 - a * a) * rng.normal()
    return out


BLINK_PROFILE = np.array([0.55, 1.0, 0.9, 0.5, 0.2])  # lid closure over 5 frames at 25 fps


def blink_track(rng: np.random.Generator, n: int, rate: float, fps: int) -> np.ndarray:
    """(n,) lid closure 0..1 of Poisson blinks (``rate`` per second); the profile is resampled to fps."""
    out = np.zeros(n)
    prof = np.interp(np.linspace(0, len(BLINK_PROFILE) - 1, max(2, round(len(BLINK_PROFILE) * fps / 25))),
                     np.arange(len(BLINK_PROFILE)), BLINK_PROFILE)
    p = rate / fps
    for i in range(n):
        if rng.random() < p:
            seg = prof[: n - i]
            out[i : i + len(seg)] = np.maximum(out[i : i + len(seg)], seg)
    return out


# Stationary std and time constant (s) of the pose processes, before ``head_motion`` scaling.
POSE_PROCESSES = {"yaw": (0.10, 1.2), "pitch": (0.07, 1.0), "roll": (0.05, 1.5), "tx": (0.04, 1.5), "ty": (0.03, 1.5)}


def utterance_rng(motion_seed: int, uid: str) -> np.random.Generator:
    """The seeded stream of one utterance (a function of the seed and its id alone)."""
    digest = hashlib.sha256(f"{motion_seed}:{uid}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def face_track(uid: str, phonemes: Sequence[str], starts: Sequence[float], ends: Sequence[float], n_frames: int,
               cfg) -> tuple[np.ndarray, np.ndarray]:
    """Identity (5,) and per-frame coefficients (n_frames, 9) of one utterance."""
    rng = utterance_rng(cfg.motion_seed, uid)
    identity = np.clip(rng.normal(size=N_ID), -2.0, 2.0)
    coeffs = np.zeros((n_frames, N_COEFF))
    coeffs[:, 0:2] = mouth_track(phonemes, starts, ends, n_frames, cfg.fps, cfg.articulation)
    coeffs[:, 2] = blink_track(rng, n_frames, cfg.blink_rate, cfg.fps)
    coeffs[:, 3] = np.clip(ou_process(rng, n_frames, 0.35 * cfg.brow_motion, 0.7, cfg.fps), -1.0, 1.0)
    for name, (sigma, tau) in POSE_PROCESSES.items():
        coeffs[:, COEFF_NAMES.index(name)] = ou_process(rng, n_frames, sigma * cfg.head_motion, tau, cfg.fps)
    return identity.astype(np.float32), coeffs.astype(np.float32)

