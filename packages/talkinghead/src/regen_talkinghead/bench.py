"""``python -m regen_talkinghead.bench [--quick] --out DIR [--config bench] [--run RUN]``: writes DIR/bench.json.

Quick (no training; about a minute at the tiny preset):

1. fitter accuracy: the fitter's Y' of ``--n`` corpus videos against the true coefficients they
   were rendered from (mean and 95th-percentile absolute error per coefficient), the photometric
   residual, and its speed (CPU and wall ms per frame, batched as in training);
2. the face-less check: a blank video and a video whose frame 3 is noise must raise NoFaceError
   naming the frame;
3. renderer speed: the face model's renderer, the neural renderer (Y' -> frames) and the direct
   baseline (speech -> frames), ms per frame; the generator's sampling time per second of video
   (``--run``'s models, else untrained ones of the preset's size: the speed does not depend on training).

Full (adds): trains both sides ``--seeds`` times (training seeds 0, 1, 2: each stage's ``seed``)
at the preset's equal budgets (``bench``: training CPU seconds), evaluates each run on the test split (one sampling seed per run),
and writes the quality table regeneration vs direct with 95% t-intervals over the runs
(``quality`` in bench.json, and DIR/quality.md). The fitted Y' is cached, so the runs share it.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from regen_core.compare import compare_metric, cpu_seconds, fmt, train_stages
from regen_core.errors import cli_main


def bench_fitter(pairing: Any, videos: list[np.ndarray], truths: list[np.ndarray]) -> dict:
    from .face import Y_PRIME_NAMES

    fitter = pairing.fitter()
    c0, w0 = cpu_seconds(), time.perf_counter()
    res = fitter.fit(videos, check=False)
    cpu, wall = cpu_seconds() - c0, time.perf_counter() - w0
    frames = sum(len(v) for v in videos)
    err = np.concatenate([np.abs(a - b) for a, b in zip(res.y_prime, truths)])  # (frames, 14)
    resid = np.concatenate(res.residuals)
    return {
        "videos": len(videos), "frames": frames,
        "cpu_ms_per_frame": 1e3 * cpu / frames, "wall_ms_per_frame": 1e3 * wall / frames,
        "mean_abs_error": {n: float(e) for n, e in zip(Y_PRIME_NAMES, err.mean(0))},
        "p95_abs_error": {n: float(e) for n, e in zip(Y_PRIME_NAMES, np.percentile(err, 95, axis=0))},
        "residual_mean": float(resid.mean()), "residual_max": float(resid.max()),
        "settings": fitter.cache_config(),
        "units": "identity: z-scores; jaw, blink: 0..1; spread, brow: -1..1; yaw, pitch, roll: radians; tx, ty: half image widths",
    }


def bench_faceless(pairing: Any, video: np.ndarray) -> dict:
    from .extract import NoFaceError

    fitter = pairing.fitter()
    out = {}
    blank = np.full_like(video[:6], 128)
    noisy = video[:6].copy()
    noisy[3] = np.random.default_rng(0).integers(0, 256, noisy[3].shape)
    for name, v in (("blank_video", blank), ("noise_in_frame_3", noisy)):
        try:
            fitter.extract(v)
            out[name] = {"raised": False}
        except NoFaceError as err:
            out[name] = {"raised": True, "frame": err.frame, "message": str(err)}
    return out


def _per_frame(fn, n_frames: int, repeat: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return 1e3 * best / n_frames


def bench_speed(pairing: Any, models: dict, examples: list[dict], trained: bool) -> dict:
    from .face import N_ID, FaceModel

    cfg = pairing.config
    face = FaceModel(cfg.geometry())
    yp = torch.zeros(64, 14)
    yp[:, N_ID] = torch.linspace(0, 1, 64)
    with torch.no_grad():
        render_ms = _per_frame(lambda: face.render(yp[:, :N_ID], yp[:, N_ID:]), 64)
    ex = examples[0]
    y_prime = models["generate"].sample(ex["x"], seed=0)
    n = len(y_prime)
    gen_ms = _per_frame(lambda: models["generate"].sample(ex["x"], seed=0), n)
    regen_ms = _per_frame(lambda: models["regenerate"].sample(y_prime), n)
    direct_ms = _per_frame(lambda: models["direct"].sample(ex["x"], seed=0), n)
    secs = len(ex["x"]["audio"]) / cfg.sample_rate
    return {
        "face_model_render_ms_per_frame": render_ms, "neural_renderer_ms_per_frame": regen_ms,
        "generator_ms_per_frame": gen_ms, "direct_ms_per_frame": direct_ms,
        "regeneration_seconds_per_video_second": (gen_ms + regen_ms) * n / 1e3 / secs,
        "direct_seconds_per_video_second": direct_ms * n / 1e3 / secs,
        "frames": n, "models": "trained" if trained else "untrained (speed does not depend on the weights)",
        "timing": "best of 3 after a warm-up call, wall clock, batch 64 for the face model, whole video otherwise",
        "threads": torch.get_num_threads(),
    }


def train_run(config: str, out: Path, overrides: Sequence[str], data: Any = None) -> Path:
    """Train every stage with ``config`` into ``out`` (finished stages are kept: core's train_stages)."""
    from regen_core.pipeline import load_run_config

    from .pairing import TalkingHeadPairing

    run_cfg = load_run_config(TalkingHeadPairing, config, list(overrides))
    pairing = TalkingHeadPairing(run_cfg.pairing)
    train_stages(pairing, run_cfg, out, data=data, log=None)
    return out


def quality(config: str, out: Path, overrides: Sequence[str], seeds: Sequence[int]) -> dict:
    """Train + evaluate once per training seed; the table over the runs."""
    from regen_core.compare import run_budgets
    from regen_core.evaluate import evaluate
    from regen_core.pipeline import load_run, load_run_config

    from .pairing import TalkingHeadPairing

    runs = []
    data = None
    for s in seeds:
        ov = list(overrides) + [f"train.{st}.seed={s}" for st in ("generate", "regenerate", "direct")] + [f"evaluate.seeds=[{s}]"]
        run_cfg = load_run_config(TalkingHeadPairing, config, ov)
        if data is None:
            data = TalkingHeadPairing(run_cfg.pairing).load_data()
        c0, w0 = cpu_seconds(), time.perf_counter()
        run = train_run(config, out / f"run_seed{s}", ov, data)
        pairing, models = load_run(run)
        report = evaluate(pairing, models, data["test"], run_cfg.evaluate, run / "evaluation", budgets=run_budgets(run),
                          progress=False)
        runs.append({"seed": s, "report": report, "cpu_seconds": cpu_seconds() - c0, "wall_seconds": time.perf_counter() - w0})
        print(f"[bench] seed {s}: trained + evaluated in {runs[-1]['wall_seconds']:.0f} s wall", flush=True)
    table = []
    for m in runs[0]["report"]["metrics"]:
        name = m["name"]
        vals = {side: [next(x for x in r["report"]["metrics"] if x["name"] == name)[side]["mean"] for r in runs]
                for side in ("regeneration", "direct") if m.get(side)}
        if len(vals) < 2:
            continue
        table.append(compare_metric(name, m["higher_is_better"], vals, description=m["description"]))
    return {"seeds": list(seeds), "n_test": len(data["test"]) if runs[0]["report"]["n_test"] in (0, None) else runs[0]["report"]["n_test"],
            "metrics": table, "budgets": [r["report"]["budgets"] for r in runs],
            "run_seconds": [{"seed": r["seed"], "cpu": r["cpu_seconds"], "wall": r["wall_seconds"]} for r in runs],
            "interval": "95% t-interval over training runs (seeds 0..n-1; each run sampled with its own seed)"}


def quality_markdown(q: dict) -> str:
    f = fmt

    lines = [f"Regeneration vs direct, {len(q['seeds'])} training runs (seeds {q['seeds']}), {q['n_test']} test utterances each.",
             "", "| metric | better | regeneration | direct | difference [95% CI] | winner |", "|---|---|---|---|---|---|"]
    for m in q["metrics"]:
        d = m["difference"]
        ci = f" [{f(d['ci95'][0])}, {f(d['ci95'][1])}]" if d["ci95"] else ""
        lines.append(f"| {m['name']} | {'higher' if m['higher_is_better'] else 'lower'} | {f(m['regeneration']['mean'])} "
                     f"| {f(m['direct']['mean'])} | {f(d['mean'])}{ci} | {m['winner']} |")
    lines += ["", "| run | side | parameters | steps | training s (wall) | training s (CPU) |", "|---|---|---|---|---|---|"]
    for seed, b in zip(q["seeds"], q["budgets"]):
        for side, v in b.items():
            lines.append(f"| {seed} | {side} | {v['parameters']} | {v['steps']} | {f(v.get('seconds'))} | {f(v.get('cpu_seconds'))} |")
    return "\n".join(lines) + "\n"


# -- real faces ------------------------------------------------------------------------------------------------


def bench_fit_real(detector: Any, model: Any, smooth: int) -> dict:
    """Fit error of the 68-point 3D face model on real faces, and the extractor's jitter on the real clip."""
    from skimage import data as skdata

    from .face3d import fit_error, fit_points, fit_track, jitter, lfw_landmarks, project
    from .photo import carphone

    out: dict[str, Any] = {}
    astro = detector.detect(skdata.astronaut()).points
    out["astronaut"] = fit_error(model, fit_points(model, astro), astro)
    pts, used = lfw_landmarks(range(50, 100), detector)  # faces 50-99: not used to derive the model
    errs = [fit_error(model, fit_points(model, p), p) for p in pts]
    out["lfw_50_99"] = {"faces_detected": len(used), "of": 50, "upscaled": "25x25 -> 200x200 (bicubic)",
                        **{k: float(np.mean([e[k] for e in errs])) for k in errs[0]},
                        "iod_worst_face": float(np.max([e["iod"] for e in errs]))}
    frames, fps = carphone()
    c0 = time.perf_counter()
    track, lost = detector.track(frames, name="carphone")
    c1 = time.perf_counter()
    raw, smooth_y = fit_track(model, track, smooth=smooth)
    c2 = time.perf_counter()
    out["carphone"] = {"frames": len(frames), "fps": fps, "face_lost_frames_interpolated": lost,
                       "raw_fit": fit_error(model, raw, track), "smoothed_fit": fit_error(model, smooth_y, track),
                       "landmark_ms_per_frame": 1e3 * (c1 - c0) / len(frames), "fit_ms_per_frame": 1e3 * (c2 - c1) / len(frames),
                       "mouth_opening_range": [float(v) for v in np.percentile(__import__("regen_talkinghead.landmarks", fromlist=["x"]).mouth_opening(track), [5, 95])]}
    out["carphone_personal_shape"] = carphone_personal_fit(model, track, smooth)
    out["jitter"] = {"what": "mean |second difference| of the 68 landmarks per frame, over the inter-ocular distance",
                     "detected_landmarks": jitter(track), "fit_raw": jitter(project(model, raw)),
                     "fit_smoothed": jitter(project(model, smooth_y)), "smoothing": f"Savitzky-Golay, window {smooth}, order 2"}
    return out


def carphone_personal_fit(model: Any, track: np.ndarray, smooth: int, train_share: float = 0.6) -> dict:
    """The carphone fit with the person's own shape (:func:`.face3d.personal_model`: identity + a depth offset
    per landmark, solved over the frames): in-sample over all frames, and held out (shape from the first
    ``train_share`` of the frames, error on the rest, against the median-identity fit on the same frames)."""
    from .face3d import fit_error, fit_points, fit_track, personal_model

    c0 = time.perf_counter()
    pm, ident = personal_model(model, track)
    seconds = time.perf_counter() - c0
    raw, sm = fit_track(pm, track, smooth=smooth, ident=ident)
    cut = int(len(track) * train_share)
    pm_a, ident_a = personal_model(model, track[:cut])
    base_a = np.median(np.stack([fit_points(model, p) for p in track[:cut]])[:, : len(ident)], 0)
    held = track[cut:]
    return {"what": "identity + per-landmark depth solved over the clip's frames (8 rounds, depth ridge 0.1)",
            "seconds": seconds, "raw_fit": fit_error(pm, raw, track), "smoothed_fit": fit_error(pm, sm, track),
            "held_out": {"shape_from_frames": f"0-{cut - 1}", "measured_on_frames": f"{cut}-{len(track) - 1}",
                         "personal_shape_smoothed": fit_error(pm_a, fit_track(pm_a, held, smooth=smooth, ident=ident_a)[1], held),
                         "median_identity_smoothed": fit_error(model, fit_track(model, held, smooth=smooth, ident=base_a)[1], held)}}


def bench_animate_real(pairing: Any, models: dict, *, speakers: Sequence[str], numbers: Sequence[str]) -> dict:
    """animate on skimage's astronaut with FSDD phone numbers: speed, identity, lip sync (re-detected landmarks)."""
    from skimage import data as skdata

    from .animate import PhotoAnimator
    from .data import phone_number_speech
    from .landmarks import LandmarkDetector
    from .metrics import SAME_PERSON, FaceEmbedder, identity_distance, lipsync_real
    from .photo import Photo

    cfg = pairing.config
    animator = PhotoAnimator(pairing, models, verbose=False)
    judge = LandmarkDetector(cfg.landmark_backend, verbose=False)
    try:
        embedder = FaceEmbedder(judge)
    except Exception as e:  # the recogniser's model file is optional
        embedder, why = None, f"{type(e).__name__}: {e}"
    photo = Photo(skdata.astronaut(), "astronaut")
    t0 = time.perf_counter()
    face = animator.prepare(photo)
    prep = time.perf_counter() - t0
    rows, best = [], None
    for spk, num in zip(speakers, numbers):
        audio = phone_number_speech(num, spk, sample_rate=cfg.sample_rate)
        t0 = time.perf_counter()
        frames, y, stages = animator.run(face, audio, seed=0)
        wall = time.perf_counter() - t0
        dur = len(audio) / cfg.sample_rate
        pts, lost = judge.track(frames, max_gap=len(frames), name="output")
        row = {"speaker": spk, "digits": num, "seconds": dur, "frames": len(frames), "rtf": (wall + prep) / dur,
               "rtf_without_photo_fit": wall / dur, "stage_seconds": stages,
               "output_frames_face_lost": len(lost), **{f"lipsync_{k}": v for k, v in lipsync_real(pts, audio, cfg.sample_rate, cfg.fps).items()}}
        if embedder is not None:
            d = identity_distance(embedder, face.crop, frames, pts)
            row.update(identity_mean=float(d.mean()), identity_max=float(d.max()))
        rows.append(row)
        if best is None:
            best = (frames, audio)
    out = {"photo": "skimage.data.astronaut (512x512)", "size": cfg.real_size, "load_seconds": animator.load_seconds,
           "photo_fit_seconds": prep, "runs": rows,
           "lipsync_corr_mean": float(np.mean([r["lipsync_corr"] for r in rows])),
           "silent_closed_mean": float(np.nanmean([r["lipsync_silent_closed"] for r in rows])),
           "rtf_mean": float(np.mean([r["rtf"] for r in rows])),
           "envelope": "RMS of the 80-1000 Hz band in 80 ms windows at 25 fps; silent: 30 dB below the peak; closed: inner-lip gap < 0.08 IOD"}
    if embedder is not None:
        out.update(identity_mean=float(np.mean([r["identity_mean"] for r in rows])),
                   identity_worst_frame=float(np.max([r["identity_max"] for r in rows])), same_person_threshold=SAME_PERSON)
    else:
        out["identity"] = f"not measured: {why}"
    # stability: the output's landmark jitter on a still input (near-silent audio: a whisper of noise)
    from .face3d import jitter

    still = np.random.default_rng(0).normal(0, 1e-4, 4 * cfg.sample_rate).astype(np.float32)
    frames, _, _ = animator.run(face, still, seed=0)
    pts, _ = judge.track(frames, max_gap=len(frames), name="still output")
    out["still_input_output_jitter"] = jitter(pts)
    return out


def real_strips(pairing: Any, models: dict, folder: Path, *, lfw_index: int = 72) -> list[Path]:
    """PNG strips (and MP4s) of animate on skimage's astronaut saying a phone number (FSDD, jackson) and on an
    LFW face (25x25 grey, upscaled 8x) saying another (theo): 12 frames each, the mouth crop enlarged below."""
    import cv2
    from skimage import data as skdata

    from .animate import PhotoAnimator
    from .data import phone_number_speech
    from .photo import Photo, to_rgb8
    from .video import strip_png, write_mp4

    cfg = pairing.config
    animator = PhotoAnimator(pairing, models, verbose=False)
    lfw = cv2.resize((skdata.lfw_subset()[lfw_index] * 255).astype(np.uint8), (200, 200), interpolation=cv2.INTER_CUBIC)
    cases = [("astronaut", skdata.astronaut(), "5550123", "jackson"), (f"lfw{lfw_index}", to_rgb8(lfw)[0], "8675309", "theo")]
    paths = []
    for name, rgb, digits, speaker in cases:
        audio = phone_number_speech(digits, speaker, sample_rate=cfg.sample_rate)
        face = animator.prepare(Photo(rgb, name))
        frames, _, _ = animator.run(face, audio, seed=0)
        write_mp4(folder / f"{name}.mp4", frames, cfg.fps, audio=audio, sample_rate=cfg.sample_rate)
        # the frames around the third digit, densely, and the mouth enlarged
        mouth = face.points[48:68]
        c = mouth.mean(0).round().astype(int)
        h = int(max(24, 0.9 * (mouth[:, 0].max() - mouth[:, 0].min())))
        y0, x0 = max(0, c[1] - h // 2), max(0, c[0] - h)
        crops = np.stack([cv2.resize(f[y0 : y0 + h, x0 : x0 + 2 * h], (256, 128)) for f in frames])
        paths.append(strip_png(folder / f"{name}_strip.png", [("frames", frames), ("mouth", crops)], n=12, fps=cfg.fps,
                               title=f"{name} saying {digits} (FSDD speaker {speaker}, real speech); regen_talkinghead.animate",
                               width=1.5))
    return paths


def bench_realface(pairing: Any, models: dict, speakers: Sequence[str]) -> dict:
    """The real-face section of bench.json (targets in the README)."""
    from .face3d import load_model
    from .landmarks import LandmarkDetector

    detector = LandmarkDetector(pairing.config.landmark_backend, verbose=False)
    res = {"fit": bench_fit_real(detector, load_model(), pairing.config.real_smooth)}
    print(json.dumps(res["fit"], indent=2))
    numbers = ["5550123", "2718281", "3141592", "8675309", "4046613"]
    from regen_core.data import DataError

    try:
        res["animate"] = bench_animate_real(pairing, models, speakers=speakers, numbers=numbers[: len(speakers)])
    except DataError as err:  # FSDD absent: the fit figures stand, the speech figures are not measured
        res["animate"] = {"not_measured": str(err)}
    print(json.dumps(res["animate"], indent=2))
    return res


@cli_main("python -m regen_talkinghead.bench")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_talkinghead.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="no training: fitter accuracy and speed, renderer speed")
    p.add_argument("--out", required=True, help="folder for bench.json (and the full bench's runs)")
    p.add_argument("--config", default=None, help="preset or YAML (default: tiny for --quick, bench for the full bench)")
    p.add_argument("--run", help="a trained run folder to time (quick bench)")
    p.add_argument("--n", type=int, default=16, help="videos for the fitter measurement")
    p.add_argument("--seeds", type=int, default=3, help="full bench: training runs (seeds 0..N-1)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--real", action="store_true", help="only the real-face section (with --run, or a tiny run trained here)")
    p.add_argument("--speakers", default="jackson,theo,nicolas,george,yweweler", help="FSDD speakers of the lip-sync check")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from regen_core.pipeline import load_run, load_run_config

    from .extract import to_unit
    from .pairing import TalkingHeadPairing

    config = args.config or ("tiny" if args.quick else "bench")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start, c_start = time.perf_counter(), cpu_seconds()
    result: dict[str, Any] = {"machine": {"python": platform.python_version(), "torch": torch.__version__,
                                          "threads": torch.get_num_threads(), "processor": platform.processor()},
                              "quick": args.quick, "config": config, "overrides": list(args.overrides)}
    if args.real:
        run = Path(args.run) if args.run else train_run("tiny", out / "run-tiny", args.overrides)
        pairing, models = load_run(run)
        result["realface"] = bench_realface(pairing, models, args.speakers.split(","))
        if "not_measured" not in result["realface"]["animate"]:
            result["realface"]["strips"] = [str(p) for p in real_strips(pairing, models, out)]
        result["bench_wall_seconds"] = time.perf_counter() - t_start
        (out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out / 'bench.json'}")
        return 0
    if args.run:
        pairing, models = load_run(args.run)
    else:
        pairing = TalkingHeadPairing(load_run_config(TalkingHeadPairing, config, args.overrides).pairing)
        torch.manual_seed(0)
        ext = pairing.build("extract")
        models = {"extract": ext, **{s: pairing.build(s, ext).eval() for s in ("generate", "regenerate", "direct")}}
    data = pairing.load_data()
    pool = data["train"]
    n = min(args.n, len(pool))
    videos = [to_unit(pool[i]["video"]) for i in range(n)]
    truths = [np.asarray(pool[i]["true_y_prime"], np.float32) for i in range(n)]
    # 1-2. The fitter.
    result["fitter"] = bench_fitter(pairing, videos, truths)
    print(json.dumps({k: result["fitter"][k] for k in ("frames", "cpu_ms_per_frame", "wall_ms_per_frame", "mean_abs_error")}, indent=2))
    result["faceless"] = bench_faceless(pairing, (videos[0] * 255).round().astype(np.uint8))
    print(json.dumps(result["faceless"], indent=2))
    # 3. Speeds.
    test = data["test"]
    result["speed"] = bench_speed(pairing, models, [test[i] for i in range(min(2, len(test)))], trained=bool(args.run))
    print(json.dumps(result["speed"], indent=2))
    if not args.quick:
        q = quality(config, out, args.overrides, list(range(args.seeds)))
        result["quality"] = q
        (out / "quality.md").write_text(quality_markdown(q), encoding="utf-8")
        print(quality_markdown(q))
        pairing_r, models_r = load_run(out / f"run_seed{q['seeds'][0]}")
        result["realface"] = bench_realface(pairing_r, models_r, args.speakers.split(","))
    result["bench_wall_seconds"] = time.perf_counter() - t_start
    result["bench_cpu_seconds"] = cpu_seconds() - c_start
    (out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
