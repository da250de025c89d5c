"""Benchmark: seconds from render call to WAV on disk, ours vs the plain StableAudioPipeline.__call__.

    python bench/render.py                                   # CPU: tiny backend
    python bench/render.py --backend random-full --steps 100 # GPU: full architecture, fp16

Prints, for a 5 s clip: our engine with window=clip and window=full and their ratio, and the plain
`__call__` (which always denoises 47.55 s) and the ratio of ours to it. Timings are the median of
--repeats runs after one warm-up (model load and first-call setup excluded). Random weights: the
numbers measure speed only, never sound.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from synth.clip_writer import write_clip  # noqa: E402
from synth.config import SynthConfig  # noqa: E402
from synth.denoise import generators  # noqa: E402
from synth.engine import build_engine  # noqa: E402
from synth.state import PromptSlot, SynthState  # noqa: E402


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default=None, help="tiny (default on CPU) | random-full (default on GPU) | stable-audio")
    ap.add_argument("--model-id", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--cfg", type=float, default=7.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--prompt", default="warm analog pad")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--compare-windows", type=int, metavar="N", default=0,
                    help="instead of timing: render N seeds with window=clip and window=full and compare "
                         "their acoustic features (what cropping the denoising window does to the sound)")
    ap.add_argument("--batch", type=int, metavar="N", default=0,
                    help="instead: time one engine.render of N seeds in one batch (window=clip), e.g. a "
                         "validation run")
    args = ap.parse_args(argv)

    backend = args.backend or ("random-full" if torch.cuda.is_available() else "tiny")
    config = SynthConfig(backend=backend, model_id=args.model_id, device=args.device, dtype=args.dtype)
    t0 = time.perf_counter()
    engine = build_engine(config)
    load_s = time.perf_counter() - t0
    pipe = engine.pipe
    state = SynthState(prompts=[PromptSlot(args.prompt, 1.0)], steps=args.steps, cfg=args.cfg,
                       duration=args.seconds, seed=0, name="bench")
    out_dir = Path(tempfile.mkdtemp(prefix="latent-synth-bench-"))
    if args.compare_windows:
        return compare_windows(engine, state, args.compare_windows, args.json)
    if args.batch:
        engine.render(state, [0], window="clip")  # warm-up
        t = time.perf_counter()
        audio = engine.render(state, list(range(args.batch)), window="clip")
        elapsed = time.perf_counter() - t
        print(f"{engine.model_id} on {engine.device}: {args.batch} seeds x {args.seconds:g} s, {args.steps} steps, "
              f"one batch: {elapsed:.2f} s ({elapsed / args.batch:.3f} s per clip), audio {tuple(audio.shape)}")
        return 0

    def ours(window: str) -> float:
        t = time.perf_counter()
        audio = engine.render(state, [state.seed], window=window)
        # nan_to_num: fp16 random weights may overflow; the writer (rightly) refuses NaN audio.
        write_clip(out_dir, np.nan_to_num(audio[0]), engine.sample_rate, state, engine.meta())
        return time.perf_counter() - t

    def plain() -> float:
        # The plain pipeline, same threads as ours, same seed, same writer.
        old = torch.get_num_threads()
        if engine.threads:
            torch.set_num_threads(engine.threads)
        try:
            t = time.perf_counter()
            audio = pipe(prompt=args.prompt, audio_end_in_s=args.seconds, num_inference_steps=args.steps,
                         guidance_scale=args.cfg, generator=generators([0]), output_type="pt").audios
            write_clip(out_dir, np.nan_to_num(audio[0].float().cpu().numpy()), engine.sample_rate, state,
                       engine.meta())
            return time.perf_counter() - t
        finally:
            torch.set_num_threads(old)

    results = {}
    for name, fn in (("ours_clip", lambda: ours("clip")), ("ours_full", lambda: ours("full")), ("plain_call", plain)):
        fn()  # warm-up: first-call allocations, encoder cache, kernel selection
        _sync(engine.device)
        times = [fn() for _ in range(max(1, args.repeats))]
        results[name] = statistics.median(times)
        print(f"  {name:<11} {results[name]:8.3f} s   (runs: {', '.join(f'{t:.3f}' for t in times)})", file=sys.stderr)

    dtype = str(engine.backend.dtype).replace("torch.", "")
    print(f"backend {engine.model_id} on {engine.device} ({dtype}), {args.seconds:g} s clip, {args.steps} steps, "
          f"cfg {args.cfg:g}, median of {args.repeats}; model load {load_s:.1f} s")
    print(f"{'path':<34}{'seconds':>10}")
    print(f"{'ours, window=clip':<34}{results['ours_clip']:>10.3f}")
    print(f"{'ours, window=full':<34}{results['ours_full']:>10.3f}")
    print(f"{'plain StableAudioPipeline.__call__':<34}{results['plain_call']:>10.3f}")
    r_clip_full = results["ours_clip"] / results["ours_full"]
    r_clip_plain = results["ours_clip"] / results["plain_call"]
    r_full_plain = results["ours_full"] / results["plain_call"]
    print(f"clip / full   = {r_clip_full:.3f}  ({1 / r_clip_full:.1f}x faster)")
    print(f"ours (clip) / plain = {r_clip_plain:.3f}  ({1 / r_clip_plain:.1f}x faster)")
    print(f"ours (full) / plain = {r_full_plain:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "backend": backend, "model_id": engine.model_id, "device": engine.device, "dtype": dtype,
            "seconds": args.seconds, "steps": args.steps, "cfg": args.cfg, "repeats": args.repeats,
            **results, "clip_over_full": r_clip_full, "clip_over_plain": r_clip_plain, "full_over_plain": r_full_plain,
        }, indent=2) + "\n")
    return 0


def compare_windows(engine, state: SynthState, n: int, json_path: str | None) -> int:
    """Same seeds, both windows: paired differences of the 11 acoustic features, and how alike the
    waveforms are. On random weights this says only how the sampler itself reacts to the window."""
    from analysis.acoustic_features import FEATURE_NAMES, features_from_audio

    seeds = list(range(n))
    clip = engine.render(state, seeds, window="clip")
    full = engine.render(state, seeds, window="full")
    fc = [features_from_audio(a, engine.sample_rate) for a in clip]
    ff = [features_from_audio(a, engine.sample_rate) for a in full]
    corr = [float(np.corrcoef(a.ravel(), b.ravel())[0, 1]) for a, b in zip(clip, full)]
    print(f"window=clip vs window=full, {engine.model_id}, {state.seconds():g} s, {state.steps} steps, "
          f"{n} seeds (paired by seed)")
    print(f"{'feature':<26}{'clip mean':>12}{'full mean':>12}{'mean diff':>12}{'paired d':>10}")
    rows = {}
    for name in FEATURE_NAMES:
        c = np.array([f[name] for f in fc], dtype=float)
        f = np.array([x[name] for x in ff], dtype=float)
        d = c - f
        sd = d.std(ddof=1) if n > 1 else float("nan")
        paired_d = float(d.mean() / sd) if sd > 0 else float("nan")
        rows[name] = {"clip_mean": float(c.mean()), "full_mean": float(f.mean()), "mean_diff": float(d.mean()),
                      "paired_d": paired_d}
        print(f"{name:<26}{c.mean():>12.4g}{f.mean():>12.4g}{d.mean():>12.4g}{paired_d:>10.2f}")
    print(f"waveform correlation clip vs full, same seed: mean {np.mean(corr):.3f} (min {np.min(corr):.3f})")
    if json_path:
        Path(json_path).write_text(json.dumps({"model_id": engine.model_id, "seconds": state.seconds(),
                                               "steps": state.steps, "n": n, "features": rows,
                                               "waveform_correlation": corr}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
