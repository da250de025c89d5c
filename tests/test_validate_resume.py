"""Resumable validation: a run killed with SIGKILL halfway and rerun with the same arguments reuses
every finished clip, renders only the rest, and writes the results.json of an uninterrupted run."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from analysis.steering.acoustic_features import FEATURE_NAMES, FileResult
from analysis.steering.feature_cache import FeatureCache, RenderIdentity, clip_key
from bridge.cli import build_parser, main
from synth.state import SynthState

ROOT = Path(__file__).resolve().parents[1]
N = 12                # seeds per pole; 2 poles (--modes text), batches of 2 seeds: 12 engine calls
ARGV = ["analysis", "validate", "--backend", "tiny", "--device", "cpu", "--pos", "sound rhythmic",
        "--neg", "sound sustained", "--modes", "text", "--n", str(N), "--steps", "3", "--duration", "1",
        "--batch", "2", "--jobs", "1"]


@pytest.fixture(scope="module")
def tiny():
    from analysis.steering.validate import engine_from_args

    return engine_from_args(build_parser().parse_args(ARGV + ["--out", "unused"]))


def validate(tiny, *extra) -> int:
    """The command line, in this process, with the module's engine (building one costs seconds)."""
    from analysis.steering.validate import run

    engine, config = tiny
    return run(build_parser().parse_args([*ARGV, *extra]), engine, config)


def cache_entries(out: Path) -> list[Path]:
    return [p for p in (out / "feature_cache").rglob("*.json") if not p.name.startswith(".")]


def test_kill_9_halfway_then_rerun_equals_an_uninterrupted_run(tmp_path, capsys, tiny):
    killed = tmp_path / "killed"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "bridge.cli", *ARGV, "--out", str(killed)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # the uninterrupted reference run goes on here while the other process starts up and gets killed
    reference = threading.Thread(target=validate, args=(tiny, "--out", str(tmp_path / "whole")))
    reference.start()
    try:
        deadline = time.monotonic() + 240
        while len(cache_entries(killed)) < N and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
        reference.join()
    done = len(cache_entries(killed))
    assert N <= done < 2 * N and not (killed / "results.json").exists()
    for entry in cache_entries(killed):        # atomic writes: every entry is whole
        assert set(json.loads(entry.read_text())["features"]) == set(FEATURE_NAMES)

    capsys.readouterr()
    assert validate(tiny, "--out", str(killed)) == 0
    reused = int(re.search(r"(\d+) of \d+ clips reused", capsys.readouterr().out).group(1))
    assert done - 1 <= reused <= done            # a whole batch of 2 is the unit: at most one clip is redone
    assert (killed / "results.json").read_text() == (tmp_path / "whole" / "results.json").read_text()
    assert (killed / "text" / "features.csv").read_text() == (tmp_path / "whole" / "text" / "features.csv").read_text()


def test_cache_key_covers_state_seed_backend_model_sae_and_rate(tmp_path):
    state = SynthState(steps=10)
    ident = RenderIdentity("tiny", "tiny-random", "sae-a", "clip")
    key = clip_key(state, 3, ident)
    assert clip_key(state.replace(seed=99), 3, ident) == key       # the rendered seed counts, not state.seed
    others = [clip_key(state, 4, ident), clip_key(state.replace(steps=11), 3, ident),
              clip_key(state.replace(features={2: 1.0}), 3, ident),
              clip_key(state, 3, RenderIdentity("stable-audio", "tiny-random", "sae-a", "clip")),
              clip_key(state, 3, RenderIdentity("tiny", "other-model", "sae-a", "clip")),
              clip_key(state, 3, RenderIdentity("tiny", "tiny-random", "sae-b", "clip")),
              clip_key(state, 3, RenderIdentity("tiny", "tiny-random", "sae-a", "full")),
              clip_key(state, 3, RenderIdentity("tiny", "tiny-random", "sae-a", "clip", analysis_sr=22050))]
    assert len({key, *others}) == len(others) + 1


def test_cache_round_trips_exactly_and_skips_what_it_cannot_read(tmp_path):
    cache = FeatureCache(tmp_path)
    feats = {name: 0.1 * (i + 1) / 3 for i, name in enumerate(FEATURE_NAMES)}
    cache.put("ab" * 32, FileResult("old/seed_000001", feats))
    cache.put("cd" * 32, FileResult("old/seed_000002", None, "old/seed_000002: silent (peak below 1e-05)"))
    assert cache.get("ab" * 32, "new/seed_000001") == FileResult("new/seed_000001", feats)   # bit for bit
    assert cache.get("cd" * 32, "new/seed_000002").error == "new/seed_000002: silent (peak below 1e-05)"
    (tmp_path / "ef").mkdir()
    (tmp_path / "ef" / f"{'ef' * 32}.json").write_text('{"features": {"rms_mean": ')   # not ours / damaged
    assert cache.get("ef" * 32, "x") is None and cache.get("12" * 32, "x") is None
    assert FeatureCache(tmp_path, fresh=True).get("ab" * 32, "x") is None


@pytest.mark.parametrize("flag", ["--fresh", "--cache"])
def test_resume_flags_are_on_both_validate_commands(flag, capsys):
    for command in ("validate", "validate-preset"):
        with pytest.raises(SystemExit):
            main(["analysis", command, "--help"])
        assert flag in capsys.readouterr().out
