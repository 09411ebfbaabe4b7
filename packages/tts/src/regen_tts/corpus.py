"""``python -m regen_tts.corpus --out DIR --n 2000 --num-proc 2 [...]``: build the synthetic speech corpus.

The builder lives in :mod:`regen_speech.corpus` (shared with ASR); this is its command line.
Train on a built folder with ``pairing.corpus_dir=DIR pairing.corpus_speakers=[...]``.
"""

from __future__ import annotations

from regen_speech.corpus import main

if __name__ == "__main__":
    raise SystemExit(main())
