"""regen-talkinghead: speech -> Y' (3D face coefficients) -> video, and the direct speech -> video baseline.

Registered pairing: ``talkinghead``. The faces are synthetic (a parametric 3D face model and its
renderer written here, driven by espeak-ng speech); see the package README.
Modules are imported lazily; ``import regen_talkinghead`` is cheap.
"""

__version__ = "0.1.0"
