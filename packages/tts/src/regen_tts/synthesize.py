"""``python -m regen_tts.synthesize --text "..." [--speaker S] [--model MODEL] --out x.wav``.

``--model`` is ``pretrained`` (the default: the model this package ships), a run folder (``regen compare`` / ``regen train`` output: uses generate + regenerate,
or direct with ``--side direct``) or one model folder (``.../generate/final``: its regenerator is
taken from the sibling ``regenerate/final``, else Griffin-Lim; ``.../direct/final``: the direct
baseline); ``--vocoder DIR`` takes the regenerator from another model folder (a vocoder trained on
FSDD or on any folder of audio, with the same mel settings). Long text is split into sentences and
spoken in turn. Prints the output path, the audio length and the real-time factor.

``--backend onnx`` runs an ONNX export with onnxruntime instead (``--model`` is the export folder,
or a run folder, which is exported to ``RUN/onnx`` first); see :mod:`regen_tts.onnx_backend`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from regen_core.errors import RegenError, cli_main


class SynthesizeError(RegenError, ValueError):
    """The model folder cannot synthesise (missing stages, not a TTS model)."""


MEL_FIELDS = ("sample_rate", "n_fft", "hop", "win", "n_mels", "fmin", "mel_fmax")  # what a vocoder and a generator must share


def load_vocoder(folder: str | Path, pairing: Any) -> Any:
    """A ``regenerate`` model folder trained elsewhere (e.g. on FSDD or any audio folder) for ``pairing``'s mels."""
    from regen_core.pipeline import load_model

    vpairing, stage, model = load_model(folder)
    if stage != "regenerate" or vpairing.name != "tts":
        raise SynthesizeError(f"--vocoder {folder} holds a {vpairing.name!r} {stage!r} model, not a tts regenerate (vocoder) one")
    if pairing.name != "tts":
        raise SynthesizeError(f"--vocoder needs a mel-spectrogram ('tts') model, not {pairing.name!r}")
    differ = [f"{k} {getattr(vpairing.config, k)} vs {getattr(pairing.config, k)}" for k in MEL_FIELDS
              if getattr(vpairing.config, k) != getattr(pairing.config, k)]
    if differ:
        raise SynthesizeError(f"--vocoder {folder} was trained on other mels than the generator's: {'; '.join(differ)}")
    return model


def load_for_synthesis(model: str | Path, side: str = "regeneration",
                       vocoder: str | Path | None = None) -> tuple[Any, dict[str, Any]]:
    """(pairing, {"generate", "regenerate"} or {"direct"}) from a run folder or a model folder.

    ``vocoder``: a ``regenerate`` model folder to use instead of the run's own regenerator.
    """
    from regen_core.pipeline import load_model, load_run

    folder = Path(model)
    if not folder.exists():
        raise SynthesizeError(f"--model {folder} does not exist")
    if (folder / "run_config.json").exists():
        pairing, models = load_run(folder)
        stage_folder = folder / "regenerate" / "final"
    else:
        pairing, stage, m = load_model(folder)
        models = {stage: m}
        stage_folder = folder.parent.parent / "regenerate" / "final"
        if stage == "generate" and stage_folder.exists():
            _, _, models["regenerate"] = load_model(stage_folder, pairing=pairing)
    if not pairing.name.startswith("tts"):
        raise SynthesizeError(f"{folder} holds a {pairing.name!r} model, not a TTS one")
    if "generate" in models and "regenerate" not in models and vocoder is None:
        if pairing.name == "tts":  # no trained vocoder: the explicit inverse, and say so
            from .regenerate import GriffinLim

            print(f"[synthesize] no {stage_folder}: using Griffin-Lim", file=sys.stderr)
            models["regenerate"] = GriffinLim(pairing.log_mel(), pairing.config.gl_iters)
        else:  # tts-codec: the regenerator is the frozen decoder of the codec the generator was trained on
            from regen_core.pipeline import load_extractor

            extractor = models.get("extract")
            if extractor is None:  # a model folder: its run's extract stage (an error names it when missing)
                extractor = load_extractor(pairing, stage_folder.parent.parent)
            models["regenerate"] = pairing.build("regenerate", extractor)
    if vocoder is not None and side == "regeneration":
        models["regenerate"] = load_vocoder(vocoder, pairing)
    need = ("generate", "regenerate") if side == "regeneration" else ("direct",)
    missing = [s for s in need if s not in models]
    if missing:
        raise SynthesizeError(f"{folder} has no trained {', '.join(missing)} stage (needed for --side {side})")
    return pairing, models


def synthesize(pairing: Any, models: dict[str, Any], text: str, speaker: str | None, *, side: str = "regeneration",
               seed: int = 0, temperature: float = 1.0) -> tuple[np.ndarray, Any]:
    """Text -> (waveform, Y' or None)."""
    x = {"text": text, "speaker": speaker or pairing.speakers[0]}
    if side == "regeneration":
        y_prime = models["generate"].sample(x, seed=seed, temperature=temperature)
        return models["regenerate"].sample(y_prime, seed=seed + 1, temperature=temperature), y_prime
    return models["direct"].sample(x, seed=seed, temperature=temperature), None


def onnx_folder(model: str | Path) -> Path:
    """``--backend onnx``'s ``--model``: an export folder as is; a run folder is exported to RUN/onnx (once)."""
    from .onnx_backend import OnnxError, is_export

    from regen_core.pretrained import PROVENANCE

    folder = Path(model)
    if is_export(folder):
        return folder
    target = folder / "onnx"
    if (folder / PROVENANCE).is_file():  # a packaged model's folder is not written to: export into the cache
        import hashlib

        from regen_core.data import cache_dir

        key = hashlib.sha256((folder / PROVENANCE).read_bytes()).hexdigest()[:16]
        target = cache_dir() / "onnx" / f"{folder.name}-{key}"
    if is_export(target):
        return target
    if not (folder / "run_config.json").exists():
        raise OnnxError(f"--model {folder} is neither an ONNX export (manifest.json) nor a run folder")
    from .export import export_run, summary

    manifest = export_run(folder, target)
    print(f"[synthesize] {summary(manifest, target)}", file=sys.stderr)
    return target


def main_onnx(args: argparse.Namespace) -> tuple[np.ndarray, Any, Any, float]:
    """``--backend onnx``: -> (waveform, Y' or None, the OnnxTTS, seconds); no torch on the inference path."""
    from .onnx_backend import OnnxError, OnnxTTS

    if args.vocoder is not None:
        raise OnnxError("--vocoder is not supported with --backend onnx (export the run that holds that vocoder)")
    tts = OnnxTTS(onnx_folder(args.model), threads=args.threads)
    if args.list_speakers:
        print("\n".join(tts.speakers))
        return np.zeros(0, np.float32), None, tts, 0.0
    tts.load(args.side)  # sessions are opened before the clock starts, as the PyTorch models are loaded
    t0 = time.perf_counter()
    wave, y_prime = tts.synthesize(args.text, args.speaker, side=args.side, seed=args.seed, temperature=args.temperature)
    return wave, y_prime, tts, time.perf_counter() - t0


@cli_main("python -m regen_tts.synthesize")
def main(argv: Sequence[str] | None = None) -> int:
    from regen_core.atomic import check_output_file
    from regen_core.cli_common import add_model_arg, model_folder
    from regen_core.errors import OutputPathError
    from regen_speech.audio import WRITE_FORMATS, save_wav

    p = argparse.ArgumentParser(prog="python -m regen_tts.synthesize", description=__doc__.split("\n\n")[0])
    p.add_argument("--text", help="what to say (numbers, abbreviations are read out); required unless --list-speakers")
    p.add_argument("--speaker", default=None, help="speaker name (default: the model's first); see --list-speakers")
    add_model_arg(p, "tts", what=" (or one of its generate/final, direct/final folders)")
    p.add_argument("--out", help="output WAV path; required unless --list-speakers")
    p.add_argument("--side", choices=("regeneration", "direct"), default="regeneration")
    p.add_argument("--vocoder", default=None, help="a regenerate/final folder trained elsewhere (same mel settings)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=1.0, help="0 = the mode (mean durations and pitch)")
    p.add_argument("--png", action="store_true", help="also write OUT.png with the log-mel")
    p.add_argument("--list-speakers", action="store_true", help="print the model's speakers and exit")
    p.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                   help="onnx: run an ONNX export (or export the run to RUN/onnx first) with onnxruntime")
    p.add_argument("--threads", type=int, default=1,
                   help="--backend onnx: onnxruntime intra-op threads (0 = its default, all cores; the small models "
                        "run fastest on one)")
    args = p.parse_args(argv)
    if not args.list_speakers and (args.text is None or args.out is None):
        p.error("--text and --out are required (unless --list-speakers)")
    args.model = model_folder(args.model, "tts")
    if args.out is not None:  # refused before any work: a folder, or an extension the audio is not written as
        check_output_file(args.out)
        if Path(args.out).suffix.lower() not in WRITE_FORMATS:
            raise OutputPathError(f"--out {args.out}: audio is written as {' or '.join(WRITE_FORMATS)} (the format "
                                  f"follows the extension)")
    if args.backend == "onnx":
        wave, y_prime, tts, seconds = main_onnx(args)
        if args.list_speakers:
            return 0
        sr = tts.sample_rate
        out = save_wav(args.out, np.clip(wave, -1, 1), sr)
        if args.png and y_prime is not None:
            from .plots import mel_comparison

            mel_comparison(Path(args.out).with_suffix(".png"), [("Y' (generated log-mel, onnxruntime)", y_prime)],
                           title=args.text[:100], hop_s=tts.manifest["features"]["hop"] / sr)
        audio_s = len(wave) / sr
        print(f"{out}: {audio_s:.2f} s of audio in {seconds:.2f} s (real-time factor {seconds / max(audio_s, 1e-9):.3f}, "
              "onnxruntime)")
        return 0
    pairing, models = load_for_synthesis(args.model, args.side, args.vocoder)
    if args.list_speakers:
        print("\n".join(pairing.speakers))
        return 0
    t0 = time.perf_counter()
    wave, y_prime = synthesize(pairing, models, args.text, args.speaker, side=args.side, seed=args.seed,
                               temperature=args.temperature)
    seconds = time.perf_counter() - t0
    out = save_wav(args.out, np.clip(wave, -1, 1), pairing.config.sample_rate)
    if args.png:
        from .plots import mel_comparison

        panels = [("output", pairing.judge.logmel(wave))]
        if y_prime is not None and np.asarray(y_prime).dtype.kind == "f":
            panels.append(("Y' (generated log-mel)", np.asarray(y_prime)))
        mel_comparison(Path(args.out).with_suffix(".png"), panels, title=args.text[:100],
                       hop_s=pairing.config.hop / pairing.config.sample_rate)
    audio_s = len(wave) / pairing.config.sample_rate
    print(f"{out}: {audio_s:.2f} s of audio in {seconds:.2f} s (real-time factor {seconds / max(audio_s, 1e-9):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
