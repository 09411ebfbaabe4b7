"""Direct baseline X -> Y: a CTC character recogniser.

The same network as the phoneme generator (:class:`regen_asr.recogniser.CTCRecogniser`, same
encoder size), trained with the same budget on (audio, transcript) pairs, with characters
``a-z``, apostrophe and space as its output vocabulary.
"""

from __future__ import annotations

from typing import Any

from .features import FeatureSettings
from .recogniser import CTCRecogniser, EncoderSettings
from .vocab import char_vocab


class CharRecogniser(CTCRecogniser):
    """Audio (T,) float32 -> normalised transcript (str)."""

    def __init__(self, enc: EncoderSettings, feats: FeatureSettings):
        super().__init__(char_vocab(), enc, feats, target="y")

    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> str:
        """Beam-search (or greedy) transcript of one utterance; deterministic, seed/temperature unused."""
        return " ".join("".join(self.decode_tokens(condition, " ")).split())
