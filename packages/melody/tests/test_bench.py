"""The benchmark script runs at a tiny size and writes bench.json."""

import json

from regen_melody.bench import main


def test_quick_bench_writes_throughput(tmp_path):
    assert main(["--quick", "--out", str(tmp_path), "--n-chorales", "2", "--n-folk", "3", "--num-proc", "2"]) == 0
    result = json.loads((tmp_path / "bench.json").read_text())
    ex = result["extraction"]
    assert ex["pieces"] == 5 and ex["usable"] >= 3
    assert ex["parse_pieces_per_s_one_core"] > 0 and ex["parse_pieces_per_s_parallel"] > 0
    assert ex["templates_per_s_one_core"] > 0
