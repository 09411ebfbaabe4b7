"""The image pairings: class -> Y' -> image, against pixel-space diffusion.

``image``       Y' = KL-autoencoder latents   generate: latent diffusion      regenerate: the decoder
``image-vq``    Y' = VQ-autoencoder tokens    generate: masked-token prior    regenerate: the decoder
``image-down``  Y' = 8x8 average-pooled image generate: low-res diffusion     regenerate: super-resolution
direct (all)    X -> Y: class-conditional diffusion in pixel space, same UNet widths and sampler.

Per-example metrics (``metrics``) are what one image can tell: does the evaluation classifier
see the requested class, and how sure is it. Set-level metrics (``set_metrics``: FID with the
real-vs-real FID beside it, k-NN precision/recall) need a whole set of samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from regen_core import checkpoint as ckpt
from regen_core.contract import Metric, Spec, StageData
from regen_core.data import cache_dir, fingerprint

from . import metrics as M
from .config import ImageConfig, ImageDownConfig, ImageVQConfig
from .data import class_index, load_splits, stack_split, to_image
from .direct import build_direct
from .extract import build_extractor
from .generate import build_generator
from .regenerate import build_regenerator

CLASSIFIER_VERSION = "2"  # 2: the n_train cap keeps every class (1 kept the first classes of sorted data)


class TensorRows:
    """A map-style dataset over equal-length tensors: row i = {name: tensor[i]}."""

    def __init__(self, **columns: torch.Tensor):
        lengths = {len(v) for v in columns.values()}
        if len(lengths) != 1:
            raise ValueError(f"columns have different lengths: { {k: len(v) for k, v in columns.items()} }")
        self.columns = columns

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.columns.items()}


def stack_collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


@torch.no_grad()
def extract_all(extractor: Any, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """(N, C, H, W) -> Y' for every image, in batches, on CPU."""
    extractor.eval()
    return torch.cat([extractor.extract_batch(images[s : s + batch]).cpu() for s in range(0, len(images), batch)])


_CLASSIFIERS: dict[str, tuple[M.EvalClassifier, float]] = {}


class ImagePairing:
    """class -> KL latents -> image (see the module docstring for the VQ and down-sampling variants)."""

    name: ClassVar[str] = "image"
    x: ClassVar[Spec] = Spec("label", "class", "() int64 class index in [0, num_classes)")
    y: ClassVar[Spec] = Spec("image", "image", "(channels, 32, 32) float32 in [0, 1]")
    y_prime: ClassVar[Spec] = Spec("y_prime", "latent", "(latent_channels, 8, 8) float32 KL-autoencoder posterior mean")
    headline: ClassVar[str] = "fid"  # the comparisons' lead metric (a set metric: regen study, bench)
    # regen train --init keeps them: the denoisers' noise levels and the down-sampling factor (the low-resolution
    # denoiser keeps its shapes under either; the super-resolution net's change with the factor)
    init_keeps: ClassVar[tuple[str, ...]] = ("y_prime", "train_timesteps", "down_factor")
    metrics_spec: ClassVar[tuple[Metric, ...]] = (
        Metric("cond_acc", True, "1 if the in-project evaluation classifier sees the requested class, else 0"),
        Metric("class_confidence", True, "the evaluation classifier's probability of the requested class"),
    )
    #: Set-level metrics returned by :meth:`set_metrics` (one value per set of samples).
    set_metrics_spec: ClassVar[tuple[Metric, ...]] = (
        Metric("fid", False, "FID in the evaluation classifier's feature space (biased at small n: compare with fid_real_vs_real)"),
        Metric("fid_real_vs_real", False, "FID between two real sets of the same size and classes (the floor at this n)"),
        Metric("precision", True, "k-NN precision: share of samples inside the real feature manifold"),
        Metric("recall", True, "k-NN recall: share of real images inside the samples' feature manifold"),
        Metric("set_cond_acc", True, "share of the set the evaluation classifier assigns to the requested class"),
        Metric("classifier_accuracy", True, "test accuracy of the evaluation classifier on real images (trust in the above)"),
    )
    config_class: ClassVar[type] = ImageConfig

    def __init__(self, config: ImageConfig | None = None):
        self.config = config if config is not None else self.config_class()

    # -- data ----------------------------------------------------------------------------

    def load_data(self) -> Any:
        return load_splits(self.config)

    def parse_x(self, text: str) -> int:
        return class_index(text, self.config.num_classes)

    # -- models ----------------------------------------------------------------------------

    @classmethod
    def export_onnx(cls, run: str, out: str) -> dict:
        """The optional ONNX hook (:class:`regen_core.contract.OnnxExport`): see :mod:`regen_image.export`."""
        from .export import export_run

        return export_run(run, out, pairing_name=cls.name)

    def build(self, stage: str, extractor: Any = None) -> torch.nn.Module:
        cfg = self.config
        if stage == "extract":
            return build_extractor(cfg)
        if stage == "direct":
            return build_direct(cfg)
        if extractor is None:  # a fresh (untrained) extractor fixes Y' shapes and, for kl/vq, the decoder
            extractor = build_extractor(cfg)
        if stage == "generate":
            stats_images = None
            if cfg.y_prime == "kl":  # the latent normalisation: Y' statistics of (up to) 512 training images
                stats_images = stack_split(self.load_data()["train"].select(range(min(512, len(self.load_data()["train"])))))[0]
            return build_generator(cfg, extractor, stats_images)
        if stage == "regenerate":
            return build_regenerator(cfg, extractor)
        raise ValueError(f"unknown stage {stage!r}; expected extract, generate, regenerate or direct")

    def stage_data(self, stage: str, data: Any, extractor: Any) -> StageData:
        splits = {}
        for split in ("train", "valid"):
            images, labels = stack_split(data[split])  # (N, C, H, W), (N,)
            if stage == "extract":
                splits[split] = TensorRows(image=images)
            elif stage == "direct":
                splits[split] = TensorRows(label=labels, image=images)
            elif stage in ("generate", "regenerate"):
                if extractor is None:
                    raise ValueError(f"stage {stage!r} needs the (trained) extractor")
                y_prime = extract_all(extractor, images)
                splits[split] = (TensorRows(label=labels, y_prime=y_prime) if stage == "generate"
                                 else TensorRows(y_prime=y_prime, image=images))
            else:
                raise ValueError(f"unknown stage {stage!r}")
        return StageData(splits["train"], splits["valid"], stack_collate)

    # -- metrics ---------------------------------------------------------------------------

    def classifier(self) -> tuple[M.EvalClassifier, float]:
        """The evaluation classifier and its test accuracy: trained once per data/classifier settings.

        Cached in memory and under ``$REGEN_CACHE/image-classifier`` (safetensors + accuracy JSON).
        """
        cfg = self.config
        data_keys = ("source", "data_path", "image_size", "channels", "num_classes", "n_train", "n_valid",
                     "n_test", "split_seed", "alpha", "classifier_steps", "classifier_width", "feature_dim")
        key = fingerprint(CLASSIFIER_VERSION, {k: getattr(cfg, k) for k in data_keys})
        if key in _CLASSIFIERS:
            return _CLASSIFIERS[key]
        model = M.EvalClassifier(cfg.channels, cfg.num_classes, cfg.classifier_width, cfg.feature_dim)
        folder = cache_dir() / "image-classifier" / key
        try:
            ckpt.load_pretrained_weights(folder, model)
            acc = float(ckpt.read_json(folder / "config.json")["test_accuracy"])
            model.eval()
        except ckpt.CheckpointError:
            data = self.load_data()
            images, labels = stack_split(data["train"])
            model = M.train_classifier(images, labels, num_classes=cfg.num_classes, steps=cfg.classifier_steps,
                                       width=cfg.classifier_width, feature_dim=cfg.feature_dim)
            acc = M.accuracy(model, *stack_split(data["test"]))
            try:
                ckpt.save_pretrained(folder, model, {"test_accuracy": acc, "settings": key})
            except OSError:
                pass  # a read-only cache only costs a retrain next time
        _CLASSIFIERS[key] = (model, acc)
        return model, acc

    def _images(self, items: Any, where: str) -> torch.Tensor:
        cfg = self.config
        return torch.from_numpy(np.stack([to_image(p, channels=cfg.channels, size=cfg.image_size, where=f"{where}[{i}]")
                                          for i, p in enumerate(items)]))

    def metrics(self, prediction: Any, reference: Any, x: Any = None) -> dict[str, float]:
        """Per image: classifier agreement with the requested class x (reference is not needed: one-to-many)."""
        clf, _ = self.classifier()
        _, probs = clf.embed(self._images([prediction], "prediction"))
        if x is None:
            return {"cond_acc": float("nan"), "class_confidence": float("nan")}
        c = class_index(x, self.config.num_classes)
        return {"cond_acc": float(probs[0].argmax() == c), "class_confidence": float(probs[0, c])}

    def set_metrics(self, predictions: list[Any], references: list[Any], xs: list[Any]) -> dict[str, float]:
        """FID (with the real-vs-real FID at the same n), k-NN precision/recall, conditional accuracy."""
        cfg = self.config
        clf, clf_acc = self.classifier()
        fake, probs = clf.embed(self._images(predictions, "predictions"))
        real, _ = clf.embed(self._images(references, "references"))
        labels = np.asarray([class_index(x, cfg.num_classes) for x in xs])
        other, _ = clf.embed(self._real_like(labels))
        precision, recall = M.precision_recall(real, fake, cfg.knn_k)
        return {
            "fid": M.fid(fake, real),
            "fid_real_vs_real": M.fid(other, real),
            "precision": precision,
            "recall": recall,
            "set_cond_acc": float((probs.argmax(1) == labels).mean()),
            "classifier_accuracy": clf_acc,
        }

    def _real_like(self, labels: np.ndarray, seed: int = 0) -> torch.Tensor:
        """Real training images with the same classes as ``labels`` (a second real set for the FID floor)."""
        images, train_labels = stack_split(self.load_data()["train"])
        rng = np.random.default_rng(seed)
        picks = []
        for c in labels:
            pool = np.flatnonzero(train_labels.numpy() == c)
            picks.append(int(rng.choice(pool)) if len(pool) else int(rng.integers(len(images))))
        return images[picks]

    # -- drawing ---------------------------------------------------------------------------

    def visualise(self, folder: Any, name: str, *, x: Any, y_prime: Any, prediction: Any, reference: Any) -> list[Path]:
        from .visualise import example_panel

        path = Path(folder) / f"{name}.png"
        return [example_panel(path, title=f"class {x}", y_prime=y_prime, prediction=prediction, reference=reference)]

    def serve_tab(self, models: Any) -> None:
        """Its tab of ``regen serve`` (:mod:`regen_image.serve`; gradio is imported there)."""
        from .serve import build_tab

        build_tab(self, models)


class ImageVQPairing(ImagePairing):
    """class -> VQ tokens -> image: masked-token prior + the VQ decoder."""

    name: ClassVar[str] = "image-vq"
    y_prime: ClassVar[Spec] = Spec("y_prime", "tokens", "(8, 8) int64 VQ codebook indices")
    config_class: ClassVar[type] = ImageVQConfig


class ImageDownPairing(ImagePairing):
    """class -> 8x8 image -> 32x32 image: low-resolution diffusion + super-resolution."""

    name: ClassVar[str] = "image-down"
    y_prime: ClassVar[Spec] = Spec("y_prime", "image", "(channels, 8, 8) float32 average-pooled image in [0, 1]")
    config_class: ClassVar[type] = ImageDownConfig
