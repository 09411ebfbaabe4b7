"""python -m regen_tts.bench_intelligibility: tts speech transcribed by regen's ASR (through the registry) and pocketsphinx."""

from __future__ import annotations

import json

import pytest

from regen_tts.bench_intelligibility import main, spoken_words


def test_spoken_words():
    assert spoken_words("Hello, 2 dogs!") == "hello two dogs"
    assert spoken_words("Dr. Who's 3rd car.") == "doctor who's third car"


def test_intelligibility_bench_at_toy_size(tmp_path):
    from regen_core.cli import main as regen

    assert regen(["compare", "tts", "--config", "toy", "--run", str(tmp_path / "tts")]) == 0
    assert regen(["compare", "asr", "--config", "toy", "--run", str(tmp_path / "asr")]) == 0
    out = tmp_path / "intel.json"
    assert main(["--model", str(tmp_path / "tts"), "--asr", str(tmp_path / "asr"), "--out", str(out), "--n", "2"]) == 0
    rec = json.loads(out.read_text())["recognisers"]
    for name in ("regen_asr", "pocketsphinx"):
        if not rec[name]["available"]:
            pytest.fail(f"{name} unavailable: {rec[name].get('reason')}")  # make setup installs both
        assert set(rec[name]) >= {"espeak_reference", "regeneration", "direct"}
        assert all(rec[name][k]["wer"] >= 0 for k in ("espeak_reference", "regeneration", "direct"))
        assert "wer_ratio_to_reference" in rec[name]["regeneration"]
