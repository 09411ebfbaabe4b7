"""What a domain's showcase writes with a shipped model, and the card of a shipped model.

Each domain's ``python -m regen_<domain>.showcase --out DIR [--model MODEL]`` (``make demo``'s first part) runs its
shipped models (or any ``--model``) on inputs a person can judge: sentences to hear, speech to transcribe, a song,
sample grids, a photo that speaks. It returns :class:`Output` rows; :func:`write_summary` lists them with one line
each in ``DIR/outputs.md``, and :func:`model_card` states what the models are: their test-split figures, both
sides' training budgets, the preset, the data and the commit, read from ``provenance.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any, Callable, Sequence

from . import compare
from .pretrained import PROVENANCE, read_provenance


@dataclasses.dataclass(frozen=True)
class Output:
    """One file a showcase wrote and what it is, in a line."""

    path: Path
    what: str


def model_card(folder: str | Path) -> str:
    """Markdown: a model folder's provenance (what, how trained, on what, figures on the test split); for a run
    folder without provenance, says so."""
    folder = Path(folder)
    if not (folder / PROVENANCE).is_file():
        return f"`{folder}`: a run folder (no provenance.json: not a packaged model, so no recorded figures).\n"
    prov = read_provenance(folder)
    ts = prov.get("test_split", {})
    lines = [f"### `{folder.name}` ({prov.get('pairing')}): regeneration vs direct on the test split", "",
             f"Preset `{prov.get('preset')}`" + (f", overrides {prov['overrides']}" if prov.get("overrides") else "")
             + f"; commit {str(prov.get('commit'))[:10]}{' (with local changes)' if prov.get('dirty') else ''}; "
             f"weights {prov.get('weights_dtype')}; built {prov.get('created')}.",
             f"Sampling seeds {ts.get('seeds')}, {ts.get('n_test') or 'all'} test examples per seed, temperature "
             f"{ts.get('temperature')}; headline metric **{ts.get('headline')}**; 95% t-intervals over the seeds.", "",
             "| metric | better | regeneration | direct | difference [95% CI] | winner |", "|---|---|---|---|---|---|"]
    for m in ts.get("metrics", []):
        if m["name"] in ("seconds_per_sample", "real_time_factor"):
            continue
        diff = m.get("difference") or {}
        ci = diff.get("ci95")
        lines.append(f"| {m['name']} | {'higher' if m['higher_is_better'] else 'lower'} "
                     f"| {compare.fmt((m.get('regeneration') or {}).get('mean'))} | {compare.fmt((m.get('direct') or {}).get('mean'))} "
                     f"| {compare.fmt(diff.get('mean'))}" + (f" [{compare.fmt(ci[0])}, {compare.fmt(ci[1])}]" if ci else "")
                     + f" | {m.get('winner', '–')} |")
    lines += ["", "Training budgets (both sides):", "", *compare.budget_table(prov.get("budgets", {})), ""]
    data = prov.get("data", {})
    if data:
        lines.append("Data: " + ", ".join(f"{k} {v.get('n')}" for k, v in data.items()) + " examples.")
    return "\n".join(lines) + "\n"


def write_summary(out: str | Path, title: str, outputs: Sequence[Output], cards: Sequence[str] = ()) -> Path:
    """``OUT/outputs.md``: every output with its line, then the model cards. Returns the file."""
    out = Path(out)
    lines = [f"# {title}", ""]
    for o in outputs:
        rel = o.path.relative_to(out) if o.path.is_relative_to(out) else o.path
        lines.append(f"- `{rel}`: {o.what}")
    if cards:
        lines += ["", "## The models", "", *cards]
    path = out / "outputs.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def print_outputs(outputs: Sequence[Output], log: Any = print) -> None:
    for o in outputs:
        log(f"  {o.path}: {o.what}")


def main(argv: Sequence[str] | None, *, prog: str, doc: str | None, pairing: str, title: str,
         run: Callable[[Path, Path, argparse.Namespace], list[Output]],
         add_args: Callable[[argparse.ArgumentParser], None] | None = None, several: bool = False) -> int:
    """The ``main`` of every ``python -m regen_<domain>.showcase``: ``--model`` (default: the shipped model of
    ``pairing``; repeatable when ``several``), ``--out``, ``--threads`` and the domain's own flags (``add_args``);
    ``run(model_folder, out, args)`` writes the files; then ``OUT/outputs.md`` with the models' cards."""
    from .cli_common import add_model_arg, model_folder, set_threads
    from .errors import cli_main

    p = argparse.ArgumentParser(prog=prog, description=(doc or "").split("\n\n")[0])
    if several:
        p.add_argument("--model", action="append", metavar="MODEL",
                       help=f"pretrained (default: the {pairing} model this package ships), another shipped name or a "
                            f"run folder; repeatable")
    else:
        add_model_arg(p, pairing)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    if add_args is not None:
        add_args(p)

    def go(args: argparse.Namespace) -> int:
        set_threads(args.threads)
        specs = (args.model or ["pretrained"]) if several else [args.model]
        outputs, cards, names = [], [], set()
        for i, spec in enumerate(specs):
            folder = model_folder(spec, pairing)
            name = folder.name if folder.name not in names else f"{folder.name}-{i}"  # two zoo outputs are both "model"
            names.add(name)
            outputs += run(folder, Path(args.out) / name if several else Path(args.out), args)
            cards.append(model_card(folder))
        summary = write_summary(args.out, title, outputs, cards)
        print_outputs(outputs)
        print(f"summary: {summary}")
        return 0

    return cli_main(prog)(go)(p.parse_args(argv))
