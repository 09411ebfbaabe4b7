"""``regen serve`` without a browser: model specs, loading, the tab hook, typed errors in the page, the CLI.

(The page itself, driven in Chromium for every domain's tab, is tested in tests/test_serve_browser.py.)
"""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest

from regen_core import serve
from regen_core.contract import ServesTab
from regen_core.errors import InputError, RegenError


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    from regen_core.contract import STAGES
    from regen_core.examples.toy import ToyPairing
    from regen_core.pipeline import load_run_config, train_stage

    out = tmp_path_factory.mktemp("serve-toy") / "run"
    cfg = load_run_config(ToyPairing, "toy", [f"train.{s}.max_steps=2" for s in STAGES])
    pairing = ToyPairing(cfg.pairing)
    data = pairing.load_data()
    for stage in STAGES:
        train_stage(pairing, stage, cfg, out, data=data)
    return out


@pytest.mark.parametrize("value, message", [
    ("tts", "expected PAIRING=SPEC"),
    ("=runs/x", "expected PAIRING=SPEC"),
    ("toy=", "expected PAIRING=SPEC"),
    ("nosuch=runs/x", "no pairing named 'nosuch' is installed"),
])
def test_model_args_are_checked(value, message):
    with pytest.raises(InputError, match=message):
        serve.parse_model_args([value], ["toy", "tts"])


def test_model_args_parse_and_refuse_a_pairing_named_twice():
    assert serve.parse_model_args(["toy=runs/a", " tts = runs/b "], ["toy", "tts"]) == {"toy": "runs/a", "tts": "runs/b"}
    with pytest.raises(InputError, match="names 'toy' twice"):
        serve.parse_model_args(["toy=a", "toy=b"], ["toy"])


def test_no_model_names_the_commands_that_make_one():
    for spec in (None, "pretrained"):
        with pytest.raises(serve.NoModelError) as info:
            serve.load_models("toy", spec)
        assert "regen compare toy --config tiny --run runs/toy" in str(info.value)
        assert "regen serve --model toy=runs/toy" in str(info.value)


def test_load_models_refuses_a_missing_folder_and_another_pairings_run(toy_run, tmp_path):
    with pytest.raises(serve.ServeError, match="does not exist"):
        serve.load_models("toy", str(tmp_path / "nothing"))
    with pytest.raises(serve.ServeError, match="is a 'toy' run, not 'tts'"):
        serve.load_models("tts", str(toy_run))
    pairing, models = serve.load_models("toy", str(toy_run))
    assert pairing.name == "toy" and {"generate", "regenerate", "direct"} <= set(models)


def test_tabs_say_why_they_cannot_serve(toy_run):
    (missing,) = serve.load_tabs({}, ["toy"])
    assert missing.pairing is None and "regen compare toy" in missing.message
    (no_hook,) = serve.load_tabs({"toy": str(toy_run)}, ["toy"])  # the toy pairing offers no serve_tab
    assert no_hook.pairing is None and "offers no page" in no_hook.message


def test_the_tab_hook_is_a_runtime_checkable_protocol():
    class WithTab:
        def serve_tab(self, models):
            pass

    assert isinstance(WithTab(), ServesTab)
    assert not isinstance(object(), ServesTab)


def test_guard_shows_typed_errors_in_the_page_and_keeps_bugs_as_they_are():
    gr = pytest.importorskip("gradio", reason="the serve extra (gradio) is not installed")

    class TextError(RegenError, ValueError):
        pass

    def bad_text(text):
        raise TextError("text is empty")

    with pytest.raises(gr.Error) as info:
        serve.guard(bad_text)("")
    assert info.value.message == "TextError: text is empty"

    def missing(path):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)

    with pytest.raises(gr.Error, match="x.wav: no such file or directory"):
        serve.guard(missing)("x.wav")

    def bug(_):
        raise ZeroDivisionError("a bug keeps its traceback")

    with pytest.raises(ZeroDivisionError):
        serve.guard(bug)(0)
    assert serve.guard(lambda a, b=1: a + b)(1, b=2) == 3


def test_step_timer_lists_each_step():
    timer = serve.StepTimer()
    with timer("generate"):
        pass
    with timer("regenerate"):
        pass
    line = timer.markdown("Y': 3 frames")
    assert line.startswith("time per step: generate **") and "regenerate **" in line and line.endswith("; Y': 3 frames")
    with pytest.raises(InputError, match="no audio given"):
        serve.require(None, "no audio given: upload one")


def test_the_page_builds_with_a_tab_per_pairing():
    pytest.importorskip("gradio", reason="the serve extra (gradio) is not installed")
    app = serve.build_app([serve.Tab("toy", message="no model for 'toy'")])
    assert type(app).__name__ == "Blocks"


def test_upload_limit_is_a_size():
    assert serve.check_file_size("10MB") == "10mb" and serve.check_file_size(" 0.5 gb") == "0.5gb"
    for bad in ("ten", "10", "0mb", "-1mb", "10 tb"):
        with pytest.raises(InputError, match="--max-file-size"):
            serve.check_file_size(bad)


def test_a_taken_port_is_one_line():
    pytest.importorskip("gradio", reason="the serve extra (gradio) is not installed")
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = serve.build_app([serve.Tab("toy", message="no model")])
        with pytest.raises(serve.ServeError, match=f"cannot serve on 127.0.0.1:{port}"):
            serve.launch(app, port=port, block=False)
        app.close()


def test_cli_refuses_bad_model_specs_before_starting(capsys):
    from regen_core import cli

    assert cli.main(["serve", "--model", "nosuch=runs/x"]) == 2
    assert "no pairing named 'nosuch' is installed" in capsys.readouterr().err
    assert cli.main(["serve", "--only", "nosuch"]) == 2
    assert "--only nosuch: not installed" in capsys.readouterr().err


def test_the_cli_does_not_import_gradio():
    code = "import sys, regen_core.cli; regen_core.cli.build_parser(); sys.exit('gradio' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
