"""Generate X -> Y': a CTC phoneme recogniser on log-mel features.

Conv subsampling + transformer encoder + CTC over the fixed ARPAbet vocabulary (with ``|``
word boundaries when the extractor writes them). Decoding is CTC prefix beam search (or greedy
with ``beam: 1``); :meth:`PhonemeRecogniser.transcribe_tokens` adds per-phoneme timestamps from
a Viterbi alignment of the decoded phonemes to the CTC frames.
"""

from __future__ import annotations

from typing import Any

from .features import FeatureSettings
from .recogniser import CTCRecogniser, EncoderSettings
from .vocab import WORD_SEP, phoneme_vocab


class PhonemeRecogniser(CTCRecogniser):
    """Audio (T,) float32 -> list of ARPAbet phonemes (Y')."""

    def __init__(self, enc: EncoderSettings, feats: FeatureSettings, *, stress: bool):
        super().__init__(phoneme_vocab(stress), enc, feats, target="y_prime")

    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> list[str]:
        """Beam-search (or greedy) phonemes of one utterance; deterministic, seed/temperature unused."""
        toks = self.decode_tokens(condition, WORD_SEP)
        # collapse separators the network may emit twice or at the ends
        out: list[str] = []
        for t in toks:
            if t == WORD_SEP and (not out or out[-1] == WORD_SEP):
                continue
            out.append(t)
        while out and out[-1] == WORD_SEP:
            out.pop()
        return out
