"""Generate X -> Y': lyrics -> template.

1. Syllables (``lyrics.syllabify``): stress, word position, punctuation.
2. Rhythm: an aligned transformer reads the syllables and samples, syllable by syllable, how
   many beats each onset lies after the previous one; trained on the lyric-melody pairs.
   After a cadence the next onset is kept at least two beats away (the cadence rule needs it).
3. Cadence from punctuation: clause end -> half, sentence end (and the last syllable) -> authentic.
4. Tonality, metre and chord progression: given by the user, or sampled from what the model
   learned on the paired data (mode and metre priors, a chord bigram per mode over chord
   windows); a window holding an authentic cadence takes the tonic chord. Without a given
   key the tonic is C major / A minor (``key_choice="c"``), the likeliest tonic of the mode
   (``"likeliest"``) or one drawn from the learned tonic prior (``"sample"``).
5. Register: the melody's sounding mean pitch and ambitus drawn from priors learned on the
   paired data (a chorale soprano's tessitura), the mean moved into the normalised key;
   ``register_choice="median"`` takes the prior's median mean pitch instead of a draw (every
   song then sits in the typical tessitura; the ambitus is still drawn). With
   ``register_by_key`` (default) the mean pitch's prior is the one of the song's key (tonic and
   mode): the marginal prior plus a per-key offset learned on the chorales in that key (a key
   no training chorale is in keeps the marginal prior).

A condition is the lyrics string, or a dict ``{"lyrics": str, "mode": "major"|"minor",
"key": "G", "meter": "3/4", "chords": ["C", "F", "G", "C"]}`` (every key but lyrics optional;
given chords are cycled over the chord windows).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .errors import MelodyInputError
from .lyrics import FEATURE_SIZES, Syllable, score_syllables, syllabify
from .modules import AlignedTransformer, NetConfig, generator_for, mask_below, pick
from .regenerate import MAX_BEATS, METERS, N_AMBITUS, N_REGISTER, REGISTER_LO, meter_index
from .theory import (
    MODES, N_CHORDS, PITCH_NAMES, QUALITIES, chord_id, chord_span, meter_info, shift_to_c, tonic_chord,
)

MAX_ADVANCE = 2 * MAX_BEATS  # beats between consecutive syllable onsets, 0..24
PRIOR_SCALE = 25.0  # prior tables are stored / 25: Adam's fixed step size then moves the logits 25x faster
KEY_CHOICES = ("c", "likeliest", "sample")
REGISTER_CHOICES = ("sample", "median")


def check_key_choice(value: str, name: str = "key_choice") -> str:
    """``value`` if it is one of :data:`KEY_CHOICES`, else a ValueError naming ``name``."""
    if value not in KEY_CHOICES:
        raise ValueError(f"{name} {value!r}: expected one of {', '.join(KEY_CHOICES)}")
    return value


def check_register_choice(value: str, name: str = "register_choice") -> str:
    """``value`` if it is one of :data:`REGISTER_CHOICES`, else a ValueError naming ``name``."""
    if value not in REGISTER_CHOICES:
        raise ValueError(f"{name} {value!r}: expected one of {', '.join(REGISTER_CHOICES)}")
    return value


def prior_median(logits: torch.Tensor) -> int:
    """Index of the median of the distribution softmax(logits)."""
    cdf = torch.cumsum(torch.softmax(logits.float(), dim=-1), dim=-1)
    return int(torch.searchsorted(cdf, torch.tensor(0.5, device=cdf.device)).clamp(max=len(cdf) - 1))


def parse_chord(name: str) -> int:
    """'C', 'Am', 'F#dim', 'Bb+', 'G7' (sevenths reduce to their triad) -> chord id."""
    s = name.strip()
    if not s:
        raise MelodyInputError("empty chord name")
    n_root = 2 if len(s) > 1 and s[1] in "#b" else 1
    root_s, rest = s[0].upper() + s[1:n_root], s[n_root:]
    aliases = {"Db": "C#", "D#": "Eb", "Gb": "F#", "G#": "Ab", "A#": "Bb", "Cb": "B", "Fb": "E", "E#": "F", "B#": "C"}
    root_s = aliases.get(root_s, root_s)
    if root_s not in PITCH_NAMES:
        raise MelodyInputError(f"chord {name!r}: unknown root {root_s!r} (expected one of {', '.join(PITCH_NAMES)})")
    rest = rest.replace("maj7", "").replace("7", "")
    q = {"": 0, "m": 1, "min": 1, "dim": 2, "o": 2, "+": 3, "aug": 3, "m7b5": 2}.get(rest)
    if q is None:
        raise MelodyInputError(f"chord {name!r}: unknown quality {rest!r} (expected '', 'm', 'dim' or '+')")
    return chord_id(PITCH_NAMES.index(root_s), q)


def parse_key(key: str) -> tuple[int, bool]:
    """'G' / 'G major' -> (7, False); 'e minor' / 'Em' -> (4, True); a bare tonic means major."""
    parts = key.replace("-", " ").split()
    if not parts:
        raise MelodyInputError("empty key")
    tonic_s, mode = parts[0], (parts[1].lower() if len(parts) > 1 else None)
    if tonic_s.endswith("m") and len(tonic_s) > 1:
        tonic_s, mode = tonic_s[:-1], "minor"
    cid = parse_chord(tonic_s[0].upper() + tonic_s[1:])
    if mode not in (None, "major", "minor"):
        raise MelodyInputError(f"key {key!r}: mode must be major or minor")
    return (cid - 1) // len(QUALITIES), mode == "minor"


def rhythm_examples(y: dict[str, Any], t: dict[str, Any], language: str) -> dict[str, Any] | None:
    """One training example of the generator from a lyric-bearing melody and its template."""
    if not y.get("syllables"):
        return None
    starts, syls = score_syllables(list(y["syllables"]), language)
    meter = t["meter"]
    bar_ql, beat_ql, beats = meter_info(meter)
    abs_beats = [int(np.floor(float(y["onset"][i]) / beat_ql + 1e-6)) for i in starts]
    adv = [int(np.clip(b - a, 0, MAX_ADVANCE)) for a, b in zip([0] + abs_beats[:-1], abs_beats)]
    span = chord_span(meter)
    windows: list[int] = []
    last_w = -1
    for i, onset in enumerate(y["onset"]):
        w = int(np.floor(float(onset) / span + 1e-6))
        if w != last_w:
            windows.append(int(t["chord"][i]))
            last_w = w
    return {
        "cond": [s.features() for s in syls],
        "glob": [int(t["mode"]), meter_index(meter)],
        "out": [[a] for a in adv],
        "meter": meter_index(meter),
        "mode": int(t["mode"]),
        "tonic": ((9 if t["mode"] else 0) - int(t["transpose"])) % 12,  # the piece's tonic pitch class
        "register": int(np.clip(int(t["register"]) - int(t["transpose"]) - REGISTER_LO, 0, N_REGISTER - 1)),  # sounding mean pitch
        "ambitus": int(np.clip(int(t["ambitus"]), 0, N_AMBITUS - 1)),
        "chords": windows,
    }


def collate_generate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    from .regenerate import collate_aligned

    batch = collate_aligned(items)
    w = max(len(it["chords"]) for it in items)
    chords = torch.full((len(items), w), -100, dtype=torch.long)  # (B, W), -100 = padding
    for i, it in enumerate(items):
        chords[i, : len(it["chords"])] = torch.as_tensor(it["chords"], dtype=torch.long)
    batch["chords"] = chords
    for k in ("tonic", "register", "ambitus"):
        batch[k] = torch.as_tensor([it[k] for it in items], dtype=torch.long)  # (B,)
    return batch


class LyricsToTemplate(nn.Module):
    """Lyrics (X) -> template (Y'): rhythm transformer + learned metre, mode and chord-bigram priors."""

    def __init__(self, net: NetConfig, *, top_k: int = 8, language: str = "auto", key_choice: str = "c",
                 register_choice: str = "median", register_by_key: bool = True):
        super().__init__()
        self.top_k, self.language, self.key_choice = top_k, language, check_key_choice(key_choice)
        self.register_choice, self.register_by_key = check_register_choice(register_choice), register_by_key
        self.rhythm = AlignedTransformer(FEATURE_SIZES, (len(MODES), len(METERS)), (MAX_ADVANCE + 1,), net)
        self.meter_logits = nn.Parameter(torch.zeros(len(METERS)))  # (M,)
        self.mode_logits = nn.Parameter(torch.zeros(len(MODES)))  # (2,)
        self.tonic_logits = nn.Parameter(torch.zeros(len(MODES), 12))  # (mode, tonic pitch class)
        self.register_logits = nn.Parameter(torch.zeros(N_REGISTER))  # (R,) sounding mean pitch REGISTER_LO + r
        self.register_key_logits = nn.Parameter(torch.zeros(2 * 12, N_REGISTER))  # (tonic + 12 * minor, R): offsets
        self.ambitus_logits = nn.Parameter(torch.zeros(N_AMBITUS))  # (A,) range in semitones
        self.chord_logits = nn.Parameter(torch.zeros(len(MODES), N_CHORDS + 1, N_CHORDS))  # (mode, previous or start, next)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        loss, stats = self.rhythm.loss(batch["cond"], batch["glob"], batch["out"], batch["lengths"], ("advance",))
        b = batch["cond"].shape[0]
        meter_ce = F.cross_entropy(PRIOR_SCALE * self.meter_logits[None].expand(b, -1), batch["meter"])
        mode_ce = F.cross_entropy(PRIOR_SCALE * self.mode_logits[None].expand(b, -1), batch["mode"])
        tonic_ce = F.cross_entropy(PRIOR_SCALE * self.tonic_logits[batch["mode"]], batch["tonic"])  # (B, 12) logits
        register_ce = F.cross_entropy(PRIOR_SCALE * self.register_logits[None].expand(b, -1), batch["register"])
        key = batch["tonic"] + 12 * batch["mode"]  # (B,)
        keyed = self.register_logits.detach()[None] + self.register_key_logits[key]  # (B, R): marginal + key offset
        register_key_ce = F.cross_entropy(PRIOR_SCALE * keyed, batch["register"])
        ambitus_ce = F.cross_entropy(PRIOR_SCALE * self.ambitus_logits[None].expand(b, -1), batch["ambitus"])
        chords = batch["chords"]  # (B, W)
        prev = torch.cat([torch.full_like(chords[:, :1], N_CHORDS), chords[:, :-1].clamp(min=0)], 1)  # (B, W)
        table = PRIOR_SCALE * self.chord_logits[batch["mode"]]  # (B, N_CHORDS + 1, N_CHORDS)
        logits = torch.gather(table, 1, prev[..., None].expand(-1, -1, N_CHORDS))  # (B, W, N_CHORDS)
        chord_ce = F.cross_entropy(logits.reshape(-1, N_CHORDS), chords.reshape(-1), ignore_index=-100)
        stats.update(ce_meter=float(meter_ce.detach()), ce_mode=float(mode_ce.detach()), ce_tonic=float(tonic_ce.detach()),
                     ce_register=float(register_ce.detach()), ce_register_key=float(register_key_ce.detach()), ce_ambitus=float(ambitus_ce.detach()),
                     ce_chord=float(chord_ce.detach()))
        return loss + meter_ce + mode_ce + tonic_ce + register_ce + register_key_ce + ambitus_ce + chord_ce, stats

    @staticmethod
    def _options(condition: Any) -> dict[str, Any]:
        if isinstance(condition, str):
            return {"lyrics": condition}
        if isinstance(condition, dict) and isinstance(condition.get("lyrics"), str):
            return dict(condition)
        raise MelodyInputError(f"a lyrics condition is a string or a dict with 'lyrics', got {type(condition).__name__}")

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> dict[str, Any]:
        opts = self._options(condition)
        syls: list[Syllable] = syllabify(opts["lyrics"], opts.get("language") or self.language)
        g = generator_for(seed)
        device = self.meter_logits.device
        # 1. Metre and tonality: given, or drawn from the learned priors.
        meter = opts.get("meter") or METERS[pick(PRIOR_SCALE * self.meter_logits[:-1].float(), temperature, 0, g)]
        bar_ql, beat_ql, beats = meter_info(meter)
        if beats > MAX_BEATS:
            raise MelodyInputError(f"meter {meter!r} has {beats} beats per bar; at most {MAX_BEATS} are supported")
        transpose, minor = 0, None
        if opts.get("key"):
            tonic, minor = parse_key(str(opts["key"]))
        if opts.get("mode"):
            if opts["mode"] not in MODES:
                raise MelodyInputError(f"mode {opts['mode']!r}: expected major or minor")
            minor = opts["mode"] == "minor"
        if minor is None:
            minor = bool(pick(PRIOR_SCALE * self.mode_logits.float(), temperature, 0, g))
        if opts.get("key"):
            transpose = shift_to_c(tonic, minor)
        elif not opts.get("chords") and self.key_choice != "c":  # given chords are read in C / Am
            tonic_row = PRIOR_SCALE * self.tonic_logits[int(minor)].float()
            tonic = int(torch.argmax(tonic_row)) if self.key_choice == "likeliest" else pick(tonic_row, temperature, 0, g)
            transpose = shift_to_c(tonic, minor)
        mode = int(minor)
        # 2. Rhythm: beats between onsets, syllable by syllable.
        cond = torch.as_tensor([s.features() for s in syls], device=device)  # (S, 6)
        glob = torch.as_tensor([mode, meter_index(meter)], device=device)  # (2,)
        cadence = [s.cadence for s in syls]

        def constrain(i: int, field: int, row: torch.Tensor, chosen: list[int]) -> torch.Tensor:
            if i > 0 and cadence[i - 1] > 0:
                return mask_below(row, 2)  # a cadence needs room: next onset >= 2 beats later
            return row

        adv = [a[0] for a in self.rhythm.sample(cond, glob, temperature=temperature, top_k=self.top_k, generator=g, constrain=constrain)]
        abs_beats = np.cumsum(adv).tolist()
        beat_idx = [int(b % beats) for b in abs_beats]
        span = chord_span(meter)
        windows = [int(np.floor(b * beat_ql / span + 1e-6)) for b in abs_beats]
        # 3. Chords per window: given (cycled) or a walk on the learned bigram; tonic at authentic cadences.
        given = [parse_chord(c) for c in (opts.get("chords") or [])]
        if given and transpose:
            from .theory import transpose_chord

            given = [transpose_chord(c, transpose) for c in given]
        distinct = sorted(set(windows))
        force = {windows[i] for i in range(len(syls)) if cadence[i] == 2}
        chord_of: dict[int, int] = {}
        prev = N_CHORDS
        for k, w in enumerate(distinct):
            if given:
                c = given[k % len(given)]
            elif w in force:
                c = tonic_chord(minor)
            else:
                row = PRIOR_SCALE * self.chord_logits[mode, prev].float()
                row[0] = float("-inf")
                c = pick(row, temperature, self.top_k, g)
            chord_of[w] = c
            prev = c
        # 4. Register: the sounding mean pitch and the ambitus from the learned priors.
        register_row = PRIOR_SCALE * self.register_logits.float()
        if self.register_by_key:
            tonic_pc = ((9 if minor else 0) - transpose) % 12  # the song's sounding tonic
            register_row = register_row + PRIOR_SCALE * self.register_key_logits[tonic_pc + 12 * int(minor)].float()
        sounding = REGISTER_LO + (prior_median(register_row) if self.register_choice == "median"
                                  else pick(register_row, temperature, 0, g))
        ambitus = pick(PRIOR_SCALE * self.ambitus_logits.float(), temperature, 0, g)
        return {
            "mode": mode,
            "transpose": int(transpose),
            "register": int(sounding + transpose),
            "ambitus": int(ambitus),
            "meter": meter,
            "beat": beat_idx,
            "chord": [chord_of[w] for w in windows],
            "cadence": cadence,
            "syllables": [s.text for s in syls],
        }

