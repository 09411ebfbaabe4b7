"""What every domain's ``train`` / ``evaluate`` / ``demo`` entry point shares: one shape, one set of flags.

- ``--run DIR`` always names a *run folder* (``DIR/<stage>/final``, ``DIR/run_config.json``);
  ``--out DIR`` always names an *output folder* (a demo's whole output, a report folder).
- A demo's output folder has the same layout in every domain::

      OUT/run/          the run folder: one sub-folder per stage (train_stages)
      OUT/evaluation/   regen_core's comparison report (report.md / report.json) and examples
      OUT/...           the domain's own extras (samples, songs, grids)

- ``--config`` / ``-c`` takes a preset name or a YAML file; ``key=value`` overrides follow.
- A user's error (bad config, missing run) prints one line ``prog: error: ...`` and exits 2.

A flag renamed here keeps its old spelling as a deprecated alias that prints a notice
(:class:`DeprecatedAlias`), so documented commands keep working.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import RegenError
from .compare import train_stages  # noqa: F401  (the demos' import; core's one "train every stage" loop)

#: Errors that are the user's to fix: printed as one clear line, exit status 2 (``regen`` and every entry point).
#: Every such error derives from :class:`regen_core.errors.RegenError`.
USER_ERRORS = (RegenError,)

#: Sub-folders of a demo's output folder (the same in every domain).
RUN_SUBDIR = "run"
EVALUATION_SUBDIR = "evaluation"


class DeprecatedAlias(argparse.Action):
    """Stores into ``dest`` like the new flag, after printing which flag replaces the old one."""

    def __init__(self, option_strings: Sequence[str], dest: str, *, new: str, **kwargs: Any):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"{parser.prog}: note: {option_string} is deprecated, use {self.new} (same meaning)", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_run_arg(p: argparse.ArgumentParser, *, required: bool = True, help: str = "run folder (one sub-folder per stage)",
                old: Sequence[str] = ()) -> None:
    """``--run DIR``; ``old`` spellings (e.g. ``--out`` where it named the run folder) stay as deprecated aliases.

    Required-ness is checked by :func:`parse` (argparse cannot require "one of two spellings").
    """
    p.add_argument("--run", dest="run", default=None, help=help + (" (required)" if required else ""))
    for flag in old:
        p.add_argument(flag, dest="run", action=DeprecatedAlias, new="--run", help=argparse.SUPPRESS)
    p.set_defaults(_run_required=required)


class _OneModel(argparse.Action):
    """``--model`` and its synonym ``--run``: one of them, once (``--model A --run B`` is an error, not B)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        given = getattr(namespace, "_model_flag", None)
        if given is not None and given != option_string:
            parser.error(f"give {given} or {option_string}, not both ({option_string} RUN means --model RUN)")
        namespace._model_flag = option_string
        setattr(namespace, self.dest, values)


def add_model_arg(p: argparse.ArgumentParser, pairing: str, *, what: str = "") -> None:
    """``--model MODEL`` (default ``pretrained``: the model the package ships for ``pairing``); see :func:`model_folder`."""
    p.add_argument("--model", default="pretrained", metavar="MODEL", action=_OneModel,
                   help=f"pretrained (default: the {pairing} model this package ships; `regen zoo` lists them), a run "
                        f"folder{what}, a downloaded model folder, or ORG/NAME in the local Hugging Face cache")
    p.add_argument("--run", dest="model", metavar="RUN", action=_OneModel, help="a run folder (same as --model RUN)")


def model_folder(spec: str, pairing: str) -> Path:
    """The folder ``--model`` names (:func:`regen_core.pretrained.resolve`), a packaged model's checksums verified,
    refused when it holds another pairing's model (``pairing``'s variants, e.g. tts-codec for tts, are accepted)."""
    from .pretrained import PROVENANCE, PretrainedError, folder_pairing, resolve, verify

    folder = resolve(spec, pairing)
    if (folder / PROVENANCE).is_file():
        verify(folder)
    held = folder_pairing(folder)
    if held is not None and held != pairing and not held.startswith(pairing + "-"):  # tts-codec serves tts's commands
        raise PretrainedError(f"--model {spec}: {folder} holds a {held!r} model, not a {pairing!r} one")
    return folder


def add_config_args(p: argparse.ArgumentParser, *, default: str | None = None) -> None:
    """``--config/-c`` (preset name or YAML file) and trailing ``key=value`` overrides."""
    what = f" (default {default})" if default else ""
    p.add_argument("--config", "-c", default=default, help=f"preset name (toy, tiny, ...) or YAML file{what}")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.generate.max_steps=100")


def add_threads_arg(p: argparse.ArgumentParser, default: int | None = 1) -> None:
    what = "torch's own choice" if default is None else default
    p.add_argument("--threads", type=int, default=default, help=f"torch CPU threads (default {what})")


def demo_parser(prog: str, doc: str | None, *, default_config: str, threads: int | None = 1) -> argparse.ArgumentParser:
    """The parser every ``python -m regen_<domain>.demo`` starts from: ``--out``, ``--config``, ``--threads``,
    ``key=value`` overrides; the domain adds its own flags to it."""
    p = argparse.ArgumentParser(prog=prog, description=(doc or "").split("\n\n")[0])
    p.add_argument("--out", required=True,
                   help=f"output folder: OUT/{RUN_SUBDIR} (the run), OUT/{EVALUATION_SUBDIR} (the report), the domain's extras")
    add_config_args(p, default=default_config)
    add_threads_arg(p, threads)
    p.add_argument("--budget-scale", type=_positive_float, default=1.0, metavar="S",
                   help="multiply every stage's training budget (max_seconds, max_cpu_seconds, max_steps, warmup_steps) by S, "
                        "both sides alike: make demo's live trainings use a fraction (default 1)")
    return p


def _positive_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


#: what --budget-scale multiplies (warm-up with the steps, so the schedule keeps its shape at any scale)
DEMO_BUDGET_KEYS = ("max_seconds", "max_cpu_seconds", "max_steps", "warmup_steps")


def demo_overrides(pairing_cls: type, args: argparse.Namespace) -> list[str]:
    """A demo's ``key=value`` overrides plus its ``--budget-scale``: every trained stage's time and step budgets
    multiplied alike, so regeneration and direct keep equal budgets at any scale."""
    overrides = list(args.overrides)
    from .pipeline import load_run_config

    run_cfg = load_run_config(pairing_cls, args.config, overrides)
    stages = [s for s in ("extract", "generate", "regenerate", "direct") if hasattr(run_cfg.train, s)]
    return overrides + scaled_budgets(run_cfg, args.budget_scale, keys=DEMO_BUDGET_KEYS, stages=stages)


def parse(p: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``p.parse_args`` plus the checks argparse cannot express (a required ``--run`` given by an alias)."""
    args = p.parse_args(argv)
    if getattr(args, "_run_required", False) and not args.run:
        p.error("the following arguments are required: --run")
    return args


def set_threads(n: int | None) -> None:
    """Torch CPU threads (small models on a shared CPU train faster single-threaded); None leaves torch's default."""
    if n is None:
        return
    import torch

    torch.set_num_threads(max(1, int(n)))


def scaled_budgets(run_cfg: Any, scale: float, keys: Sequence[str] = ("max_seconds",),
                   stages: Sequence[str] = ("generate", "regenerate", "direct")) -> list[str]:
    """Overrides multiplying each stage's budgets (``keys``: seconds or steps) by ``scale``; 0 (no limit) stays 0."""
    if scale == 1.0:
        return []
    out = []
    for stage in stages:
        for key in keys:
            value = getattr(getattr(run_cfg.train, stage), key)
            if value > 0:  # steps stay whole (at least one); seconds scale as they are
                scaled = max(1, round(value * scale)) if isinstance(value, int) else value * scale
                out.append(f"train.{stage}.{key}={scaled}")
    return out


@dataclasses.dataclass
class DemoRun:
    """What :func:`train_and_evaluate` leaves for a demo's own extras."""

    pairing: Any  # the pairing, rebuilt from the run folder
    models: dict[str, Any]  # stage -> trained model (eval mode)
    data: Any  # the pairing's splits
    run_cfg: Any  # the resolved run config
    run: Path  # OUT/run
    evaluation: Path  # OUT/evaluation (report.md, report.json, examples)


def train_and_evaluate(pairing_cls: type, out: str | Path, config: str | None, overrides: Sequence[str] = (), *,
                       log: Callable[[str], None] | None = print, progress: bool = False) -> DemoRun:
    """The common part of every demo: train every stage into ``OUT/run`` (finished stages are kept), then
    regen_core's regeneration-vs-direct report into ``OUT/evaluation``."""
    from .compare import run_budgets
    from .evaluate import evaluate
    from .pipeline import load_run, load_run_config

    out = Path(out)
    run_cfg = load_run_config(pairing_cls, config, list(overrides))
    pairing = pairing_cls(run_cfg.pairing)
    # 1. Data, then every stage into OUT/run.
    data = pairing.load_data()
    run = out / RUN_SUBDIR
    train_stages(pairing, run_cfg, run, data=data, log=log)
    # 2. Regeneration vs direct on the test split.
    pairing, models = load_run(run)
    evaluation = out / EVALUATION_SUBDIR
    evaluate(pairing, models, data["test"], run_cfg.evaluate, evaluation, budgets=run_budgets(run), progress=progress)
    return DemoRun(pairing, models, data, run_cfg, run, evaluation)


def renamed_flags(argv: Sequence[str], renames: dict[str, str], prog: str) -> list[str]:
    """``argv`` with old flag spellings replaced by new ones (``--model`` -> ``--run``), a notice printed per rename;
    for entry points that hand their arguments on to another parser."""
    out = []
    for a in argv:
        flag, eq, value = a.partition("=")
        if flag in renames:
            print(f"{prog}: note: {flag} is deprecated, use {renames[flag]} (same meaning)", file=sys.stderr)
            a = renames[flag] + eq + value
        out.append(a)
    return out
