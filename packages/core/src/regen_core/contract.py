"""The regeneration-learning contract.

A *pairing* is one domain's instance of the three steps of regeneration learning
(Tan et al., 2023) together with its direct baseline:

1. extract     Y  -> Y'   (explicit, e.g. STFT; or learned, e.g. a VAE encoder)
2. generate    X  -> Y'   (the simpler, less one-to-many mapping)
3. regenerate  Y' -> Y    (self-supervised from Y alone)
   direct      X  -> Y    (the baseline regeneration has to beat)

Everything here is a :class:`typing.Protocol`: a domain implements the methods, it does
not inherit half-implemented ones. The shared trainer only ever calls
``model(batch) -> (loss, stats)``, so it knows no domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal, Mapping, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:  # imported lazily: `import regen_core` must stay cheap
    import datasets
    import torch

#: The four trainable stages, in the order a full run trains them.
Stage = Literal["extract", "generate", "regenerate", "direct"]
STAGES: tuple[Stage, ...] = ("extract", "generate", "regenerate", "direct")


@dataclass(frozen=True)
class Spec:
    """What one of X, Y or Y' is."""

    name: str  # column name in the pairing's datasets, e.g. "text" or "audio"
    modality: str  # "text", "audio", "image", "symbolic", "latent", "tokens", "video", ...
    shape: str  # human-readable shape, e.g. "(T,) float32 @ 22050 Hz" or "(T_frames, 80)"


@dataclass(frozen=True)
class Metric:
    """A metric that judges Y against its reference."""

    name: str  # key in the dict returned by Pairing.metrics, e.g. "mcd"
    higher_is_better: bool  # direction used by reports and best-checkpoint selection
    description: str = ""  # one line for report.md, e.g. "mel-cepstral distortion with DTW, c0 excluded (dB)"


@runtime_checkable
class Model(Protocol):
    """Any model of a pairing: extractor, generator, regenerator or direct baseline.

    Models are ``torch.nn.Module`` instances. A model with no trainable parameters is
    *explicit* (Griffin-Lim, down-sampling, a dictionary G2P): the trainer has nothing to
    train for it and the stage is skipped.
    """

    def forward(self, batch: Mapping[str, Any]) -> tuple["torch.Tensor", dict[str, float]]:
        """Training objective on one collated batch: ``(scalar loss, {stat name: float})``."""
        ...

    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> Any:
        """Draw one output for one condition (one example, as stored in the dataset).

        Distribution-wise: different seeds may give different outputs for one input; the
        same seed gives the same output. ``temperature=0`` asks for the mode where the
        model has one.
        """
        ...


@runtime_checkable
class Extractor(Protocol):
    """Y -> Y'. Deterministic. Learned extractors are also :class:`Model` s."""

    def extract(self, y: Any) -> Any:
        """Map one Y (one example, as stored in the dataset) to its Y'."""
        ...


@dataclass(frozen=True)
class StageData:
    """What the shared trainer needs to train one stage."""

    train: Any  # map-style dataset (len + getitem), e.g. a datasets.Dataset
    valid: Any | None  # same, or None for no validation
    collate: Callable[[list[Any]], Mapping[str, Any]]  # list of examples -> batch for model(batch)
    lengths: Sequence[int] | None = None  # a size per training example (tokens, frames), for train.<stage>.group_by_length


@runtime_checkable
class Pairing(Protocol):
    """One domain's regeneration pipeline, its direct baseline, data and metrics.

    A pairing is constructed from its frozen config dataclass: ``PairingCls(config)``.
    Registered under the ``regen.pairings`` entry-point group (see :mod:`regen_core.registry`).
    """

    name: ClassVar[str]  # registry name, e.g. "tts"
    x: ClassVar[Spec]  # the condition
    y: ClassVar[Spec]  # the target
    y_prime: ClassVar[Spec]  # the compact intermediate representation
    metrics_spec: ClassVar[tuple[Metric, ...]]  # the metrics that judge Y
    headline: ClassVar[str]  # the one metric comparisons lead with (a name in metrics_spec or set_metrics_spec), e.g. "mcd"
    config_class: ClassVar[type]  # frozen dataclass holding every domain setting

    config: Any  # an instance of config_class

    def load_data(self) -> "datasets.DatasetDict":
        """Splits "train", "valid", "test" (deterministic), with columns x.name and y.name."""
        ...

    def build(self, stage: Stage, extractor: Extractor | None = None) -> Model:
        """A fresh model for ``stage`` (a ``torch.nn.Module``).

        ``build("extract")`` returns the extractor (learned or explicit): a module that is also
        an :class:`Extractor`. The other stages receive the (trained, frozen) extractor, because
        a regenerator may be its decoder and Y' shapes may depend on it, and return a
        :class:`Model` with ``sample``.
        """
        ...

    def stage_data(self, stage: Stage, data: "datasets.DatasetDict", extractor: Extractor | None) -> StageData:
        """Training data for ``stage``: Y for extract/regenerate, (X, Y') for generate, (X, Y) for direct."""
        ...

    def metrics(self, prediction: Any, reference: Any, x: Any = None) -> dict[str, float]:
        """Judge one predicted Y against its reference (keys = names in ``metrics_spec``)."""
        ...


# -- optional hooks ------------------------------------------------------------------------
# The shared code checks these with isinstance (they are runtime-checkable); a pairing or model
# that lacks one simply goes without the feature.


@runtime_checkable
class SetMetrics(Protocol):
    """Optional (pairing): metrics of a whole set of outputs (FID, corpus-level WER), once per seed.

    Called by the evaluation after the per-example metrics; its values replace per-example means
    of the same name. Declare their directions with :class:`SetMetricsSpec`.
    """

    def set_metrics(self, predictions: list[Any], references: list[Any], xs: list[Any]) -> dict[str, float]: ...


@runtime_checkable
class SetMetricsSpec(Protocol):
    """Optional (pairing): the metrics :meth:`SetMetrics.set_metrics` adds beyond ``metrics_spec``.

    Without it, a set metric whose name is not in ``metrics_spec`` is reported as
    "no direction declared".
    """

    set_metrics_spec: tuple[Metric, ...]


@runtime_checkable
class TimedOutput(Protocol):
    """Optional (pairing): a Y with a duration (speech, music) offers ``output_seconds(y)``;
    the evaluation then reports ``real_time_factor`` = sampling wall seconds / output seconds."""

    def output_seconds(self, prediction: Any) -> float: ...


@runtime_checkable
class ParsesX(Protocol):
    """Optional (pairing): ``regen sample --x TEXT`` turns the command-line string into one X
    (a sentence, a path to a WAV file, a class label) with ``parse_x``; without it X is the string."""

    def parse_x(self, text: str) -> Any: ...


class Visualiser(Protocol):
    """The drawer a pairing offers as ``visualise`` (see :class:`Visualises`).

    Writes one example's files (a figure, a WAV, a MIDI or video file) into ``folder`` (created
    when missing), named after ``name``, and returns their paths. ``y_prime`` is None for the
    direct baseline; ``reference`` is None when sampling from a command-line X.
    """

    def __call__(self, folder: str | Path, name: str, *, x: Any, y_prime: Any, prediction: Any,
                 reference: Any) -> list[Path]: ...


@runtime_checkable
class Visualises(Protocol):
    """Optional (pairing): ``visualise`` with the :class:`Visualiser` signature, used by the
    evaluation (``eval.n_visualise`` examples per side) and by ``regen sample``."""

    def visualise(self, folder: str | Path, name: str, *, x: Any, y_prime: Any, prediction: Any,
                  reference: Any) -> list[Path]: ...


@runtime_checkable
class Stochastic(Protocol):
    """Optional (model): ``stochastic = False`` declares that ``sample`` ignores ``seed`` (greedy
    decoding, an explicit vocoder). Models that do not declare it are taken as stochastic: the
    contract suite then checks that two seeds give two outputs."""

    stochastic: bool


@runtime_checkable
class BatchSampler(Protocol):
    """Optional (model): draw a batch at once, ``sample_batch(conditions, seed=, temperature=)``
    -> a batched tensor (``sample`` then draws one). The image domain's samplers and benchmarks
    use it where one-by-one sampling would be too slow; the core evaluation samples one by one."""

    def sample_batch(self, conditions: "torch.Tensor", *, seed: int | None = None,
                     temperature: float = 1.0) -> "torch.Tensor": ...


@runtime_checkable
class ServesTab(Protocol):
    """Optional (pairing): its tab of ``regen serve``'s web page, ``serve_tab(models)``.

    Called inside an open ``gradio.Tab`` with the models a run folder loads (``{stage: model}``, as
    :func:`regen_core.pipeline.load_run` returns them); it adds the tab's inputs, outputs and handlers
    (the domain's ``serve.py``, which imports gradio itself). Handlers raise the domain's
    :class:`regen_core.errors.RegenError` s for bad input; :func:`regen_core.serve.guard` shows them in the page.
    Outputs show Y' and the time each step took. Pairings without it get a tab that says so.
    """

    def serve_tab(self, models: Mapping[str, Any]) -> None: ...


@runtime_checkable
class OnnxExport(Protocol):
    """Optional: a pairing whose trained models export to ONNX offers the classmethod ``export_onnx(run, out)``.

    ``run``: a run folder (or one ``<stage>/final`` model folder) of this pairing, which carries the
    config (hence a classmethod); ``out``: the folder to write the graphs and a ``manifest.json``
    into. Returns the manifest (a JSON-able dict). A run it cannot export, or a missing optional
    dependency, raises a :class:`regen_core.errors.RegenError` whose message says why.
    ``regen export PAIRING --onnx OUT --run RUN`` calls it.
    """

    @classmethod
    def export_onnx(cls, run: str, out: str) -> dict[str, Any]: ...


@runtime_checkable
class KeepsOnInit(Protocol):
    """Optional (pairing): ``init_keeps``, the pairing settings a fine-tune (``regen train --init``) must keep
    because the model's meaning depends on them although its parameter shapes do not (a sample rate, an STFT
    hop, a vocabulary's order). Settings that change the shapes are found without being declared."""

    init_keeps: ClassVar[tuple[str, ...]]


@dataclass
class Inference:
    """The output of X -> Y' -> Y: the intermediate is always returned too."""

    y_prime: Any  # the sampled Y'
    y: Any  # the regenerated Y


def regenerate_pipeline(
    x: Any, generator: Any, regenerator: Any, *, seed: int | None = None, temperature: float = 1.0
) -> Inference:
    """Inference: sample Y' ~ P(Y'|X), then Y ~ P(Y|Y'). Both steps get derived seeds."""
    y_prime = generator.sample(x, seed=seed, temperature=temperature)
    y = regenerator.sample(y_prime, seed=None if seed is None else seed + 1, temperature=temperature)
    return Inference(y_prime=y_prime, y=y)


def is_explicit(model: Any) -> bool:
    """True when ``model`` has nothing to train (no parameters requiring grad)."""
    params = getattr(model, "parameters", None)
    if params is None:
        return True
    return not any(p.requires_grad for p in params())
