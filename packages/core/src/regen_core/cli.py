"""The ``regen`` command line.

    regen list
    regen extract  PAIRING [--config C] [--split S] [--n N] --out DIR [key=value ...]
    regen train    PAIRING --stage extract|generate|regenerate|direct [--config C] --run DIR [--resume]
                   [--init pretrained|MODEL] [key=value ...]
    regen sample   --model MODEL|--run DIR [--x VALUE | --index I] [--side regeneration|direct] [--seed S] --out DIR
    regen evaluate --model MODEL|--run DIR [--out DIR] [key=value ...]
    regen zoo      [PAIRING ...]
    regen compare  PAIRING [--config C] --run DIR [--resume] [key=value ...]
    regen new-pairing NAME --out DIR
    regen export   PAIRING --onnx DIR --run RUN
    regen study    [PAIRING ...] --config quick|study|gpu|FILE.yaml --out DIR [--jobs N] [--device cpu|cuda] [--plan]
    regen serve    [--host 127.0.0.1] [--port 7860] [--model PAIRING=SPEC ...] [--only PAIRING ...]

``--run`` always names a run folder (``DIR/<stage>/``), ``--out`` an output folder; ``--model`` names a
shipped model (its pairing's name; ``regen zoo`` lists them), a run folder, a downloaded model folder or
``ORG/NAME`` in the local Hugging Face cache (:mod:`regen_core.pretrained`). The
``--out`` that ``train`` and ``compare`` took for their run folder (and ``export``'s ``--model``)
still works, with a notice.

``--config`` takes a preset name (``toy``, ``tiny``, ...) or a YAML file; ``key=value``
overrides are type-checked (``train.generate.max_steps=200``, ``pairing.d_model=64``).
Each domain package also offers ``python -m regen_<domain>.train`` etc. through :func:`domain_main`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from . import checkpoint as ckpt
from . import registry
from .cli_common import USER_ERRORS, add_run_arg
from .config import to_dict
from .contract import STAGES, OnnxExport, ParsesX, Visualises
from .data import DataError
from .errors import InputError, cli_main
from .pipeline import PipelineError, load_run, load_run_config, train_stage
from .runlock import run_lock

__all__ = ["USER_ERRORS", "build_parser", "domain_main", "main"]


def _pairing_and_config(args: argparse.Namespace) -> tuple[Any, Any]:
    cls = registry.pairing_class(args.pairing)
    run_cfg = load_run_config(cls, args.config, args.overrides)
    return cls(run_cfg.pairing), run_cfg


def cmd_list(args: argparse.Namespace) -> int:
    found = registry.discover()
    if not found:
        print("no pairings installed (install a domain package, e.g. pip install -e packages/tts)")
        return 0
    for name, reg in found.items():
        try:
            line = registry.describe(reg.load())
        except Exception as err:  # an installed package that fails to import is reported, not hidden
            line = f"{name}  <failed to import {reg.value}: {type(err).__name__}: {err}>"
        print(f"{line}    [{reg.distribution}]" if args.verbose else line)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    init = None
    if args.init:
        from .cli_common import model_folder

        init = model_folder(args.init, args.pairing)  # a packaged model's checksums are verified
    if init is not None and not args.config:  # fine-tuning: the model's own run config, then the overrides
        cls = registry.pairing_class(args.pairing)
        run_cfg = load_run_config(cls, None, args.overrides, values=ckpt.read_json(init / "run_config.json", "run config"))
        pairing = cls(run_cfg.pairing)
    else:
        pairing, run_cfg = _pairing_and_config(args)
    rec = train_stage(pairing, args.stage, run_cfg, args.run, resume=args.resume, init=init)
    what = "explicit (nothing to train), saved" if rec.explicit else f"{rec.steps} steps in {rec.seconds:.1f} s"
    print(f"{pairing.name}:{args.stage}: {what} -> {rec.folder}")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from .data import extract_map
    from .pipeline import load_extractor

    pairing, run_cfg = _pairing_and_config(args)
    data = pairing.load_data()
    if args.split not in data:
        raise DataError(f"pairing {pairing.name!r} has no split {args.split!r} (has {', '.join(data)})")
    ds = data[args.split]
    if args.n:
        ds = ds.select(range(min(args.n, len(ds))))
    extractor = load_extractor(pairing, args.run)
    ds = extract_map(
        ds, lambda y: _jsonable(extractor.extract(y)), name=f"{pairing.name}-cli", version="1",
        config=to_dict(run_cfg.pairing), input_column=pairing.y.name, output_column=pairing.y_prime.name,
    )
    out = Path(args.out)
    ds.save_to_disk(str(out))
    print(f"extracted {pairing.y_prime.name} for {len(ds)} {args.split} examples -> {out} (datasets.load_from_disk)")
    return 0


def _jsonable(v: Any) -> Any:
    if hasattr(v, "detach"):
        return v.detach().cpu().numpy()
    return v


def _model_spec(args: argparse.Namespace) -> str:
    """The model a command loads: ``--model`` (a shipped name, a folder, ORG/NAME) or ``--run`` (a run folder)."""
    if args.model and args.run:
        raise InputError("give --model or --run, not both (--run RUN means --model RUN)")
    spec = args.model or args.run or ("pretrained" if args.for_pairing else None)
    if not spec:
        from .pretrained import shipped

        names = ", ".join(shipped()) or "none installed"
        raise InputError(f"which model? give --model NAME (shipped: {names}), --model RUN_FOLDER or --run RUN_FOLDER")
    return spec


def cmd_sample(args: argparse.Namespace) -> int:
    from .pretrained import from_pretrained

    pairing, models = from_pretrained(_model_spec(args), args.for_pairing)
    if args.x is not None:
        x = pairing.parse_x(args.x) if isinstance(pairing, ParsesX) else args.x
        reference = None
    else:
        data = pairing.load_data()
        if args.split not in data:
            raise InputError(f"pairing {pairing.name!r} has no split {args.split!r} (has {', '.join(data)})")
        test = data[args.split]
        if not 0 <= args.index < len(test):
            raise InputError(f"--index {args.index} is out of range: the {args.split} split has {len(test)} examples")
        ex = test[args.index]
        x, reference = ex[pairing.x.name], ex[pairing.y.name]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from .contract import regenerate_pipeline

    if args.side == "regeneration":
        inf = regenerate_pipeline(x, models["generate"], models["regenerate"], seed=args.seed, temperature=args.temperature)
        y_prime, y = inf.y_prime, inf.y
    else:
        if "direct" not in models:
            raise PipelineError(f"{_model_spec(args)} has no trained direct baseline")
        y_prime, y = None, models["direct"].sample(x, seed=args.seed, temperature=args.temperature)
    if not isinstance(pairing, Visualises):
        raise PipelineError(f"pairing {pairing.name!r} offers no visualise(); use its own sampling entry point")
    files = pairing.visualise(out, f"{args.side}_seed{args.seed}", x=x, y_prime=y_prime, prediction=y, reference=reference)
    for f in files:
        print(f)
    return 0


def cmd_zoo(args: argparse.Namespace) -> int:
    from .zoo import listing

    print("\n".join(listing(args.pairings or None)))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .config import build_config
    from .compare import run_budgets
    from .evaluate import evaluate

    from .config import run_config_class
    from .pretrained import PROVENANCE, from_pretrained, resolve

    run = resolve(_model_spec(args), args.for_pairing)
    if not (run / "run_config.json").is_file():  # before the lock, which would create the folder
        raise PipelineError(f"{run} is not a regen run folder (no run_config.json)")
    packaged = (run / PROVENANCE).is_file()
    if packaged and not args.out:
        raise InputError(f"{run} is a packaged model (its folder is not written to): give --out DIR for the report")
    with run_lock(Path(args.out) if packaged else run):  # evaluate writes the report: one writer per folder
        pairing, models = from_pretrained(run)
        run_json = ckpt.read_json(run / "run_config.json", "run config")
        cls = type(pairing)
        run_cfg = build_config(run_config_class(cls.config_class), values=run_json, overrides=args.overrides)
        out = Path(args.out or run / "evaluation")
        report = evaluate(pairing, models, pairing.load_data()["test"], run_cfg.evaluate, out, budgets=run_budgets(run))
    print((out / "report.md").read_text())
    print(f"report: {out / 'report.json'} and {out / 'report.md'}")
    return 0 if report else 1


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import run_budgets, train_stages
    from .evaluate import evaluate

    pairing, run_cfg = _pairing_and_config(args)
    out = Path(args.run)
    with run_lock(out):  # one writer for every stage and the report
        data = pairing.load_data()
        train_stages(pairing, run_cfg, out, data=data, resume=args.resume)
        pairing, models = load_run(out)
        report_dir = out / "evaluation"
        evaluate(pairing, models, data["test"], run_cfg.evaluate, report_dir, budgets=run_budgets(out))
    print((report_dir / "report.md").read_text())
    print(f"outputs: {out}\nreport: {report_dir / 'report.json'} and {report_dir / 'report.md'}")
    return 0


def cmd_new_pairing(args: argparse.Namespace) -> int:
    from .scaffold import new_pairing

    files = new_pairing(args.name, args.out)
    root = Path(args.out)
    print(f"scaffolded pairing {args.name!r} in {root} ({len(files)} files):")
    for f in files:
        print(f"  {f.relative_to(root)}")
    print(f"next: pip install -e {root} && pytest {root}  (the contract test names each stub left to write)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Dispatch to the pairing's optional ``export_onnx`` hook (:class:`regen_core.contract.OnnxExport`);
    its failures are RegenErrors (one line, exit 2, through :func:`regen_core.errors.cli_main`)."""
    cls = registry.pairing_class(args.pairing)
    if not isinstance(cls, OnnxExport):
        raise PipelineError(f"pairing {args.pairing!r} has no ONNX export (it offers no export_onnx)")
    manifest = cls.export_onnx(args.run, args.onnx)
    print(f"exported {', '.join(manifest.get('graphs', {}))} to {args.onnx} (manifest: {Path(args.onnx) / 'manifest.json'})")
    for key, value in (manifest.get("parity") or {}).items():
        if key.endswith("_max_abs") and "_ref_" not in key:
            print(f"  parity vs PyTorch, {key}: {value:.3g}")
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from .study import StudyError, estimate, load_study_config, run_study

    overrides = [*(a for a in args.pairings if "=" in a), *args.overrides]  # key=value may follow the pairings
    args.pairings = [a for a in args.pairings if "=" not in a]
    cfg = load_study_config(args.config, overrides)
    if args.plan:
        print(json.dumps(estimate(cfg, args.pairings, args.jobs), indent=2))
        return 0
    if not args.out:
        raise StudyError("`regen study` needs --out DIR (the study folder) unless --plan is given")
    report = run_study(cfg, args.out, args.pairings, jobs=args.jobs, device=args.device, progress=not args.no_progress)
    out = Path(args.out)
    counts = {k: sum(1 for s in report["summaries"] if s["outcome"] == k) for k in ("win", "lose", "tie")}
    print(f"regeneration wins {counts['win']}, loses {counts['lose']}, ties {counts['tie']} "
          f"({len(report['cells'])} cells, {report['wall_seconds']:.0f} s)")
    print(f"report: {out / 'study.md'} and {out / 'study.json'}; figures in {out / 'figures'}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """The web page (:mod:`regen_core.serve`; gradio is imported there, only for this command)."""
    from .serve import parse_model_args, serve

    installed = registry.names()
    specs = parse_model_args(args.model, installed)
    names = None
    if args.only:
        unknown = [n for n in args.only if n not in installed]
        if unknown:
            raise InputError(f"--only {' '.join(unknown)}: not installed (installed: {', '.join(installed)})")
        names = list(dict.fromkeys(args.only))
    serve(specs, host=args.host, port=args.port, max_file_size=args.max_file_size, names=names)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="regen", description="Regeneration learning: extract Y', generate X->Y', regenerate Y'->Y, "
                                "and measure it against the direct X->Y baseline.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("pairing", help="registered pairing name (see `regen list`)")
        sp.add_argument("--config", "-c", help="preset name (toy, tiny, ...) or YAML file")
        sp.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.generate.max_steps=100")

    sp = sub.add_parser("list", help="list installed pairings: name  X -> Y' -> Y")
    sp.add_argument("--verbose", "-v", action="store_true", help="also show the distribution that registers each")
    sp.set_defaults(func=cmd_list)

    sp = sub.add_parser("extract", help="extract Y' from Y for one split and save it as a dataset")
    with_config(sp)
    sp.add_argument("--split", default="train")
    sp.add_argument("--n", type=int, default=0, help="only the first N examples (0 = all)")
    sp.add_argument("--run", help="run folder holding a trained extract stage (learned extractors)")
    sp.add_argument("--out", required=True)
    sp.set_defaults(func=cmd_extract)

    sp = sub.add_parser("train", help="train one stage")
    with_config(sp)
    sp.add_argument("--stage", required=True, choices=STAGES)
    add_run_arg(sp, help="run folder (the stage trains into RUN/<stage>)", old=("--out",))
    sp.add_argument("--resume", action="store_true", help="continue from RUN/<stage>/checkpoints/latest.json")
    sp.add_argument("--init", default=None, metavar="MODEL",
                    help="fine-tune: start from MODEL's weights for this stage (pretrained = the shipped model, or a run "
                         "folder); without --config the run uses MODEL's config, and an override that changes the "
                         "model (a vocabulary, a feature setting) is refused")
    sp.set_defaults(func=cmd_train)

    model_help = ("a shipped model (its pairing's name, see `regen zoo`), a run folder from `regen compare` / "
                  "`regen train`, a downloaded model folder, or ORG/NAME in the local Hugging Face cache")
    sp = sub.add_parser("sample", help="sample Y (and Y') from a trained or shipped model")
    sp.add_argument("--model", help=model_help)
    sp.add_argument("--run", help="a run folder (same as --model RUN)")
    sp.add_argument("--for-pairing", help=argparse.SUPPRESS)  # python -m regen_<domain>.sample: its shipped model
    sp.add_argument("--x", help="the condition X as text (parsed by the pairing)")
    sp.add_argument("--split", default="test")
    sp.add_argument("--index", type=int, default=0, help="test example to take X from when --x is not given")
    sp.add_argument("--side", choices=("regeneration", "direct"), default="regeneration")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--temperature", type=float, default=1.0)
    sp.add_argument("--out", required=True)
    sp.set_defaults(func=cmd_sample)

    sp = sub.add_parser("evaluate", help="evaluate regeneration vs direct of a trained run or a shipped model")
    sp.add_argument("--model", help=model_help)
    sp.add_argument("--run", help="a run folder (same as --model RUN)")
    sp.add_argument("--for-pairing", help=argparse.SUPPRESS)  # python -m regen_<domain>.evaluate: its shipped model
    sp.add_argument("--out", help="report folder (default RUN/evaluation; required for a shipped model)")
    sp.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. evaluate.seeds=[0,1,2,3]")
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("compare", help="train every stage of both sides with the config's budgets, then evaluate")
    with_config(sp)
    add_run_arg(sp, help="run folder: RUN/<stage> per stage, the report in RUN/evaluation", old=("--out",))
    sp.add_argument("--resume", action="store_true", help="skip finished stages, resume unfinished ones")
    sp.set_defaults(func=cmd_compare)

    sp = sub.add_parser("new-pairing", help="scaffold a new domain package (pyproject, config, pairing stubs, presets, contract test)")
    sp.add_argument("name", help="the pairing's name, a lowercase Python identifier (package regen_NAME)")
    sp.add_argument("--out", required=True, help="folder of the new package (must not exist or be empty)")
    sp.set_defaults(func=cmd_new_pairing)

    sp = sub.add_parser("export", help="export a trained run to ONNX (pairings that offer it, e.g. tts)")
    sp.add_argument("pairing", help="registered pairing name (see `regen list`)")
    sp.add_argument("--onnx", required=True, metavar="DIR", help="output folder: the graphs and manifest.json")
    add_run_arg(sp, help="a trained run folder of that pairing (or one RUN/<stage>/final folder)", old=("--model",))
    sp.set_defaults(func=cmd_export)
    sp = sub.add_parser("zoo", help="list the shipped (pretrained) models and the figures recorded when they were built")
    sp.add_argument("pairings", nargs="*", help="only these pairings")
    sp.set_defaults(func=cmd_zoo)

    sp = sub.add_parser("study", help="regeneration vs direct over pairings x paired shares x seeds, with the oracle cascade")
    sp.add_argument("pairings", nargs="*", help="pairings to study (default: every installed pairing the config plans)")
    sp.add_argument("--config", "-c", default="quick", help="study preset (quick, study, gpu) or YAML file (default quick)")
    sp.add_argument("--out", help="study folder (cells/, study.json, study.md, figures/); re-run to resume (required unless --plan)")
    sp.add_argument("--jobs", type=int, default=1, help="cells trained in parallel processes, one torch thread each")
    sp.add_argument("--device", choices=("cpu", "cuda"), default=None, help="training device (default: the preset's)")
    sp.add_argument("--plan", action="store_true", help="print the grid and its training-time estimate; train nothing")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar")
    sp.set_defaults(func=cmd_study, overrides=[])

    from .serve import DEFAULT_HOST, DEFAULT_MAX_FILE_SIZE, DEFAULT_PORT  # constants only: gradio is not imported

    sp = sub.add_parser("serve", help="a local web page with a tab per installed pairing (needs regen-core[serve])")
    sp.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}: this machine only)")
    sp.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    sp.add_argument("--model", action="append", default=[], metavar="PAIRING=SPEC",
                    help="the models of one tab: a run folder (repeat per pairing); default: the model its package ships, "
                         "if any (else the tab says how to train one)")
    sp.add_argument("--only", action="append", default=[], metavar="PAIRING", help="serve only these tabs (repeat)")
    sp.add_argument("--max-file-size", default=DEFAULT_MAX_FILE_SIZE,
                    help=f"largest upload accepted, e.g. 5mb (default {DEFAULT_MAX_FILE_SIZE})")
    sp.set_defaults(func=cmd_serve)
    return p


@cli_main("regen")
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if getattr(args, "_run_required", False) and not args.run:
        parser.error(f"`regen {args.command}` needs --run DIR")
    # key=value overrides may come anywhere after the command, also after --flags
    stray = [a for a in rest if a.startswith("-") or "=" not in a]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if rest:
        if not hasattr(args, "overrides"):
            parser.error(f"`regen {args.command}` takes no key=value overrides: {' '.join(rest)}")
        args.overrides = [*args.overrides, *rest]
    return args.func(args)


def domain_main(pairing: str, command: str, argv: Sequence[str] | None = None) -> int:
    """``python -m regen_<domain>.<command>``: the ``regen`` command with the pairing filled in."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if command in ("train", "extract", "compare"):
        return main([command, pairing, *argv])
    if command in ("evaluate", "sample"):  # without --model / --run: the model this package ships
        return main([command, "--for-pairing", pairing, *argv])
    return main([command, *argv])


if __name__ == "__main__":
    raise SystemExit(main())
