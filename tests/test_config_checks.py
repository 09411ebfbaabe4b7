"""A domain config's value checks run when the config is built: one ConfigError line naming the key, no run folder."""

import pytest
from regen_core.cli import main as regen_main

BAD = [
    ("tts", "pairing.vocoder=foo", "pairing.vocoder"),
    ("image", "pairing.y_prime=foo", "pairing.y_prime"),
    ("asr", "pairing.n_mels=0", "pairing.n_mels"),
    ("asr", "pairing.sample_rate=-1", "pairing.sample_rate"),
    ("talkinghead", "pairing.size=24", "pairing.size"),
    ("talkinghead", "pairing.render_channels=[8,8]", "pairing.render_channels"),
    ("talkinghead", "pairing.direct_real_size=18", "pairing.direct_real_size"),
]


@pytest.mark.parametrize("name,override,key", BAD, ids=[o for _, o, _ in BAD])
def test_bad_domain_config_value_is_one_line_and_leaves_no_run(name, override, key, tmp_path, capsys):
    pytest.importorskip(f"regen_{name}")
    run = tmp_path / "R"
    assert regen_main(["train", name, "--stage", "generate", "--config", "toy", "--run", str(run), override]) == 2
    err = capsys.readouterr().err
    assert key in err and len(err.strip().splitlines()) == 1, err
    assert not run.exists()
