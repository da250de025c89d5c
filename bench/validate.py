"""Benchmark: validation throughput (render + the 11 features) on the tiny backend, three ways, one run.

    python bench/validate.py                      # 200 clips, 5 s, 25 steps, batches of 8
    python bench/validate.py --clips 200 --seconds 1 --steps 8 --batch 16

1. one by one: one engine call per seed, then that clip's features, in this process;
2. batched in-process: what `analysis validate` does without --ray: --batch seeds per engine call,
   features measured by a process pool while the next batch renders;
3. batched under `--ray local`: a local Ray instance, one engine actor per CPU, the same batches.

Prints clips/s for each and the ratios, Ray's start-up (ray.init + every actor loading its engine)
separately, and whether the three ways measured the same features (2 and 3 must be identical; 1
renders each seed alone, which moves samples by float32 rounding). Warm-up (engine load, librosa's
first calls) is excluded from every rate. Random weights: these numbers measure speed, never sound.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from analysis.steering.acoustic_features import FEATURE_NAMES, default_jobs, measure_clip  # noqa: E402
from analysis.steering.clip_runner import Chunk, EngineFactory, LocalRunner, RayRunner  # noqa: E402
from analysis.ray_cluster import ray_session  # noqa: E402
from synth.config import SynthConfig  # noqa: E402
from synth.engine import build_engine  # noqa: E402
from synth.state import PromptSlot, SynthState  # noqa: E402


def collect(results: dict):
    def on_done(chunk, measured, _audio):
        for r in measured:
            results[r.path] = r.features
    return on_done


def matrix(results: dict, names: list[str]) -> np.ndarray:
    return np.array([[results[n][f] for f in FEATURE_NAMES] for n in names])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--steps", type=int, default=25, help="denoising steps (validate's tiny default is 25)")
    ap.add_argument("--batch", type=int, default=8, help="seeds per engine call (validate's default is 8)")
    ap.add_argument("--jobs", type=int, default=None, help="feature processes in-process (default: all cores)")
    ap.add_argument("--rounds", type=int, default=4,
                    help="the clips are split into rounds and the ways take turns within each, so that load from "
                         "other processes falls on all of them alike (default 4)")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray measurement")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = ap.parse_args(argv)

    config = SynthConfig(backend="tiny", device="cpu")
    engine = build_engine(config)
    state = SynthState(prompts=[PromptSlot("sound rhythmic", 1.0)], steps=args.steps, duration=args.seconds)
    seeds = list(range(args.clips))
    chunks = [Chunk.of_seeds("bench", state, seeds[i:i + args.batch]) for i in range(0, len(seeds), args.batch)]
    names = [n for c in chunks for n in c.names]
    sr = engine.sample_rate
    measure_clip("warm-up", engine.render(state, seeds=[10**6]).audio[0], sr)   # model, librosa and numba warm-up
    rounds = [chunks[i::args.rounds] for i in range(args.rounds)]

    def one_by_one(round_chunks, out):
        for chunk in round_chunks:
            for seed, name in zip(chunk.seeds, chunk.names):
                out[name] = measure_clip(name, engine.render(state, seeds=[seed]).audio[0], sr).features

    local = LocalRunner(engine, "tiny", jobs=args.jobs)   # each run starts its feature pool, as validate does
    ways = {"one by one": one_by_one, "batched in-process": lambda rc, out: local.run(rc, collect(out))}
    results = {way: {} for way in ways} | ({} if args.no_ray else {"--ray local": {}})
    seconds = dict.fromkeys(results, 0.0)
    fig = {"clips": args.clips, "seconds": args.seconds, "steps": args.steps, "batch": args.batch,
           "cores": default_jobs(), "rounds": args.rounds}
    with (nullcontext(None) if args.no_ray else ray_session("local")) as ray:
        if ray is not None:
            t = time.perf_counter()
            ray_runner = RayRunner(ray, EngineFactory(config), "tiny")
            fig["ray_startup_s"] = time.perf_counter() - t
            fig["ray_workers"] = ray_runner.workers
            ray_runner.run(chunks[:ray_runner.workers], collect({}))   # one warm-up batch per actor
            ways["--ray local"] = lambda rc, out: ray_runner.run(rc, collect(out))
        order = list(ways)
        for r, round_chunks in enumerate(rounds):
            for way in order[r % len(order):] + order[:r % len(order)]:   # a different way goes first each round
                t = time.perf_counter()
                ways[way](round_chunks, results[way])
                seconds[way] += time.perf_counter() - t
        if ray is not None:
            ray_runner.close()

    rate = {way: args.clips / seconds[way] for way in seconds}
    fig |= {"clips_per_s": rate, "seconds_total": seconds,
            "batched_vs_one_by_one": rate["batched in-process"] / rate["one by one"]}
    base = matrix(results["batched in-process"], names)
    d_one = float(np.max(np.abs(matrix(results["one by one"], names) - base) / np.maximum(np.abs(base), 1e-12)))
    fig["one_by_one_vs_batched_max_rel_diff"] = d_one
    print(f"tiny backend, CPU, {args.clips} clips of {args.seconds:g} s, {args.steps} steps, batches of "
          f"{args.batch}, {fig['cores']} cores, {args.rounds} interleaved rounds (render + 11 features per clip)")
    for way in seconds:
        extra = "" if way == "one by one" else f"   {rate[way] / rate['one by one']:.2f}x one by one"
        if way == "--ray local":
            extra += f", {rate[way] / rate['batched in-process']:.2f}x batched in-process ({fig['ray_workers']} actors)"
        print(f"  {way:<20} {rate[way]:7.2f} clips/s  ({seconds[way]:.1f} s){extra}")
    if "--ray local" in seconds:
        same = bool(np.array_equal(matrix(results["--ray local"], names), base))
        fig |= {"ray_vs_batched": rate["--ray local"] / rate["batched in-process"], "ray_identical_to_batched": same}
        print(f"  Ray start-up (ray.init + {fig['ray_workers']} actors loading the engine): {fig['ray_startup_s']:.1f} s, "
              "not in the rate above")
        print(f"  Ray features identical to in-process, clip by clip: {'yes' if same else 'NO'}")
    print(f"  one by one vs batched: features differ by at most {d_one:.2e} (relative; float32 rounding of batched renders)")
    if args.json:
        Path(args.json).write_text(json.dumps(fig, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
