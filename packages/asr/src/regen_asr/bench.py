"""Benchmark: regeneration vs direct ASR as paired data gets scarce, with a peer system alongside.

    python -m regen_asr.bench --quick --out DIR          # toy sizes, seconds: checks the machinery
    python -m regen_asr.bench --out DIR [--sizes 100 500 0] [--seeds 0 1 2] [--config bench] [key=value ...]

Steps:

1. train the extractor's neural G2P once (shared by every run) and score it on held-out CMUdict words;
2. for each number of paired utterances (0 = all) and seed, train the phoneme CTC (generate) and
   the character CTC (direct) with the same encoder and the same budget;
3. per seed, train the P2G on text only (it never sees audio, so it does not depend on the number
   of paired utterances);
4. measure WER, CER, PER, P2G-from-gold WER and real-time factor of both sides on the same
   held-out-voice test utterances (after one untimed warm-up utterance); for the first seed, the
   same trained P2G is also scored in the other decoding mode (lexicon + LM vs the seq2seq alone);
5. (full run) pocketsphinx, a peer recogniser with its own English model, on the same test audio.

Everything lands in ``DIR/bench.json`` (and the trained runs under ``DIR/runs``).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from regen_core.errors import cli_main


def pocketsphinx_scores(test: Any, sample_rate: int, n: int = 0) -> dict[str, Any]:
    """WER / CER / RTF of pocketsphinx's bundled US-English model on the same test audio."""
    from regen_core.data import take
    from regen_speech.peers import PeerMissingError, PocketSphinx

    from .metrics import cer, wer
    from .vocab import normalise

    try:
        peer = PocketSphinx()
    except PeerMissingError as err:
        return {"available": False, "reason": str(err)}
    test = take(test, n)
    audio_ds = test.with_format("numpy", columns=["audio"])
    hyps, secs, audio_secs = [], 0.0, 0.0
    for i in range(len(test)):
        audio = np.asarray(audio_ds[i]["audio"], dtype=np.float32)
        audio_secs += len(audio) / sample_rate
        t0 = time.perf_counter()
        text = peer.transcribe(audio, sample_rate)
        secs += time.perf_counter() - t0
        hyps.append(normalise(text) if text else "")
    refs = list(test["text"])
    return {"available": True, "model": peer.model,
            "wer": wer(refs, hyps), "cer": cer(refs, hyps), "rtf": secs / audio_secs, "n_test": len(refs),
            "examples": [{"reference": r, "pocketsphinx": h} for r, h in list(zip(refs, hyps))[:3]]}


def _other_mode_report(pairing: Any, models: dict[str, Any], test: Any, n_test: int) -> dict[str, Any]:
    """The same trained P2G decoded in the other mode (lexicon <-> seq2seq), on the same test utterances."""
    from .evaluate import asr_report

    p2g = models["regenerate"]
    mode = p2g.settings.mode
    p2g.settings = dataclasses.replace(p2g.settings, mode="seq2seq" if mode == "lexicon" else "lexicon")
    try:
        rep = asr_report(pairing, models, test, n=n_test, g2p_words=0, examples=0)
    finally:
        p2g.settings = dataclasses.replace(p2g.settings, mode=mode)
    return {"p2g_mode": "seq2seq" if mode == "lexicon" else "lexicon", "regeneration": rep["regeneration"],
            "p2g_wer_from_gold": rep["p2g_wer_from_gold"], "p2g_cer_from_gold": rep["p2g_cer_from_gold"]}


def _copy_stage(src_run: Path, dst_run: Path, stage: str) -> None:
    src, dst = src_run / stage / "final", dst_run / stage / "final"
    if not dst.exists():
        shutil.copytree(src, dst)


def run_bench(out: str | Path, *, config: str, overrides: Sequence[str], sizes: Sequence[int], seeds: Sequence[int],
              n_test: int, peer: bool, progress: bool = False, g2p_words: int = 0,
              extract_from: str | None = None, compare_modes: bool = False) -> dict[str, Any]:
    from regen_core import compare
    from regen_core.pipeline import load_run, load_run_config, training_record

    from .evaluate import asr_report
    from .g2p import evaluate_g2p
    from .pairing import ASRPairing

    out = Path(out)
    t_start = time.perf_counter()
    base = load_run_config(ASRPairing, config, list(overrides))
    if not progress:
        quiet = dataclasses.replace(base.train, **{
            s: dataclasses.replace(getattr(base.train, s), progress=False) for s in ("extract", "generate", "regenerate", "direct")})
        base = dataclasses.replace(base, train=quiet)
    pairing = ASRPairing(base.pairing)
    data = pairing.load_data()
    result: dict[str, Any] = {
        "config": config, "overrides": list(overrides), "sizes": list(sizes), "seeds": list(seeds),
        "machine": compare.machine_record(),  # includes the load average at the start
        "corpus": {k: len(v) for k, v in data.items()},
        "test_speakers": sorted(set(data["test"]["speaker"])),
        "train_speakers": sorted(set(data["train"]["speaker"])),
    }
    # 1. The extractor, shared by all runs.
    shared = out / "runs" / "shared"
    if extract_from and not (shared / "extract" / "final").exists():
        shutil.copytree(extract_from, shared / "extract" / "final")  # a G2P trained earlier (same config)
        from regen_core.checkpoint import write_json_atomic
        from regen_core.config import to_dict

        write_json_atomic(shared / "run_config.json", to_dict(base))
    compare.train_stages(pairing, base, shared, data=data, stages=("extract",), log=None)  # kept when finished
    _, models = load_run(shared)
    if models["extract"].g2p is not None:
        g = evaluate_g2p(models["extract"], g2p_words)
        result["g2p"] = {k: g[k] for k in ("g2p_per", "g2p_wer", "words", "beam")}
        result["g2p"]["training"] = training_record(shared / "extract" / "final")
        result["g2p"]["target_per"] = 0.10
    # 2. The paired side of every run: generate (phoneme CTC) and direct (character CTC), equal budgets.
    n_train_all = len(data["train"])
    resolved = sorted({size if 0 < size < n_train_all else 0 for size in sizes}, key=lambda s: s or n_train_all)
    plans = []
    for n_paired in resolved:
        p_sized = ASRPairing(dataclasses.replace(base.pairing, n_paired=n_paired))
        data_sized = p_sized.load_data() if n_paired else data
        for seed in seeds:
            tr = dataclasses.replace(base.train, generate=dataclasses.replace(base.train.generate, seed=seed),
                                     direct=dataclasses.replace(base.train.direct, seed=seed))
            cfg = dataclasses.replace(base, pairing=p_sized.config, train=tr)
            run = out / "runs" / f"paired{len(data_sized['train'])}_seed{seed}"
            _copy_stage(shared, run, "extract")
            trained = compare.train_stages(p_sized, cfg, run, data=data_sized, stages=("generate", "direct"), log=None)
            records = {stage: {**training_record(run / stage / "final"), "reused": trained[stage] is None}
                       for stage in ("generate", "direct")}  # a stage trained earlier into this folder is kept
            plans.append((len(data_sized["train"]), seed, p_sized, run, records))
    # 3. The P2G per seed (text only, independent of the number of paired utterances).
    p2g_runs: dict[int, Path] = {}
    for seed in seeds:
        cfg = dataclasses.replace(base, train=dataclasses.replace(
            base.train, regenerate=dataclasses.replace(base.train.regenerate, seed=seed)))
        run = out / "runs" / f"p2g_seed{seed}"
        _copy_stage(shared, run, "extract")
        compare.train_stages(pairing, cfg, run, data=data, stages=("regenerate",), log=None)
        p2g_runs[seed] = run
    # 4. Evaluate every run on the same test utterances.
    sweep = []
    for n_train in sorted({p[0] for p in plans}):
        entry: dict[str, Any] = {"n_paired": n_train, "runs": []}
        for _, seed, p_sized, run, records in [p for p in plans if p[0] == n_train]:
            _copy_stage(p2g_runs[seed], run, "regenerate")
            records["regenerate"] = training_record(run / "regenerate" / "final")
            _, models = load_run(run)
            rep = asr_report(p_sized, models, data["test"], n=n_test, g2p_words=0, examples=3)
            rep["training"] = records
            rep["seed"] = seed
            rep["p2g_mode"] = models["regenerate"].settings.mode
            if compare_modes and seed == seeds[0]:
                rep["other_p2g_mode"] = _other_mode_report(p_sized, models, data["test"], n_test)
            entry["runs"].append(rep)
            print(f"[bench] paired={n_train} seed={seed}: regeneration WER {rep['regeneration']['wer']:.3f} "
                  f"direct WER {rep['direct']['wer']:.3f} (PER {rep['generate_per']:.3f})", flush=True)
        for side in ("regeneration", "direct"):
            for k in ("wer", "cer", "rtf"):
                entry[f"{side}_{k}"] = compare.summary([r[side][k] for r in entry["runs"]])
        entry["generate_per"] = compare.summary([r["generate_per"] for r in entry["runs"]])
        entry["p2g_wer_from_gold"] = compare.summary([r["p2g_wer_from_gold"] for r in entry["runs"]])
        # core's rule: WER paired by seed, the winner only when the 95% interval of the difference excludes 0
        entry["wer_comparison"] = compare.compare_metric(
            "wer", False, {side: [r[side]["wer"] for r in entry["runs"]] for side in compare.SIDES})
        entry["outcome"] = compare.outcome(entry["wer_comparison"]["winner"])
        sweep.append(entry)
    result["sweep"] = sweep
    result["p2g_wer_from_gold"] = sweep[0]["p2g_wer_from_gold"] if sweep else None
    result["targets"] = {"g2p_per": 0.10, "p2g_wer_from_gold": 0.05, "rtf": 0.05,
                         "regeneration_below_direct_at_n_paired_le": 500}
    # 5. The peer system on the same test audio.
    if peer:
        result["pocketsphinx"] = pocketsphinx_scores(data["test"], base.pairing.sample_rate, n_test)
    result["seconds"] = round(time.perf_counter() - t_start, 1)
    result["load_average_at_end"] = compare.load_average()
    return result


@cli_main("python -m regen_asr.bench")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_asr.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--quick", action="store_true", help="toy preset, one size, one seed, no peer: seconds")
    p.add_argument("--config", "-c", default=None, help="preset or YAML (default: bench; toy with --quick)")
    p.add_argument("--sizes", type=int, nargs="+", default=None, help="paired utterances per run (0 = all); default 100 500 0")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2")
    p.add_argument("--n-test", type=int, default=0, help="test utterances (0 = all)")
    p.add_argument("--no-peer", action="store_true", help="skip pocketsphinx")
    p.add_argument("--g2p-words", type=int, default=0, help="held-out CMUdict words for the G2P score (default 0 = all)")
    p.add_argument("--extract-from", default=None, help="reuse a trained extract model folder (same pairing config)")
    p.add_argument("--compare-modes", action="store_true",
                   help="also score the first seed's P2G in the other decoding mode (lexicon vs seq2seq)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--progress", action="store_true", help="show training progress bars")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_args(argv)
    import torch

    from regen_core.checkpoint import write_json_atomic

    torch.set_num_threads(max(1, args.threads))
    config = args.config or ("toy" if args.quick else "bench")
    sizes = args.sizes or ([0] if args.quick else [100, 500, 0])
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    result = run_bench(args.out, config=config, overrides=args.overrides, sizes=sizes, seeds=seeds,
                       n_test=args.n_test or (4 if args.quick else 0), peer=not (args.quick or args.no_peer),
                       progress=args.progress, g2p_words=200 if args.quick else args.g2p_words,
                       extract_from=args.extract_from, compare_modes=args.compare_modes)
    result["quick"] = args.quick
    out = Path(args.out)
    write_json_atomic(out / "bench.json", result)
    for e in result["sweep"]:
        print(f"paired={e['n_paired']:>5}: regeneration WER {e['regeneration_wer']['mean']:.3f} | direct WER "
              f"{e['direct_wer']['mean']:.3f} | PER {e['generate_per']['mean']:.3f} | P2G-from-gold WER "
              f"{e['p2g_wer_from_gold']['mean']:.3f} | RTF regen {e['regeneration_rtf']['mean']:.3f} direct "
              f"{e['direct_rtf']['mean']:.3f} | regeneration {e['outcome']}s on WER ({e['wer_comparison']['winner']})")
    if "g2p" in result:
        print(f"G2P held-out CMUdict: PER {result['g2p']['g2p_per']:.3f}, word error {result['g2p']['g2p_wer']:.3f}")
    for e in result["sweep"]:
        other = e["runs"][0].get("other_p2g_mode")
        if other:
            print(f"paired={e['n_paired']:>5} seed {e['runs'][0]['seed']}, P2G decoded as {other['p2g_mode']}: regeneration WER "
                  f"{other['regeneration']['wer']:.3f}, P2G-from-gold WER {other['p2g_wer_from_gold']:.3f}, "
                  f"RTF {other['regeneration']['rtf']:.3f}")
    ps = result.get("pocketsphinx")
    if ps and ps.get("available"):
        print(f"pocketsphinx: WER {ps['wer']:.3f} CER {ps['cer']:.3f} RTF {ps['rtf']:.3f}")
    print(f"bench: {out / 'bench.json'} ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
