"""The benchmark script runs at a tiny size and writes bench.json."""

import json

import pytest

from regen_melody.bench import main


@pytest.mark.slow
def test_quick_bench_writes_throughput(tmp_path):
    assert main(["--quick", "--out", str(tmp_path), "--n-chorales", "2", "--n-folk", "3", "--num-proc", "2"]) == 0
    result = json.loads((tmp_path / "bench.json").read_text())
    ex = result["extraction"]
    assert ex["pieces"] == 5 and ex["usable"] >= 3
    assert ex["parse_pieces_per_s_one_core"] > 0 and ex["parse_pieces_per_s_parallel"] > 0
    assert ex["templates_per_s_one_core"] > 0


@pytest.mark.slow
def test_pd_analysis_runs_on_a_toy_run(tmp_path):
    from regen_core.pipeline import load_run_config, train_stage

    from regen_melody.pairing import MelodyPairing
    from regen_melody.pd_analysis import main as pd_main

    cfg = load_run_config(MelodyPairing, "toy", [])
    pairing = MelodyPairing(cfg.pairing)
    data = pairing.load_data()
    for stage in ("extract", "generate", "regenerate", "direct"):
        train_stage(pairing, stage, cfg, tmp_path / "run", data=data)
    assert pd_main(["--run", str(tmp_path / "run"), "--out", str(tmp_path / "pd"), "--seeds", "0", "--n-test", "1",
                    "--shifts", "0,5"]) == 0
    # the compose-length benchmark at a tiny size, on the same run
    from regen_melody.bench_compose_length import main as length_main

    assert length_main(["--run", str(tmp_path / "run"), "--out", str(tmp_path / "len.json"), "--words", "5,20",
                        "--uncached-words", "5"]) == 0
    # the compose CLI on the same run, every output a person hears or reads
    from regen_melody.compose import main as compose_main

    song = tmp_path / "song"
    assert compose_main(["--lyrics", "Twinkle, twinkle, little star.", "--model", str(tmp_path / "run"), "--key", "G",
                         *(a for s in (".mid", ".musicxml", ".wav", ".pdf", ".ly") for a in ("--out", f"{song}{s}"))]) == 0
    for s in (".mid", ".musicxml", ".wav", ".pdf", ".ly", ".roll.png", ".template.json"):
        assert (tmp_path / f"song{s}").stat().st_size > 0, s
    assert '"Twin" -- "kle," "twin" -- "kle,"' in (tmp_path / "song.ly").read_text()
    rows = json.loads((tmp_path / "len.json").read_text())["rows"]
    assert [(r["words"], r["side"], r["cached"]) for r in rows][:2] == [(5, "regeneration", True), (5, "direct", True)]
    assert len(rows) == 6 and all(r["wall_s"] > 0 and r["syllables"] >= r["words"] for r in rows)
    r = json.loads((tmp_path / "pd" / "pd_analysis.json").read_text())
    assert r["n_test"] == 1 and set(r["regeneration"]["default"]["PD_by_tonic_shift"]) == {"0", "5"}
    values = [r["direct"]["PD"], r["regeneration"]["unconstrained"]["PD_oracle_shift"],
              r["distribution_baselines_iid"]["train_chorales_absolute"], *r["regenerator_on_ground_truth_templates"].values()]
    assert all(0.0 <= v <= 1.0 for v in values)
    # the bench's key-given comparison: both sides get the reference's key with the lyrics
    from regen_core.evaluate import evaluate
    from regen_core.pipeline import load_run

    from regen_melody.bench import with_key
    from regen_melody.theory import melody_key
    from regen_melody.generate import parse_key

    keyed = with_key(data["test"])
    assert len(keyed) == len(data["test"]) and keyed[0]["melody"] == data["test"][0]["melody"]
    assert keyed[0]["lyrics"]["lyrics"] == data["test"][0]["lyrics"]
    assert parse_key(keyed[0]["lyrics"]["key"]) == melody_key(keyed[0]["melody"])
    _, models = load_run(tmp_path / "run")
    report = evaluate(pairing, models, keyed, cfg.evaluate, tmp_path / "keyed", progress=False)
    assert {m["name"] for m in report["metrics"]} >= {"PD", "DD", "MD"}
    assert (tmp_path / "keyed" / "examples" / "direct" / "example00.png").exists()
    # the full bench on this run, every stage's best/ weights: both conditions, targets for both
    from regen_melody.bench import main as bench_main

    assert bench_main(["--out", str(tmp_path / "bench"), "--run", str(tmp_path / "run"), "--config", "toy", "--weights", "best",
                       "--n-chorales", "1", "--n-folk", "1", "--num-proc", "1"]) == 0
    b = json.loads((tmp_path / "bench" / "bench.json").read_text())
    assert b["weights"] == "best" and b["decoding"]["register_choice"] == "median"
    assert {"comparison", "comparison_key_given", "comparison_key_given_unconstrained"} <= set(b)
    assert isinstance(b["targets"]["regeneration beats direct on PD, key given"], bool)
    assert r["distribution_baselines_iid"]["reference_own_resample"] > r["distribution_baselines_iid"]["train_chorales_in_C_Am_by_tonic_shift"]["6"]


def test_chorale_weight_repeats_the_training_sopranos_for_the_regenerator():
    import pytest
    from regen_core.pipeline import load_run_config

    from regen_melody.config import MelodyConfig
    from regen_melody.pairing import MelodyPairing

    sizes = {}
    for w in (1, 3):
        cfg = load_run_config(MelodyPairing, "toy", [f"pairing.chorale_weight={w}"])
        pairing = MelodyPairing(cfg.pairing)
        data = pairing.load_data()
        sizes[w] = len(pairing.stage_data("regenerate", data, None).train)
        if w == 1:
            solo = MelodyPairing(MelodyConfig(**{**cfg.pairing.__dict__, "n_folk": -1}))
            n_chorale = len(solo.stage_data("regenerate", solo.load_data(), None).train)
    assert n_chorale > 0 and sizes[3] == sizes[1] + 2 * n_chorale
    with pytest.raises(ValueError, match="chorale_weight"):
        MelodyConfig(chorale_weight=0)
    with pytest.raises(ValueError, match="key_choice"):
        MelodyConfig(key_choice="anything")


def test_render_bench_times_each_format(tmp_path):
    from regen_melody.bench_render import main as render_main

    assert render_main(["--out", str(tmp_path / "r.json"), "--repeats", "1,2", "--formats", "wav,ly"]) == 0
    r = json.loads((tmp_path / "r.json").read_text())
    assert [(row["repeats"], row["notes"]) for row in r["rows"]] == [(1, 14), (2, 28)]
    one, two = r["rows"]
    assert two["music_s"] == pytest.approx(2 * one["music_s"])  # 4 full bars, the copy starts on the next
    assert all(row["wav_wall_s"] > 0 and row["wav_bytes"] > row["ly_bytes"] > 0 for row in r["rows"])
    assert r["programs"]["fluidsynth"].startswith("FluidSynth") and r["soundfont"].endswith(".sf2")
