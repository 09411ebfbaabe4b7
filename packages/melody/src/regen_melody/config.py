"""The frozen config of the ``melody`` pairing (saved in every model folder).

Values the types cannot check (choices, ranges) are checked in ``__post_init__``; through
regen_core.config a bad value is a ConfigError naming the key, like an unknown key or a wrong type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .data import FOLK_COLLECTIONS
from .modules import NetConfig
from .regenerate import TemplateDecoding


@dataclass(frozen=True)
class MelodyConfig:
    """Everything the melody pairing needs: data, sizes, sampling."""

    n_chorales: int = 0  # chorales parsed for the lyric-melody pairs (0 = all 371; about 344 carry lyrics)
    n_folk: int = 2000  # folk tunes parsed as unpaired melodies (0 = all, about 11,000; parsing is cached)
    folk_collections: tuple[str, ...] = FOLK_COLLECTIONS  # music21 corpus collections the folk tunes come from
    unpaired_folder: str = ""  # a folder of your own MIDI / MusicXML / ABC melodies, added to the unpaired data
    chorales_unpaired: bool = True  # the regenerator also learns from the training chorales' sopranos
    chorale_weight: int = 1  # each training chorale soprano appears this many times in the regenerator's data (unpaired use)
    template_register: bool = True  # the regenerator is conditioned on the template's register / ambitus (learned priors in generate)
    key_choice: str = "c"  # tonic when no key is given: c (C major / A minor), likeliest (of the learned prior) or sample
    register_choice: str = "median"  # the template's sounding mean pitch: sample (from the learned prior) or median (of that prior)
    register_by_key: bool = True  # that prior is the one of the song's key (marginal + a learned per-key offset)
    valid: float = 0.1  # share of chorales held out for validation
    test: float = 0.1  # share of chorales held out for testing
    split_seed: int = 0  # seed of the (per-piece) split
    num_proc: int = 0  # processes for parsing and extraction (0 = one per CPU core, at most 8)
    max_notes: int = 128  # training sequences are cut into windows of at most this many notes
    language: str = "auto"  # lyrics language when sampling: auto, en (CMUdict) or de (pyphen)
    top_k: int = 8  # sampling keeps the k most likely tokens (0 = all)
    decoding: TemplateDecoding = field(default_factory=TemplateDecoding)  # template-constrained sampling of the regenerator (chord none/strong/all, chord_bias, rhythm)
    generate_net: NetConfig = field(default_factory=lambda: NetConfig(d_model=64, n_layers=2))  # lyrics -> template
    regenerate_net: NetConfig = field(default_factory=lambda: NetConfig(d_model=96, n_layers=3))  # template -> melody
    direct_net: NetConfig = field(default_factory=lambda: NetConfig(d_model=96, n_layers=3))  # lyrics -> melody
    direct_key_dropout: float = 0.5  # share of training melodies the direct baseline sees with the key "unknown" (lyrics alone)

    def __post_init__(self) -> None:
        from .generate import check_key_choice, check_register_choice

        check_key_choice(self.key_choice, "pairing.key_choice")
        check_register_choice(self.register_choice, "pairing.register_choice")
        if not 0.0 <= self.direct_key_dropout <= 1.0:
            raise ValueError(f"pairing.direct_key_dropout must be in [0, 1], got {self.direct_key_dropout}")
        if self.chorale_weight < 1:
            raise ValueError(f"pairing.chorale_weight must be >= 1, got {self.chorale_weight}")
