"""regen_core: the contract, registry, shared trainer, data layer, evaluation and CLI of regen.

Importing this package is cheap: submodules (torch, datasets) load when used.
"""

__version__ = "0.1.0"

from .contract import STAGES, Extractor, Inference, Metric, Model, Pairing, Spec, StageData, regenerate_pipeline

__all__ = [
    "STAGES", "Extractor", "Inference", "Metric", "Model", "Pairing", "Spec", "StageData", "regenerate_pipeline",
    "__version__",
]
