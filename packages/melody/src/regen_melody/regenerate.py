"""Regenerate Y' -> Y: template -> melody, trained self-supervised on unpaired melodies.

Every melody gives its own template (``extract.extract_template``), so any melody collection
(folk tunes, chorale sopranos, a user's folder) is training data. Notes are tokens in the
normalised key (C major / A minor):

    bar    bars advanced since the previous note (0..3)
    pos    onset within the bar, in sixteenths (0..47)
    dur    duration in sixteenths (1..32)
    pitch  MIDI 36..95 (other octaves folded in)

Global condition: the template's mode, metre, register (mean pitch in the normalised key) and
ambitus (range in semitones); the last two say where a melody lies, which the notes' chords do
not (folk tunes span wider and sit elsewhere than chorale sopranos).

The output is moved back to the template's key (``-transpose``) and carries the template's
syllables, so it is singable and writable as MIDI / MusicXML with lyrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .extract import check_template
from .theory import MODES, N_CHORDS, chord_pitch_classes, meter_info
from .modules import AlignedTransformer, NetConfig, generator_for, mask_below, mask_from

METERS = ("4/4", "3/4", "2/4", "6/8", "3/8", "9/8", "12/8", "2/2", "3/2", "6/4", "5/4", "other")
NOTE_FIELDS = ("bar", "pos", "dur", "pitch")
NOTE_SIZES = (4, 48, 32, 60)
PITCH_LO = 36
MAX_BEATS = 12
REGISTER_LO, N_REGISTER = 54, 36  # template register tokens: mean pitch (normalised key) 54..89; index N_REGISTER = not given
N_AMBITUS = 37  # ambitus tokens 0..36 semitones; index N_AMBITUS = not given


def meter_index(meter: str) -> int:
    return METERS.index(meter) if meter in METERS else len(METERS) - 1


def fold_pitch(p: int) -> int:
    """MIDI pitch -> token 0..59 (octaves folded into 36..95)."""
    while p < PITCH_LO:
        p += 12
    while p >= PITCH_LO + NOTE_SIZES[3]:
        p -= 12
    return p - PITCH_LO


def melody_tokens(y: dict[str, Any], transpose: int = 0) -> list[list[int]]:
    """A melody -> (N, 4) note tokens [bar advance, pos, dur-1, pitch] in the shifted key."""
    bar_ql, _, _ = meter_info(y.get("meter") or "4/4")
    out, prev_bar = [], 0
    for p, o, d in zip(y["pitch"], y["onset"], y["duration"]):
        bar = int(np.floor(float(o) / bar_ql + 1e-6))
        pos = int(round((float(o) - bar * bar_ql) / 0.25))
        out.append([
            int(np.clip(bar - prev_bar, 0, NOTE_SIZES[0] - 1)),
            int(np.clip(pos, 0, NOTE_SIZES[1] - 1)),
            int(np.clip(round(float(d) / 0.25), 1, NOTE_SIZES[2])) - 1,
            fold_pitch(int(p) + transpose),
        ])
        prev_bar = bar
    return out


def tokens_to_melody(tokens: list[list[int]], meter: str, transpose: int, pitch_offset: int = PITCH_LO) -> dict[str, list]:
    """Note tokens -> melody fields; durations are cut where the next note begins."""
    bar_ql, _, _ = meter_info(meter)
    onsets, durs, pitches, bar = [], [], [], 0
    for adv, pos, dur, pitch in tokens:
        bar += adv
        onset = bar * bar_ql + pos * 0.25
        if onsets and onset <= onsets[-1]:  # safety net; sampling constraints already forbid it
            onset = onsets[-1] + 0.25
        onsets.append(onset)
        durs.append((dur + 1) * 0.25)
        pitches.append(int(pitch) + pitch_offset - transpose)
    for i in range(len(onsets) - 1):
        durs[i] = min(durs[i], onsets[i + 1] - onsets[i])
    return {"pitch": pitches, "onset": onsets, "duration": durs}


CHORD_CONSTRAINTS = ("none", "strong", "all")
CHORD_PICKS = ("any", "near")


@dataclass(frozen=True)
class TemplateDecoding:
    """Template-constrained decoding: how strictly sampled notes are held to their template.

    The constraints act on the sampler's logits only (the network is the same); the direct
    baseline has no template, so it gets none of them (only ``note_constraint``'s validity masks).
    """

    chord: str = "strong"  # none | strong: pitches outside the template chord are masked on strong notes (onset on a beat, or a beat long or more) | all: on every note
    chord_bias: float = 0.0  # logit added to chord tones on the notes the chord mask leaves free (0 = off: passing tones stay the model's)
    rhythm: bool = True  # onsets stay inside the template's beat; a note with a cadence label lasts at least a beat
    chord_pick: str = "any"  # on a masked note: any chord tone (any octave) | near: the chord tones among the model's top-k pitches, else the chord tone nearest its favourite

    def __post_init__(self) -> None:
        if self.chord not in CHORD_CONSTRAINTS:
            raise ValueError(f"chord constraint {self.chord!r}: expected one of {', '.join(CHORD_CONSTRAINTS)}")
        if self.chord_pick not in CHORD_PICKS:
            raise ValueError(f"chord_pick {self.chord_pick!r}: expected one of {', '.join(CHORD_PICKS)}")


UNCONSTRAINED = TemplateDecoding(chord="none", chord_bias=0.0, rhythm=False)


def note_constraint(meter: str, template: dict[str, Any] | None = None, decoding: TemplateDecoding = UNCONSTRAINED,
                    top_k: int = 0):
    """Masks that keep sampled notes valid (inside the bar, strictly after the previous onset) and,
    given a template, hold them to it as ``decoding`` says (see :class:`TemplateDecoding`);
    ``top_k`` is the sampler's, for ``chord_pick="near"``."""
    bar_ql, beat_ql, _ = meter_info(meter)
    n_pos = min(NOTE_SIZES[1], int(round(bar_ql / 0.25)))
    beat_len = max(1, int(round(beat_ql / 0.25)))  # sixteenths per beat
    state = {"pos": -1}
    use = template is not None

    def beat_range(i: int) -> tuple[int, int]:
        """[lo, hi) positions (sixteenths) of note i's template beat."""
        b = int(template["beat"][i])
        return min(b * beat_len, n_pos - 1), min((b + 1) * beat_len, n_pos)

    def constrain(i: int, field: int, row: torch.Tensor, chosen: list[int]) -> torch.Tensor:
        rhythm = use and decoding.rhythm and i < len(template["beat"])
        if field == 0:
            last = n_pos - 1
            if rhythm:
                last = beat_range(i)[1] - 1  # the beat's last sixteenth in this bar
            if state["pos"] >= last:
                return mask_below(row, 1)  # no room left in this bar (for this beat): move on
            return row
        if field == 1:
            row = mask_from(row, n_pos)
            lo = 0
            if rhythm:
                lo, hi = beat_range(i)
                row = mask_from(row, hi)
            if chosen[0] == 0 and state["pos"] >= 0:
                lo = max(lo, state["pos"] + 1)
            if lo > 0:
                row = mask_below(row, lo)
            return row
        if field == 2:
            if rhythm and int(template["cadence"][i]) > 0:
                row = mask_below(row, beat_len - 1)  # duration token = sixteenths - 1
            return row
        if field == 3:
            state["pos"] = chosen[1]
            if use and (decoding.chord != "none" or decoding.chord_bias):
                row = chord_logits(row, i, chosen)
        return row

    def chord_logits(row: torch.Tensor, i: int, chosen: list[int]) -> torch.Tensor:
        if not use or i >= len(template["chord"]):
            return row
        pcs = chord_pitch_classes(int(template["chord"][i]))
        if not pcs:  # "no chord": nothing to follow
            return row
        tone = torch.zeros(row.numel(), dtype=torch.bool, device=row.device)
        for pc in pcs:
            tone[(pc - PITCH_LO) % 12 :: 12] = True  # pitch token t sounds MIDI t + PITCH_LO
        strong = chosen[1] % beat_len == 0 or chosen[2] + 1 >= beat_len
        if decoding.chord == "all" or (decoding.chord == "strong" and strong):
            if decoding.chord_pick == "near":
                tone = near_tones(row, tone, top_k)
            return row.masked_fill(~tone, float("-inf"))
        if decoding.chord_bias:
            return row + decoding.chord_bias * tone.to(row.dtype)
        return row

    return constrain


def near_tones(row: torch.Tensor, tone: torch.Tensor, top_k: int) -> torch.Tensor:
    """(V,) chord-tone mask cut to the tones among the ``top_k`` likeliest pitches of ``row``; when
    none is, the chord tone(s) nearest the likeliest pitch (the model keeps its register and contour)."""
    if 0 < top_k < row.numel():
        cand = torch.zeros_like(tone)
        cand[torch.topk(row, top_k).indices] = True
        if (cand & tone).any():
            return cand & tone
    best = int(torch.argmax(row))
    idx = torch.nonzero(tone).flatten()
    dist = (idx - best).abs()
    out = torch.zeros_like(tone)
    out[idx[dist == dist.min()]] = True
    return out


def register_tokens(t: dict[str, Any], use: bool = True) -> list[int]:
    """[register, ambitus] tokens of a template (the "not given" index when absent or ``use`` is off)."""
    reg, amb = t.get("register"), t.get("ambitus")
    return [N_REGISTER if not use or reg is None else int(np.clip(int(reg) - REGISTER_LO, 0, N_REGISTER - 1)),
            N_AMBITUS if not use or amb is None else int(np.clip(int(amb), 0, N_AMBITUS - 1))]


def template_condition(t: dict[str, Any], register: bool = True) -> tuple[list[list[int]], list[int]]:
    """Template -> per-note condition [beat, chord, cadence] and global [mode, meter, register, ambitus]."""
    cond = [[int(b), int(c), int(k)] for b, c, k in zip(t["beat"], t["chord"], t["cadence"])]
    return cond, [int(t["mode"]), meter_index(t.get("meter") or "4/4"), *register_tokens(t, register)]


def collate_aligned(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Examples {"cond": (T, Fc), "glob": (G,), "out": (T, Fo)} -> padded batch tensors."""
    lengths = torch.tensor([len(it["cond"]) for it in items], dtype=torch.long)
    t = int(lengths.max())
    fc, fo = len(items[0]["cond"][0]), len(items[0]["out"][0])
    cond = torch.zeros(len(items), t, fc, dtype=torch.long)  # (B, T, Fc)
    out = torch.zeros(len(items), t, fo, dtype=torch.long)  # (B, T, Fo)
    for i, it in enumerate(items):
        n = len(it["cond"])
        cond[i, :n] = torch.as_tensor(it["cond"], dtype=torch.long)
        out[i, :n] = torch.as_tensor(it["out"], dtype=torch.long)
    glob = torch.as_tensor([it["glob"] for it in items], dtype=torch.long)  # (B, G)
    batch = {"cond": cond, "glob": glob, "out": out, "lengths": lengths}
    for extra in ("meter", "mode"):
        if extra in items[0]:
            batch[extra] = torch.as_tensor([it[extra] for it in items], dtype=torch.long)  # (B,)
    return batch


def chunks(n: int, size: int) -> list[tuple[int, int]]:
    """Non-overlapping [start, stop) windows of at most ``size`` covering range(n)."""
    return [(s, min(n, s + size)) for s in range(0, n, size)]


class TemplateToMelody(nn.Module):
    """Template (Y') -> melody (Y): an aligned transformer, one note per template entry."""

    def __init__(self, net: NetConfig, top_k: int = 8, decoding: TemplateDecoding = UNCONSTRAINED, register: bool = True):
        super().__init__()
        self.top_k = top_k
        self.decoding = decoding  # template-constrained sampling (a sampling option, not a weight)
        self.use_register = register  # condition on the template's register / ambitus (else always "not given")
        glob_sizes = (len(MODES), len(METERS), N_REGISTER + 1, N_AMBITUS + 1)
        self.net = AlignedTransformer((MAX_BEATS, N_CHORDS, 3), glob_sizes, NOTE_SIZES, net)

    @staticmethod
    def example(y: dict[str, Any], t: dict[str, Any], max_notes: int, register: bool = True) -> list[dict[str, Any]]:
        """Training examples (chunks of at most ``max_notes``) of one melody and its own template."""
        cond, glob = template_condition(t, register)
        out = melody_tokens(y, t["transpose"])
        return [{"cond": cond[a:b], "glob": glob, "out": out[a:b]} for a, b in chunks(len(cond), max_notes)]

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        return self.net.loss(batch["cond"], batch["glob"], batch["out"], batch["lengths"], NOTE_FIELDS)

    @torch.no_grad()
    def sample(self, condition: dict[str, Any], *, seed: int | None = None, temperature: float = 1.0,
               decoding: TemplateDecoding | None = None) -> dict[str, Any]:
        """A melody following ``condition`` (a template); ``decoding`` overrides the model's constraints."""
        check_template(condition)
        cond, glob = template_condition(condition, self.use_register)
        device = next(self.parameters()).device
        meter = condition.get("meter") or "4/4"
        tokens = self.net.sample(
            torch.as_tensor(cond, device=device), torch.as_tensor(glob, device=device), temperature=temperature,
            top_k=self.top_k, generator=generator_for(seed),
            constrain=note_constraint(meter, condition, decoding if decoding is not None else self.decoding, self.top_k),
        )
        mel = tokens_to_melody(tokens, meter, int(condition.get("transpose", 0)))
        syl = list(condition.get("syllables") or [])
        return {
            **mel,
            "syllables": syl if len(syl) == len(tokens) else [],
            "chord_hint": [],
            "key_hint": -1,
            "meter": meter,
            "title": "regenerated",
            "template": dict(condition),
        }
