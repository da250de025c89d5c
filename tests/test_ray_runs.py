"""`--ray`: the same seeds give the same results as in-process; a failed worker is retried and the
run says so; a run that cannot finish names the missing seeds; sweep, stability and sonify spread
over Ray too. One local Ray instance with 2 CPUs serves the whole module (it takes seconds to start)."""
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ray = pytest.importorskip("ray", reason="Ray is the [scale] extra (pip install -e '.[dev]' includes it)")

import dsp_engine  # noqa: E402
from bridge.cli import main  # noqa: E402
from dsp_engine import DSPEngine  # noqa: E402
from synth.config import SynthConfig  # noqa: E402

VALIDATE = ["analysis", "validate", "--backend", "tiny", "--device", "cpu", "--pos", "sound rhythmic",
            "--neg", "sound sustained", "--n", "8", "--steps", "2", "--duration", "0.5", "--jobs", "1"]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    # Ray workers import the test helpers by value: they are not on the workers' path
    ray.cloudpickle.register_pickle_by_value(dsp_engine)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


def test_validate_tiny_under_ray_local_equals_in_process(tmp_path, capsys):
    """The CI check: `validate --backend tiny --n 8 --ray local` writes the in-process results.json."""
    assert main([*VALIDATE, "--out", str(tmp_path / "here")]) == 0
    assert main([*VALIDATE, "--ray", "local", "--out", str(tmp_path / "ray")]) == 0
    here = (tmp_path / "here" / "results.json").read_text()
    assert (tmp_path / "ray" / "results.json").read_text() == here
    res = json.loads(here)
    assert res["analysis_sr"] == 44100 and res["n"] == 8 and set(res["modes"]) == {"text", "embedding", "guidance"}
    for mode in res["modes"]:   # clip by clip, not only the statistics
        assert (tmp_path / "ray" / mode / "features.csv").read_text() == (tmp_path / "here" / mode / "features.csv").read_text()
    assert "ray: 2 workers on cpu, 1 node(s)" in capsys.readouterr().err


@dataclass(frozen=True)
class FlakyDSP:
    """Engine factory for the actors: a DSP engine whose render of `seed` kills its worker process the
    first time (a crash, as a CUDA fault would), or always raises when `always`."""
    marker: str
    seed: int
    always: bool = False

    def __call__(self):
        factory = self

        class Engine(DSPEngine):
            def render(self, state, seeds=None, window=None):
                if factory.seed in list(seeds or []):
                    if factory.always:
                        raise RuntimeError(f"simulated failure on seed {factory.seed}")
                    if not os.path.exists(factory.marker):
                        Path(factory.marker).touch()
                        os._exit(1)
                return super().render(state, seeds, window)

        return Engine()


class Args:
    def __init__(self, **kw):
        base = dict(pos="sound rhythmic", neg="sound sustained", n=6, modes="text", neutral="sound", strength=0.5,
                    gain=None, features=None, seed=0, keep_audio=False, config=None, backend=None, model_id=None,
                    device=None, sae=None, steps=None, duration=1.0, batch=2, jobs=1, ray="local", ray_actors=2,
                    cache=None, fresh=False)
        base.update(kw)
        self.__dict__.update(base)


def test_a_crashed_worker_is_retried_and_the_run_says_so(tmp_path, capsys):
    from analysis.steering.validate import run

    config = SynthConfig(backend="random-full")
    assert run(Args(out=str(tmp_path / "here"), ray=None), DSPEngine(), config) == 0
    capsys.readouterr()
    factory = FlakyDSP(str(tmp_path / "crashed"), seed=3)
    assert run(Args(out=str(tmp_path / "ray")), config=config, engine_factory=factory) == 0
    out = capsys.readouterr()
    assert (tmp_path / "crashed").exists()                       # a worker really died
    assert "retried after a worker failed" in out.out and "seeds 2..3" in out.out
    assert "retrying it once" in out.err
    assert (tmp_path / "ray" / "results.json").read_text() == (tmp_path / "here" / "results.json").read_text()


def test_a_run_that_cannot_finish_names_the_missing_seeds_and_a_rerun_finishes_it(tmp_path, capsys):
    from analysis.steering.validate import run

    config = SynthConfig(backend="random-full")
    broken = FlakyDSP(str(tmp_path / "unused"), seed=4, always=True)
    with pytest.raises(ValueError) as info:
        run(Args(out=str(tmp_path / "v")), config=config, engine_factory=broken)
    message = str(info.value)
    assert "could not finish 4 clip(s)" in message and "text+ seeds 4..5" in message and "text- seeds 4..5" in message
    assert "simulated failure on seed 4" in message and "rerun" in message
    capsys.readouterr()
    healthy = FlakyDSP(str(tmp_path / "unused"), seed=-1)
    assert run(Args(out=str(tmp_path / "v")), config=config, engine_factory=healthy) == 0
    assert "8 of 12 clips reused from the feature cache" in capsys.readouterr().out
    assert json.loads((tmp_path / "v" / "results.json").read_text())["modes"]["text"]["n_a"] == 6


def test_sonify_under_ray_writes_the_same_clips(tmp_path):
    from analysis.steering.sonify import run

    def args(out, ray):
        return Args(out=str(out), ray=ray, features=None, n_features=2, atlas=None, strengths="-1,1", contrast=[
            "rhythm=sound rhythmic|sound sustained"], contrast_strengths="-1,0,1", no_features=True, no_contrasts=False,
            all_contrasts=False, seed=7, steering_mode=None, batch=2)

    config = SynthConfig(backend="random-full")
    assert run(args(tmp_path / "here", None), DSPEngine(), config) == 0
    assert run(args(tmp_path / "ray", "local"), config=config, engine_factory=FlakyDSP("", seed=-1)) == 0
    here = json.loads((tmp_path / "here" / "index.json").read_text())
    there = json.loads((tmp_path / "ray" / "index.json").read_text())
    assert there == here and len(here["clips"]) == 5
    for clip in here["clips"]:   # the samples (libsndfile stamps a float WAV's PEAK chunk with the time)
        assert np.array_equal(sf.read(tmp_path / "ray" / clip["file"])[0], sf.read(tmp_path / "here" / clip["file"])[0])


def test_sweep_and_stability_train_one_sae_per_ray_task(tmp_path, capsys):
    import argparse

    from analysis.sae import cli as cli_sae
    from analysis.sae.corpus import write_jsonl
    from analysis.sae.encode import encode_corpus
    from synth.encoders import load_encoder

    texts = [f"{a} {b} {c}" for a in ("loud", "soft", "far", "near") for b in ("dog", "rain", "bell")
             for c in ("at night", "indoors", "outside")]
    write_jsonl([{"text": t, "source": "t", "labels": {}} for t in texts], tmp_path / "c.jsonl")
    encode_corpus(tmp_path / "c.jsonl", load_encoder("tiny", device="cpu"), tmp_path / "acts", progress=False)
    parser = argparse.ArgumentParser()
    cli_sae.register(parser.add_subparsers())
    common = ["--activations", str(tmp_path / "acts"), "--epochs", "1", "--batch-size", "16", "--quiet",
              "--device", "cpu", "--ray", "local"]
    args = parser.parse_args(["sweep", *common, "--arch", "topk", "--expansion", "2", "--k", "2", "4",
                              "--out", str(tmp_path / "sweep")])
    assert args.func(args) == 0
    rows = json.loads((tmp_path / "sweep" / "sweep.json").read_text())["settings"]
    assert [r["k"] for r in rows] == [2, 4] and all(r["fvu"] is not None for r in rows)
    assert sorted(p.name for p in (tmp_path / "sweep" / "runs").glob("*.json")) == ["topk_x2_k2.json", "topk_x2_k4.json"]
    capsys.readouterr()
    assert args.func(args) == 0                                   # finished settings are not trained again
    assert capsys.readouterr().out.count("done before, skipped") == 2

    args = parser.parse_args(["stability", *common, "--expansion", "2", "--k", "2", "--seeds", "0", "1", "2",
                              "--out", str(tmp_path / "stab")])
    assert args.func(args) == 0
    rep = json.loads((tmp_path / "stab" / "stability.json").read_text())
    assert rep["n_seeds"] == 3 and len(rep["pairs"]) == 3 and set(rep["per_seed"]) == {"0", "1", "2"}
    assert all((tmp_path / "stab" / f"seed_{s}" / "cfg.json").is_file() for s in (0, 1, 2))
