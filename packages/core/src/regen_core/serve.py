"""``regen serve``: one local web page with a tab per installed pairing (Gradio).

    regen serve [--host 127.0.0.1] [--port 7860] [--model PAIRING=SPEC ...] [--max-file-size 10mb]

Each tab is drawn by its domain package (``regen_<domain>/serve.py``) through the optional
:class:`regen_core.contract.ServesTab` hook of its pairing; core never imports a domain. The
models of a tab come from :func:`load_models` (the one place that turns ``PAIRING=SPEC`` into
loaded models). A pairing with no model, or one that offers no tab, gets a tab that says so and
names the command that trains one; the app still starts.

Bad input in the page (empty text, a file that is not audio, a photo with no face) raises the same
typed :class:`regen_core.errors.RegenError` as the command line; :func:`guard` shows its one-line
message in the page (``gradio.Error``) and the server keeps serving. Uploads above
``--max-file-size`` are refused by Gradio before any handler runs. The server binds 127.0.0.1
unless ``--host`` says otherwise.

Gradio is an optional dependency (``pip install "regen-core[serve]"``); it is imported only here,
inside functions, so ``import regen_core`` stays lean.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from . import registry
from .contract import ServesTab
from .errors import InputError, RegenError, describe_os_error, one_line

DEFAULT_HOST = "127.0.0.1"  # local only unless --host says otherwise
DEFAULT_PORT = 7860  # Gradio's usual port
DEFAULT_MAX_FILE_SIZE = "10mb"  # largest upload Gradio accepts (a minute of 48 kHz stereo WAV is ~11 MB)
#: What ``--model`` defaults to: the model the pairing's package ships (none are shipped yet, see load_models).
PRETRAINED = "pretrained"


class ServeError(RegenError):
    """``regen serve`` cannot start as asked: gradio missing, a bad ``--model``, a run of another pairing."""


class NoModelError(ServeError):
    """A pairing has no model to serve: none given with ``--model`` and none shipped."""


# -- models ---------------------------------------------------------------------------------------


def train_hint(name: str) -> str:
    """The commands that give ``name`` a model to serve."""
    return (f"train one with `regen compare {name} --config tiny --run runs/{name}`, then start "
            f"`regen serve --model {name}=runs/{name}`")


def load_models(pairing_name: str, spec: str | None) -> tuple[Any, dict[str, Any]]:
    """``(pairing, models by stage)`` for one tab: the single place ``--model PAIRING=SPEC`` is resolved.

    ``spec`` is anything ``--model`` takes (:func:`regen_core.pretrained.resolve`): ``None`` or ``"pretrained"``
    for the model the pairing's package ships, a shipped name, a run folder, a downloaded model folder. A
    pairing whose package ships no model raises :class:`NoModelError`, whose message the tab shows. A folder of
    another pairing, or one that is not a run, is a :class:`ServeError` / :class:`regen_core.pipeline.PipelineError`.
    """
    from .pretrained import PretrainedError, from_pretrained, shipped

    if (spec is None or spec == PRETRAINED) and not any(
            n == pairing_name for n in shipped([pairing_name])):
        raise NoModelError(f"no model for {pairing_name!r}: none was given with --model and its package ships "
                           f"none; {train_hint(pairing_name)}")
    try:
        pairing, models = from_pretrained(spec or PRETRAINED, pairing_name if spec in (None, PRETRAINED) else None)
    except PretrainedError as err:
        raise ServeError(f"--model {pairing_name}={spec}: {err}") from None
    if pairing.name != pairing_name:
        raise ServeError(f"--model {pairing_name}={spec}: that run is a {pairing.name!r} run, not {pairing_name!r}")
    return pairing, models


def parse_model_args(values: Sequence[str], installed: Sequence[str]) -> dict[str, str]:
    """``["tts=runs/tts", ...]`` -> ``{"tts": "runs/tts"}``; a malformed, repeated or unknown name is refused."""
    specs: dict[str, str] = {}
    for value in values:
        name, sep, spec = value.partition("=")
        name, spec = name.strip(), spec.strip()
        if not sep or not name or not spec:
            raise InputError(f"--model {value!r}: expected PAIRING=SPEC, e.g. --model tts=runs/tts")
        if name not in installed:
            raise InputError(f"--model {value!r}: no pairing named {name!r} is installed "
                             f"(installed: {', '.join(installed) or 'none'})")
        if name in specs:
            raise InputError(f"--model names {name!r} twice ({specs[name]!r} and {spec!r})")
        specs[name] = spec
    return specs


@dataclass
class Tab:
    """One tab of the page: a pairing with its models, or the message saying why it has none."""

    name: str  # registry name, also the tab's label and element ids' prefix
    pairing: Any = None  # the pairing instance (from the run's config), None without models
    models: dict[str, Any] = field(default_factory=dict)  # loaded models by stage
    message: str = ""  # shown instead of the tab's controls when it cannot serve


def load_tabs(specs: Mapping[str, str], names: Sequence[str] | None = None) -> list[Tab]:
    """One :class:`Tab` per installed pairing (or per ``names``). A model named with ``--model`` that
    fails to load stops the start (the user asked for it); a missing default only marks its tab."""
    names = list(names) if names is not None else registry.names()
    tabs = []
    for name in names:
        try:
            pairing, models = load_models(name, specs.get(name))
        except NoModelError as err:
            tabs.append(Tab(name, message=one_line(err)))
            continue
        if not isinstance(pairing, ServesTab):
            tabs.append(Tab(name, message=f"pairing {name!r} offers no page in regen serve (its package has no "
                                          f"serve_tab); use its command line, e.g. `regen sample --run RUN`"))
            continue
        tabs.append(Tab(name, pairing, models))
    return sorted(tabs, key=lambda t: bool(t.message))  # the tabs that serve first, in registry order


# -- helpers the domains' tabs use ------------------------------------------------------------------


def require_gradio() -> Any:
    """The ``gradio`` module, or a :class:`ServeError` saying how to install it."""
    try:
        import gradio
    except ImportError as err:
        raise ServeError(f"regen serve needs gradio ({err}); install it with: pip install \"regen-core[serve]\"") from None
    return gradio


def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a tab's handler: a :class:`RegenError` (or a file-system error that is the user's) becomes a
    ``gradio.Error`` with the command line's one-line message, shown in the page; the server goes on."""
    gr = require_gradio()

    @functools.wraps(fn)
    def handler(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RegenError as err:
            raise gr.Error(f"{type(err).__name__}: {one_line(err)}", print_exception=False) from err
        except OSError as err:
            line = describe_os_error(err)
            if line is None:
                raise
            raise gr.Error(line, print_exception=False) from err

    return handler


class StepTimer:
    """Wall seconds of each named step: ``with timer("generate"): ...``; :meth:`markdown` lists them."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - t0

    def markdown(self, extra: str = "") -> str:
        parts = [f"{step} **{s * 1000:.0f} ms**" if s < 1 else f"{step} **{s:.2f} s**" for step, s in self.seconds.items()]
        line = "time per step: " + ", ".join(parts)
        return f"{line}; {extra}" if extra else line


def require(value: Any, message: str) -> Any:
    """An input the page must have (an upload): missing -> :class:`InputError` with ``message``, e.g.
    "no audio given: upload a file or record one"."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(message)
    return value


_OUTPUTS: Path | None = None


def output_dir() -> Path:
    """A folder for the files the page serves (WAV, MIDI, MP4, PNG): one per server process, under the
    system temp folder (which Gradio may serve from)."""
    global _OUTPUTS
    if _OUTPUTS is None:
        _OUTPUTS = Path(tempfile.mkdtemp(prefix="regen-serve-"))
    return _OUTPUTS


def output_path(name: str, suffix: str) -> Path:
    """A fresh file name in :func:`output_dir` (``name`` + a counter + ``suffix``)."""
    folder = output_dir()
    fd, path = tempfile.mkstemp(prefix=f"{name}-", suffix=suffix, dir=folder)
    os.close(fd)
    return Path(path)


# -- the app --------------------------------------------------------------------------------------


INTRO = """# regen: regeneration learning

Each tab is one installed pairing: X is turned into the compact intermediate **Y'** (generate), then Y'
into **Y** (regenerate); the direct X -> Y baseline runs beside it where the run has one. Every output
shows Y' and the time each step took."""


def build_app(tabs: Sequence[Tab]) -> Any:
    """The Gradio Blocks app: the intro and one tab per :class:`Tab`."""
    gr = require_gradio()
    with gr.Blocks(title="regen serve", analytics_enabled=False) as app:
        gr.Markdown(INTRO)
        with gr.Tabs():
            for tab in tabs:
                with gr.Tab(tab.name, id=tab.name, elem_id=f"tab-{tab.name}"):
                    if tab.message:
                        gr.Markdown(f"**No model.** {tab.message}", elem_id=f"{tab.name}-message")
                    else:
                        tab.pairing.serve_tab(tab.models)
    return app


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)\s*$", re.IGNORECASE)


def check_file_size(text: str) -> str:
    """``--max-file-size``: a size such as ``500kb``, ``10mb`` or ``1gb`` (Gradio's notation), else :class:`InputError`."""
    m = _SIZE.match(str(text))
    if m is None or float(m.group(1)) <= 0:
        raise InputError(f"--max-file-size {text!r}: expected a positive size such as 500kb, 10mb or 1gb")
    return f"{m.group(1)}{m.group(2).lower()}"


def launch(app: Any, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, max_file_size: str = DEFAULT_MAX_FILE_SIZE,
           block: bool = True) -> Any:
    """Start the server (``block=False`` returns at once, for tests); uploads above ``max_file_size`` are refused."""
    max_file_size = check_file_size(max_file_size)
    app.queue(default_concurrency_limit=1)  # one request at a time: the models are not thread-safe
    try:
        started = app.launch(server_name=host, server_port=port, max_file_size=max_file_size, prevent_thread_lock=True,
                             show_error=True, inbrowser=False, quiet=True, allowed_paths=[str(output_dir())])
    except OSError as err:  # the port is taken, the address is not this machine's
        raise ServeError(f"cannot serve on {host}:{port}: {one_line(err)}") from None
    print(f"[serve] open http://{host}:{port} (uploads up to {max_file_size}; Ctrl+C stops)", flush=True)
    if block:
        app.block_thread()  # until Ctrl+C
    return started


def serve(specs: Mapping[str, str], *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          max_file_size: str = DEFAULT_MAX_FILE_SIZE, names: Sequence[str] | None = None, block: bool = True) -> Any:
    """Load every tab's models, build the page and serve it (``regen serve``)."""
    require_gradio()  # before any model is loaded: a missing gradio or a bad size is said first
    check_file_size(max_file_size)
    tabs = load_tabs(specs, names)
    for tab in tabs:
        print(f"[serve] {tab.name}: {tab.message or 'models ' + ', '.join(tab.models)}")
    app = build_app(tabs)
    return app, launch(app, host=host, port=port, max_file_size=max_file_size, block=block)
