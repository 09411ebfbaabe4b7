"""A recogniser that knows nothing of regen, for benchmarks: pocketsphinx's bundled US-English model.

Optional (PyPI ``pocketsphinx``, BSD-2; installed by ``regen-asr[peer]``). :class:`PocketSphinx` transcribes a
waveform at any rate (resampled to its 16 kHz) with the default acoustic model and language model, or with a
closed word list (``words``: a JSGF grammar of one word per utterance, e.g. the ten digit words of FSDD).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from regen_core.errors import RegenError


class PeerMissingError(RegenError, ImportError):
    """The optional peer recogniser is not installed."""


class PocketSphinx:
    """``transcribe(audio, sample_rate) -> text`` (lower case as pocketsphinx spells it; "" when it hears nothing)."""

    def __init__(self, words: Sequence[str] = ()) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise PeerMissingError("pocketsphinx is not installed: pip install pocketsphinx (or 'regen-asr[peer]')") from None
        self.decoder = Decoder(samprate=16000, loglevel="FATAL")
        self.model = "pocketsphinx default en-us acoustic model + " + (
            f"a grammar of {len(words)} words" if words else "its language model")
        if words:
            self.decoder.add_jsgf_string("words", "#JSGF V1.0;\ngrammar words;\npublic <utt> = "
                                         + " | ".join(words) + " ;\n")
            self.decoder.activate_search("words")

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        from .audio import resample

        x = np.asarray(audio, np.float32)
        x = resample(x, sample_rate, 16000) if sample_rate != 16000 else x
        self.decoder.start_utt()
        self.decoder.process_raw((np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes(), full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr.lower() if hyp is not None else ""
