"""regen-tts: text -> Y' (log-mel spectrogram or EnCodec codes) -> waveform, and the direct baseline.

Registered pairings: ``tts`` (Y' = log-mel) and ``tts-codec`` (Y' = EnCodec code tokens).
Modules are imported lazily; ``import regen_tts`` is cheap.
"""

__version__ = "0.1.0"
