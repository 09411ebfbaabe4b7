"""The melody pairing: lyrics (X) -> music template (Y') -> melody (Y), TeleMelody's split.

Data, all bundled with music21 (no download):

- paired: Bach chorales whose soprano carries lyrics (verse 1), split train/valid/test by piece;
- unpaired (split ``unpaired``): folk tunes (essenFolksong, oneills1850, ryansMammoth,
  airdsAirs), optionally a user's folder of MIDI / MusicXML / ABC melodies; the regenerator
  also trains on the training chorales' sopranos (``chorales_unpaired``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from regen_core.contract import Metric, Spec, StageData

from .config import MelodyConfig
from .data import (
    cached_melodies, chorale_sources, corpus_available, default_num_proc, folder_sources, folk_sources, lyrics_of,
    melody_features,
)
from .errors import MelodyInputError, TemplateError

CHORALE_LANGUAGE = "de"  # the chorales' lyrics are German


def _pair_row(ex: dict[str, Any]) -> dict[str, Any]:
    return {"lyrics": lyrics_of(ex), "melody": {k: ex[k] for k in melody_features()}}


def _meter_ok(ex: dict[str, Any]) -> bool:
    from .theory import meter_info

    try:
        meter_info(ex["meter"])
        return True
    except TemplateError:
        return False


class MelodyPairing:
    """Lyrics -> TeleMelody template -> melody, against a direct lyrics -> melody baseline."""

    name: ClassVar[str] = "melody"
    x: ClassVar[Spec] = Spec("lyrics", "text", "str, English or German")
    y: ClassVar[Spec] = Spec("melody", "symbolic", "dict of per-note pitch/onset/duration/syllables + metre")
    y_prime: ClassVar[Spec] = Spec("template", "symbolic", "dict: mode, transpose, metre + per-note beat/chord/cadence")
    headline: ClassVar[str] = "PD"  # the comparisons' lead metric (regen study, bench)
    # regen train --init keeps it: the regenerator learned with (or without) the register condition, same shapes
    init_keeps: ClassVar[tuple[str, ...]] = ("template_register",)
    metrics_spec: ClassVar[tuple[Metric, ...]] = (
        Metric("TA", True, "tonality accuracy: melody's major/minor (C vs A weight) matches the template"),
        Metric("CA", True, "chord accuracy: share of notes in the template chord"),
        Metric("RA", True, "rhythm accuracy: share of onsets in the template's beat"),
        Metric("AA", True, "cadence accuracy: share of notes realising their cadence label (TeleMelody's rule)"),
        Metric("PD", True, "pitch-distribution overlap with the ground truth"),
        Metric("PDk", True, "PD with both melodies moved to C major / A minor by their own estimated key (not TeleMelody's)"),
        Metric("DD", True, "duration-distribution overlap with the ground truth"),
        Metric("MD", False, "melody distance: DTW of mean-centred pitch contours (semitones per step)"),
    )
    config_class: ClassVar[type] = MelodyConfig

    def __init__(self, config: MelodyConfig | None = None):
        self.config = config if config is not None else MelodyConfig()

    # -- data --------------------------------------------------------------------------------------

    def _num_proc(self) -> int:
        return self.config.num_proc or default_num_proc()

    def _pairs(self, melodies: Any) -> Any:
        import datasets
        from regen_core.data import fingerprint

        features = datasets.Features({"lyrics": datasets.Value("string"), "melody": melody_features()})
        usable = melodies.filter(_meter_ok, new_fingerprint=fingerprint(melodies._fingerprint, "meter-ok", "1"),
                                 desc="check metres")  # e.g. a '1/6' in O'Neill's collection
        return usable.map(_pair_row, remove_columns=usable.column_names, features=features,
                          new_fingerprint=fingerprint(usable._fingerprint, "pairs", "1"), desc="pair")

    def load_data(self) -> Any:
        """Splits train/valid/test (chorales, per piece) and unpaired (folk tunes, your folder)."""
        import datasets
        from regen_core.data import split

        cfg = self.config
        if not corpus_available():
            raise MelodyInputError("music21's bundled corpus is missing (a stripped install?): reinstall music21")
        chorales = cached_melodies("chorales", chorale_sources(cfg.n_chorales), num_proc=self._num_proc())
        splits = split(self._pairs(chorales), valid=cfg.valid, test=cfg.test, seed=cfg.split_seed)  # one row per piece
        unpaired = []
        if cfg.n_folk >= 0 and cfg.folk_collections:
            folk = cached_melodies(f"folk-{'-'.join(cfg.folk_collections)}", folk_sources(cfg.folk_collections, cfg.n_folk),
                                   num_proc=self._num_proc())
            unpaired.append(self._pairs(folk))
        if cfg.unpaired_folder:
            mine = cached_melodies(f"folder-{Path(cfg.unpaired_folder).name}", folder_sources(cfg.unpaired_folder),
                                   num_proc=self._num_proc())
            unpaired.append(self._pairs(mine))
        out = dict(splits)
        if unpaired:
            out["unpaired"] = datasets.concatenate_datasets(unpaired) if len(unpaired) > 1 else unpaired[0]
        return datasets.DatasetDict(out)

    # -- models ------------------------------------------------------------------------------------

    def build(self, stage: str, extractor: Any = None) -> Any:
        from .direct import LyricsToMelody
        from .extract import TemplateExtractor
        from .generate import LyricsToTemplate
        from .regenerate import TemplateToMelody

        cfg = self.config
        if stage == "extract":
            return TemplateExtractor()
        if stage == "generate":
            return LyricsToTemplate(cfg.generate_net, top_k=cfg.top_k, language=cfg.language, key_choice=cfg.key_choice,
                                     register_choice=cfg.register_choice, register_by_key=cfg.register_by_key)
        if stage == "regenerate":
            return TemplateToMelody(cfg.regenerate_net, top_k=cfg.top_k, decoding=cfg.decoding, register=cfg.template_register)
        if stage == "direct":
            return LyricsToMelody(cfg.direct_net, top_k=cfg.top_k, language=cfg.language, key_dropout=cfg.direct_key_dropout)
        raise ValueError(f"unknown stage {stage!r}; expected extract, generate, regenerate or direct")

    def _templates(self, ds: Any, extractor: Any) -> list[dict[str, Any]]:
        """Templates of the melodies of ``ds`` (cached by the core data layer, extracted in parallel)."""
        from regen_core.data import extract_map

        from .extract import VERSION

        def fn(y: dict[str, Any]) -> dict[str, Any]:
            t = extractor.extract(y)
            t.pop("syllables", None)  # the melody keeps them; an all-empty column would confuse type inference
            return t

        # One process: templates run at hundreds per second once parsed, and forking a process that
        # already runs torch threads can hang the workers.
        out = extract_map(ds.select_columns(["melody"]), fn, name="melody-template", version=VERSION,
                          input_column="melody", output_column="template", num_proc=1)
        return out["template"]

    def stage_data(self, stage: str, data: Any, extractor: Any) -> StageData:
        from .direct import LyricsToMelody
        from .extract import TemplateExtractor
        from .generate import collate_generate, rhythm_examples
        from .regenerate import TemplateToMelody, collate_aligned

        extractor = extractor if extractor is not None else TemplateExtractor()
        cfg = self.config

        def pairs(split_name: str) -> tuple[list[dict], list[dict]]:
            ds = data[split_name]
            return ds["melody"], self._templates(ds, extractor)

        if stage == "regenerate":
            reg = cfg.template_register

            def examples(ds: Any) -> list[dict]:
                return [e for y, t in zip(ds["melody"], self._templates(ds, extractor))
                        for e in TemplateToMelody.example(y, t, cfg.max_notes, reg)]

            train = examples(data["unpaired"]) if "unpaired" in data else []
            if cfg.chorales_unpaired or "unpaired" not in data:
                train += examples(data["train"]) * cfg.chorale_weight  # extracted once, repeated
            vm, vt = pairs("valid")
            valid = [e for y, t in zip(vm, vt) for e in TemplateToMelody.example(y, t, cfg.max_notes, reg)]
            return StageData(train, valid, collate_aligned)
        if stage == "generate":
            def build_set(name: str) -> list[dict]:
                mels, temps = pairs(name)
                return [e for e in (rhythm_examples(y, t, CHORALE_LANGUAGE) for y, t in zip(mels, temps)) if e]

            return StageData(build_set("train"), build_set("valid"), collate_generate)
        if stage == "direct":
            def build_direct(name: str) -> list[dict]:
                return [e for y in data[name]["melody"] for e in LyricsToMelody.example(y, CHORALE_LANGUAGE, cfg.max_notes)]

            return StageData(build_direct("train"), build_direct("valid"), collate_aligned)
        raise ValueError(f"stage {stage!r} has no training data: the template extractor is explicit")

    # -- judging and drawing -------------------------------------------------------------------------

    def metrics(self, prediction: Any, reference: Any, x: Any = None) -> dict[str, float]:
        from .metrics import melody_metrics

        return melody_metrics(prediction, reference)

    def visualise(self, folder: str | Path, name: str, *, x: Any, y_prime: Any, prediction: Any, reference: Any) -> list[Path]:
        """Piano roll (reference above, prediction below) + the prediction as MIDI and MusicXML."""
        from .render import piano_roll, write_midi, write_musicxml

        folder = Path(folder)
        title = str((x.get("lyrics", "") if isinstance(x, dict) else x) or "")[:80]
        paths = [piano_roll(folder / f"{name}.png", {"reference": reference, "prediction": prediction}, y_prime, title)]
        paths.append(write_midi(prediction, folder / f"{name}.mid", title))
        paths.append(write_musicxml(prediction, folder / f"{name}.musicxml", title))
        return paths

    def serve_tab(self, models: Any) -> None:
        """Its tab of ``regen serve`` (:mod:`regen_melody.serve`; gradio is imported there)."""
        from .serve import build_tab

        build_tab(self, models)
