"""`analysis steering-sweep`: the pure parts, and a tiny-backend run end to end."""
import json
import math
from types import SimpleNamespace

import pytest

from analysis.steering.acoustic_features import FEATURE_NAMES, FileResult
from analysis.steering.sweep import Config, best_combos, effect, grid, run, score


def results(values: dict[str, list[float]]):
    n = len(next(iter(values.values())))
    return [FileResult(f"c{i}", {f: values.get(f, [0.0, 1.0] * n)[i] for f in FEATURE_NAMES}) for i in range(n)]


def test_effect_gives_d_and_selectivity():
    pos = results({"rms_mean": [2.0, 2.2, 2.1, 1.9], "tempo": [0.0, 1.0, 0.0, 1.0]})
    neg = results({"rms_mean": [1.0, 1.2, 1.1, 0.9], "tempo": [0.1, 1.1, 0.1, 1.1]})
    e = effect(pos, neg, "rms_mean")
    assert e["target_d"] > 5 and e["d"]["tempo"] < 0
    others = [abs(v) for n, v in e["d"].items() if n != "rms_mean"]
    assert e["selectivity"] == pytest.approx(e["target_d"] / (sum(others) / len(others)))


def test_score_caps_retention_and_weighs_selectivity():
    assert score([{"retention": 3.0, "selectivity": 4.0}]) == 1.5
    assert score([{"retention": 1.0, "selectivity": 1.0}]) == 0.5
    assert score([{"retention": math.nan, "selectivity": 1.0}]) == -math.inf


def test_grid_and_combos():
    configs = grid(["cross"], [2.0], 3)
    assert len(configs) == 4 * 4 and Config("cross", None, "all", 2.0) in configs
    cells = {}
    for c in configs:   # block 2 best, then 0, then 1; window late best
        r = {None: 0.1, (0,): 0.8, (1,): 0.5, (2,): 1.0}[c.blocks] * (1.2 if c.window == "late" else 1.0)
        cells[("a", c)] = {"retention": r, "selectivity": 3.0}
    combos = best_combos(cells, ["a"], ["cross"], [2.0])
    assert combos == [Config("cross", (0, 2), "late", 2.0)]   # three of three is not a "few"


def test_the_sweep_runs_on_the_tiny_backend(tmp_path):
    args = SimpleNamespace(contrasts="fast-slow,drums", pick="fast-slow", sites="cross", gains="2", n=2, seed=0,
                           neutral="music", out=str(tmp_path / "s"), config=None, backend="tiny", model_id=None,
                           device="cpu", sae=None, steps=2, duration=0.5, batch=8, jobs=1, ray=None, ray_actors=None,
                           cache=None, fresh=False)
    assert run(args) == 0
    res = json.loads((tmp_path / "s" / "results.json").read_text())
    assert res["pick_contrasts"] == ["fast-slow"] and res["judged_contrasts"] == ["drums"]
    assert len(res["cells"]) == 2 * 3 * 4          # 2 contrasts x (2 blocks + all) x 4 windows
    assert (tmp_path / "s" / "heat_map.png").stat().st_size > 0
    assert "picked:" in (tmp_path / "s" / "report.md").read_text()
    with pytest.raises(ValueError, match="--pick"):
        run(SimpleNamespace(**{**vars(args), "pick": "fast-slow,drums"}))
