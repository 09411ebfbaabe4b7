"""``python -m regen_asr.showcase --out DIR [--model MODEL]``: transcripts next to their references.

Two sets of speech, each utterance transcribed by both sides (regeneration: audio -> phonemes -> text; direct:
audio -> text): held-out utterances of the model's test split (synthetic voices, when its data can be built
here) and real human speech, the Free Spoken Digit Dataset's test takes (one per speaker and digit, up to
``--n``). ``DIR/transcripts.md`` holds the tables (reference, both transcripts, the phonemes Y' with times,
WER per side); ``DIR/outputs.md`` lists the files and the model's card. ``--model`` defaults to the model this
package ships.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np



def transcribe_set(models: dict[str, Any], rows: list[dict], sample_rate: int) -> list[dict]:
    from .transcribe import transcribe_audio

    out = []
    for row in rows:
        t = transcribe_audio(np.asarray(row["audio"], np.float32), models, sample_rate=sample_rate, direct="direct" in models)
        y_prime = " ".join(f"{p.token}@{p.start:.2f}" for p in t.phonemes)
        out.append({"id": row.get("id", ""), "speaker": row.get("speaker", ""), "reference": row["text"],
                    "regeneration": t.text, "direct": t.direct, "y_prime": y_prime, "rtf": t.rtf})
    return out


def table(title: str, rows: list[dict]) -> list[str]:
    from .metrics import wer

    refs = [r["reference"] for r in rows]
    lines = [f"## {title}", "", f"WER regeneration {wer(refs, [r['regeneration'] for r in rows]):.3f}"
             + (f", direct {wer(refs, [r['direct'] or '' for r in rows]):.3f}" if rows and rows[0]["direct"] is not None else "")
             + f" over {len(rows)} utterances.", "",
             "| speaker | reference | regeneration | direct | Y' (phoneme@seconds) |", "|---|---|---|---|---|"]
    for r in rows:
        y_prime = r["y_prime"][:160].replace("|", "\\|")  # the word separator, escaped for the Markdown table
        lines.append(f"| {r['speaker']} | {r['reference']} | {r['regeneration']} | {r['direct'] or '–'} | {y_prime} |")
    return lines + [""]


def showcase(model: str | Path, out: str | Path, *, n: int = 10, fsdd_dir: str | None = None) -> list:
    from regen_core.pipeline import load_run
    from regen_core.showcase import Output
    from regen_speech.fsdd import load_fsdd

    out = Path(out)
    pairing, models = load_run(model)
    sr = pairing.config.sample_rate
    held_out = pairing.load_data()["test"]
    sets = {"held-out voices of the model's test split": [held_out[i] for i in range(min(n, len(held_out)))]}
    fsdd = load_fsdd(fsdd_dir, sr)["test"]
    first: dict[tuple[str, int], int] = {}
    for i, (spk, digit) in enumerate(zip(fsdd["speaker"], fsdd["digit"])):
        first.setdefault((spk, int(digit)), i)
    speakers = sorted({k[0] for k in first})
    keys = [(speakers[k % len(speakers)], k % 10) for k in range(n)]  # every speaker in turn, digits 0, 1, 2, ...
    picked = [fsdd[first[k]] for k in keys if k in first]
    sets["real human speech: FSDD test takes (spoken digits)"] = picked
    lines = ["# asr: transcripts next to their references", ""]
    for title, rows in sets.items():
        lines += table(title, transcribe_set(models, rows, sr))
    path = out / "transcripts.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return [Output(path, f"transcripts of {sum(len(r) for r in sets.values())} utterances (held-out synthetic voices and "
                         f"real FSDD speech) by both sides, with the phonemes Y' and their times, and each set's WER")]


def main(argv: Sequence[str] | None = None) -> int:
    from regen_core import showcase as sc

    def run(model: Path, out: Path, args) -> list:
        outputs = showcase(model, out, n=args.n, fsdd_dir=args.fsdd_dir)
        print(outputs[0].path.read_text())
        return outputs

    def add_args(p) -> None:
        p.add_argument("--n", type=int, default=10, help="utterances per set")
        p.add_argument("--fsdd-dir", default=None, help="FSDD folder (default: ../shared/data/fsdd or REGEN_SHARED_DATA)")

    return sc.main(argv, prog="python -m regen_asr.showcase", doc=__doc__, pairing="asr",
                   title="asr: transcripts of held-out and real speech", run=run, add_args=add_args)


if __name__ == "__main__":
    raise SystemExit(main())
