"""Direct baseline X -> Y: lyrics -> melody in one model, trained on the lyric-melody pairs alone.

Same network and note tokens as the regenerator (``regenerate.py``), conditioned on the
syllables instead of a template: one note per syllable (its first note, lasting until the
next syllable), pitches absolute (no key normalisation: that is part of the template), metre
drawn from a learned prior. It sees no unpaired melody and no template: the budget it gets
is the paired data and the same number of training steps as generate + regenerate.

The key is an optional input, as it is for regeneration (``{"lyrics": ..., "key": "G minor"}``):
a global token, one of 24 keys (tonic + 12 if minor, the ``key_hint`` code) or "unknown".
Training labels every melody with its key (the score's key signature, else key analysis) and
replaces it by "unknown" with probability ``key_dropout``, so one model serves lyrics alone and
lyrics + key. A ``mode`` without a key is not used (the token needs the tonic).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .errors import MelodyInputError
from .theory import melody_key
from .generate import PRIOR_SCALE, parse_key
from .lyrics import FEATURE_SIZES, score_syllables, syllabify
from .modules import AlignedTransformer, NetConfig, generator_for, pick
from .regenerate import METERS, NOTE_FIELDS, NOTE_SIZES, chunks, meter_index, melody_tokens, note_constraint, tokens_to_melody


N_KEYS = 24  # tonic + 12 * minor
KEY_UNKNOWN = N_KEYS  # the token of "no key given"


def key_index(tonic: int, minor: bool) -> int:
    return int(tonic) % 12 + 12 * int(minor)


def syllable_melody(y: dict[str, Any], starts: list[int]) -> dict[str, Any]:
    """One note per syllable: its first note's pitch and onset, sounding until the next syllable."""
    onsets, durs, pitches = [], [], []
    for k, i in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else len(y["pitch"])
        end = float(y["onset"][stop - 1]) + float(y["duration"][stop - 1])
        onsets.append(float(y["onset"][i]))
        durs.append(end - float(y["onset"][i]))
        pitches.append(int(y["pitch"][i]))
    return {"pitch": pitches, "onset": onsets, "duration": durs, "meter": y.get("meter") or "4/4"}


class LyricsToMelody(nn.Module):
    """Lyrics (X) -> melody (Y) directly: aligned transformer over syllables + a metre prior."""

    def __init__(self, net: NetConfig, *, top_k: int = 8, language: str = "auto", key_dropout: float = 0.5):
        super().__init__()
        if not 0.0 <= key_dropout <= 1.0:
            raise ValueError(f"key_dropout must be in [0, 1], got {key_dropout}")
        self.top_k, self.language, self.key_dropout = top_k, language, key_dropout
        self.net = AlignedTransformer(FEATURE_SIZES, (len(METERS), N_KEYS + 1), NOTE_SIZES, net)
        self.meter_logits = nn.Parameter(torch.zeros(len(METERS)))  # (M,)

    @staticmethod
    def example(y: dict[str, Any], language: str, max_notes: int) -> list[dict[str, Any]]:
        if not y.get("syllables"):
            return []
        starts, syls = score_syllables(list(y["syllables"]), language)
        cond = [s.features() for s in syls]
        out = melody_tokens(syllable_melody(y, starts))
        m = meter_index(y.get("meter") or "4/4")
        k = key_index(*melody_key(y))
        return [{"cond": cond[a:b], "glob": [m, k], "out": out[a:b], "meter": m} for a, b in chunks(len(cond), max_notes)]

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        glob = batch["glob"]
        if self.training and self.key_dropout > 0:  # "unknown" key for a share of the melodies
            drop = torch.rand(glob.shape[0], device=glob.device) < self.key_dropout
            glob = glob.clone()
            glob[:, 1] = torch.where(drop, torch.full_like(glob[:, 1], KEY_UNKNOWN), glob[:, 1])
        loss, stats = self.net.loss(batch["cond"], glob, batch["out"], batch["lengths"], NOTE_FIELDS)
        b = batch["cond"].shape[0]
        meter_ce = F.cross_entropy(PRIOR_SCALE * self.meter_logits[None].expand(b, -1), batch["meter"])
        stats["ce_meter"] = float(meter_ce.detach())
        return loss + meter_ce, stats

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> dict[str, Any]:
        opts = {"lyrics": condition} if isinstance(condition, str) else dict(condition or {})
        if not isinstance(opts.get("lyrics"), str):
            raise MelodyInputError(f"a lyrics condition is a string or a dict with 'lyrics', got {type(condition).__name__}")
        syls = syllabify(opts["lyrics"], opts.get("language") or self.language)
        g = generator_for(seed)
        device = self.meter_logits.device
        meter = opts.get("meter") or METERS[pick(PRIOR_SCALE * self.meter_logits[:-1].float(), temperature, 0, g)]
        key = key_index(*parse_key(str(opts["key"]))) if opts.get("key") else KEY_UNKNOWN
        cond = torch.as_tensor([s.features() for s in syls], device=device)  # (S, 6)
        glob = torch.as_tensor([meter_index(meter), key], device=device)  # (2,)
        tokens = self.net.sample(cond, glob, temperature=temperature, top_k=self.top_k, generator=g,
                                 constrain=note_constraint(meter))
        mel = tokens_to_melody(tokens, meter, 0)
        return {**mel, "syllables": [s.text for s in syls], "chord_hint": [], "key_hint": -1, "meter": meter,
                "title": "direct"}

