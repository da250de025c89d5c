"""bench/control.py runs and measures both servers (a short smoke run, not the benchmark)."""
import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "control.py"


def test_control_bench_smoke(capsys):
    spec = importlib.util.spec_from_file_location("bench_control", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--messages", "150", "--rounds", "1", "--warmup", "20", "--rate", "500", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for side in ("bare_python_osc", "bridge"):
        assert result[side]["n"] > 100  # UDP may drop a few; most must arrive and be timed
        assert 0 < result[side]["p50_us"] <= result[side]["p99_us"]
    assert result["ratio"]["p99"] > 0 and "goal_met" in result
