"""regen_asr: speech recognition by regeneration learning.

speech (X) -> ARPAbet phonemes (Y', CTC) -> text (Y, a P2G trained on text alone), measured
against a direct CTC character recogniser. Registered as the ``asr`` pairing.
"""

__version__ = "0.1.0"
