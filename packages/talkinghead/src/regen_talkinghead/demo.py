"""``python -m regen_talkinghead.demo --out DIR``: the talking-head demo of ``make demo``.

1. builds the synthetic talking-face corpus of the ``tiny`` preset (espeak-ng speech + rendered
   faces; cached) and fits the face model to its training videos (Y', cached);
2. trains both sides at equal training CPU time (generate 10 s + regenerate 20 s vs direct 30 s,
   ``max_cpu_seconds`` each, scaled by ``--budget-scale``);
3. evaluates regeneration vs direct on held-out utterances (3 seeds): ``DIR/evaluation/report.md``,
   MP4s (with the speech) and PNG strips per side under ``DIR/evaluation/examples``;
4. writes, for the first test utterances, a side-by-side MP4 (reference | regeneration | direct)
   with the speech and a PNG strip with the three rows: ``DIR/compare/``;
5. animates a new sentence (spoken by espeak-ng) on a face it has never seen, both sides:
   ``DIR/samples/``;
6. animates a real photo (scikit-image's astronaut) saying a phone number joined from FSDD's real
   recordings (the espeak-ng sentence when FSDD is absent, and it says so), 256x256 colour:
   ``DIR/real/astronaut.mp4`` + ``astronaut.png``.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from regen_core.cli_common import demo_overrides, demo_parser, parse, set_threads
from regen_core.errors import cli_main

DEMO_TEXT = "Please call me back before the morning meeting."


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def real_photo(pairing, models, folder: Path, fallback_wav: Path, digits: str = "5550123") -> Path:
    """Animate scikit-image's astronaut with a phone number from FSDD (or ``fallback_wav``); MP4 + PNG strip."""
    from regen_core.data import DataError
    from regen_speech.audio import load_audio
    from skimage import data as skdata

    from .data import phone_number_speech
    from .photo import Photo
    from .showcase import animate_photo

    cfg = pairing.config
    try:
        audio = phone_number_speech(digits, "jackson", sample_rate=cfg.sample_rate)
        said = f"FSDD speaker jackson saying {digits}"
    except DataError as err:
        audio = load_audio(str(fallback_wav), cfg.sample_rate, verbose=False).audio
        said = f"the espeak-ng sentence (FSDD not available: {err})"
    print(f"[demo] real photo: skimage's astronaut, speech: {said}", flush=True)
    outputs = animate_photo(pairing, models, Photo(skdata.astronaut(), "astronaut"), audio, said, folder / "astronaut.mp4")
    print(f"[demo] {outputs[0].path}: {outputs[0].what}; strip {outputs[1].path}", flush=True)
    return outputs[0].path


@cli_main("python -m regen_talkinghead.demo")
def main(argv: Sequence[str] | None = None) -> int:
    p = demo_parser("python -m regen_talkinghead.demo", __doc__, default_config="tiny")
    p.add_argument("--text", default=DEMO_TEXT, help="the sentence animated in DIR/samples")
    p.add_argument("--n-compare", type=int, default=2, help="test utterances in DIR/compare")
    args = parse(p, argv)
    set_threads(args.threads)
    from regen_core.contract import regenerate_pipeline
    from regen_core.compare import run_budgets
    from regen_core.evaluate import evaluate
    from regen_core.pipeline import load_run, load_run_config
    from regen_speech.audio import save_wav
    from regen_speech.espeak import synthesize

    from .animate import animate, load_condition
    from .bench import train_run
    from .extract import to_unit
    from .pairing import TalkingHeadPairing
    from .video import side_by_side, strip_png, write_mp4

    out = Path(args.out)
    t0, c0 = time.perf_counter(), _cpu()
    phases: dict[str, float] = {}
    overrides = demo_overrides(TalkingHeadPairing, args)
    run_cfg = load_run_config(TalkingHeadPairing, args.config, overrides)
    # 1. Corpus.
    print("[demo] corpus (espeak-ng speech + rendered faces) ...", flush=True)
    pairing = TalkingHeadPairing(run_cfg.pairing)
    data = pairing.load_data()
    phases["corpus"] = time.perf_counter() - t0
    print(f"[demo] corpus: {sum(len(d) for d in data.values())} utterances in {phases['corpus']:.0f} s", flush=True)
    # 2. Fitting + training (finished stages are kept when the demo is run again).
    print(f"[demo] fitting the face model and training into {out / 'run'} ...", flush=True)
    run = train_run(args.config, out / "run", overrides, data)
    phases["fit_and_train"] = time.perf_counter() - t0 - phases["corpus"]
    print(f"[demo] fitting + training: {phases['fit_and_train']:.0f} s", flush=True)
    pairing, models = load_run(run)
    # 3. Evaluation.
    print("[demo] evaluating regeneration vs direct ...", flush=True)
    t_eval = time.perf_counter()
    evaluate(pairing, models, data["test"], run_cfg.evaluate, out / "evaluation", budgets=run_budgets(run), progress=False)
    phases["evaluation"] = time.perf_counter() - t_eval
    # 4. Side by side on test utterances.
    t_cmp = time.perf_counter()
    cfg = pairing.config
    test = data["test"]
    for i in range(min(args.n_compare, len(test))):
        ex = test[i]
        ref = to_unit(ex["video"])
        regen = np.asarray(regenerate_pipeline(ex["x"], models["generate"], models["regenerate"], seed=0).y)
        direct = models["direct"].sample(ex["x"], seed=0)
        uid = str(ex["id"])
        _, note = write_mp4(out / "compare" / f"{uid}.mp4", side_by_side([ref, regen, direct]), cfg.fps,
                            audio=ex["x"]["audio"], sample_rate=cfg.sample_rate)
        strip_png(out / "compare" / f"{uid}.png", [("reference", ref), ("regeneration", regen), ("direct", direct)],
                  fps=cfg.fps, title=str(ex["text"]))
        print(f"[demo] {out / 'compare' / (uid + '.mp4')}: reference | regeneration | direct ({note})", flush=True)
    # 5. A new sentence on an unseen face.
    speech = synthesize(args.text, cfg.corpus_speakers[0])
    wav = save_wav(out / "samples" / "speech.wav", speech.audio, speech.sample_rate)
    x, _ = load_condition(pairing, str(wav), None, identity_seed=12345, verbose=True)
    videos = {}
    for side in ("regeneration", "direct"):
        videos[side], _ = animate(pairing, models, x, side=side, seed=0)
        write_mp4(out / "samples" / f"{side}.mp4", videos[side], cfg.fps, audio=x["audio"], sample_rate=cfg.sample_rate)
    still = np.repeat(to_unit(x["reference"])[None], len(videos["regeneration"]), 0)  # as long as the videos
    strip_png(out / "samples" / "strip.png", [("reference face", still), *videos.items()], fps=cfg.fps, title=args.text)
    phases["outputs"] = time.perf_counter() - t_cmp
    # 6. A real photo.
    t_real = time.perf_counter()
    real_photo(pairing, models, out / "real", wav)
    phases["real_photo"] = time.perf_counter() - t_real
    print((out / "evaluation" / "report.md").read_text())
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    print("[demo] phases (wall s): " + ", ".join(f"{k} {v:.0f}" for k, v in phases.items()))
    print(f"[demo] done in {wall:.0f} s wall ({cpu:.0f} s CPU): report {out / 'evaluation' / 'report.md'}, "
          f"videos + strips in {out / 'evaluation' / 'examples'}, {out / 'compare'}, {out / 'samples'} and {out / 'real'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
