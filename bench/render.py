"""Benchmark: seconds from trigger to WAV on disk, ours against the plain pipeline `__call__`.

    python bench/render.py --backend tiny                           # CPU, Stable Audio Open family
    python bench/render.py --backend random-full-sa3 --size small   # CPU, the SA3 small ESTIMATE, 8 steps
    python bench/render.py --backend score                          # CPU, our score model
    python bench/render.py --backend random-full-sa3 --dtype float16 --compile   # GPU

Prints, for one clip (5 s by default): our engine (render + WAV + sidecar on disk) and, where the
family has one, the plain diffusers `__call__` of the same weights in float32 (our render's dtype may
differ: that is one of the speed levers measured), their ratio, the real-time factor, peak memory,
and how alike our audio is to the float32 reference's for the same seed. Timings are the median of
--repeats runs after one warm-up (model load, first-call setup and the prompt's encoding excluded:
a slider move re-renders a prompt that is already encoded). Random weights measure speed, never sound.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from synth.backends import NAMES, load_backend  # noqa: E402
from synth.config import SynthConfig  # noqa: E402
from synth.engine import build_engine  # noqa: E402
from synth.families.base import generators  # noqa: E402
from synth.families.loading import cpu_has_fast_bf16  # noqa: E402
from synth.state import PromptSlot, SynthState  # noqa: E402


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def timed(fn, repeats: int, device: str) -> tuple[float, list[float]]:
    fn()  # warm-up: first-call allocations, encoder cache, kernel selection, compilation
    _sync(device)
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def plain_call(family, prompt: str, seconds: float, steps: int, cfg: float, seed: int) -> torch.Tensor:
    """The family's own diffusers pipeline, called as its documentation shows."""
    import warnings

    pipe = family.pipe
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Should have (ta|tb)")  # torchsde's float-rounding chatter
        return pipe(prompt=prompt, num_inference_steps=steps, guidance_scale=cfg, generator=generators([seed]),
                    output_type="pt", **family.pipeline_kwargs(seconds)).audios.float().cpu()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default=None, choices=NAMES,
                    help="default: random-full on a GPU, tiny on a CPU")
    ap.add_argument("--model-id", default=None)
    ap.add_argument("--size", default="small", choices=("medium", "small"), help="random-full-sa3 only")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto", help="our render's dtype; the plain reference runs in float32")
    ap.add_argument("--compile", action="store_true", help="torch.compile the denoiser (CUDA graphs on a GPU)")
    ap.add_argument("--quantize", choices=("int8",), default=None, help="CPU: dynamic int8 Linear layers")
    ap.add_argument("--steps", type=int, default=None, help="default: the backend's")
    ap.add_argument("--cfg", type=float, default=None, help="default: the backend's")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--prompt", default="warm analog pad")
    ap.add_argument("--no-plain", action="store_true", help="skip the plain __call__ reference")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--compare-windows", type=int, metavar="N", default=0,
                    help="instead of timing: render N seeds with window=clip and window=full and compare "
                         "their acoustic features (what cropping the denoising window does to the sound)")
    ap.add_argument("--batch", type=int, metavar="N", default=0,
                    help="instead: time one engine.render of N seeds in one batch, e.g. a validation run")
    args = ap.parse_args(argv)

    backend = args.backend or ("random-full" if torch.cuda.is_available() else "tiny")
    config = SynthConfig(backend=backend, model_id=args.model_id, device=args.device, dtype=args.dtype,
                         size=args.size, compile=args.compile, quantize=args.quantize)
    t0 = time.perf_counter()
    engine = build_engine(config)
    load_s = time.perf_counter() - t0
    family = engine.family
    state = engine.resolve(SynthState(prompts=[PromptSlot(args.prompt, 1.0)], steps=args.steps, cfg=args.cfg,
                                      duration=args.seconds, seed=0, name="bench"))
    if args.compare_windows:
        return compare_windows(engine, state, args.compare_windows, args.json)
    if args.batch:
        engine.render(state, [0])  # warm-up
        t = time.perf_counter()
        audio = engine.render(state, list(range(args.batch))).audio
        elapsed = time.perf_counter() - t
        print(f"{engine.model_id} on {engine.device}: {args.batch} seeds x {args.seconds:g} s, {state.steps} steps, "
              f"one batch: {elapsed:.2f} s ({elapsed / args.batch:.3f} s per clip), audio {tuple(audio.shape)}")
        if args.json:
            Path(args.json).write_text(json.dumps({
                "backend": backend, **family.describe(), "batch": args.batch, "seconds": args.seconds,
                "steps": state.steps, "batch_seconds": elapsed, "per_clip": elapsed / args.batch,
                "peak_mib": peak_memory_mb(engine.device)}, indent=2) + "\n")
        return 0

    out_dir = Path(tempfile.mkdtemp(prefix="latent-synth-bench-"))
    windows = ("clip", "full") if "full" in family.windows and family.full_differs else ("clip",)
    results: dict[str, float] = {}   # medians
    best: dict[str, float] = {}      # fastest runs: on a shared machine, the closest to its real speed
    ours_audio = {}
    for window in windows:
        def ours(window=window):
            rendered = engine.render(state, [state.seed], window=window)
            # nan_to_num: fp16 random weights may overflow; the writer (rightly) refuses NaN audio.
            engine.write(np.nan_to_num(rendered.audio[0]), state, out_dir, extras=rendered.extras[0],
                         midi=rendered.midi(0))
            ours_audio[window] = rendered.audio[0]
        results[f"ours_{window}"], runs = timed(ours, args.repeats, engine.device)
        best[f"ours_{window}"] = min(runs)
        print(f"  ours_{window:<6} {results[f'ours_{window}']:8.3f} s (runs: {', '.join(f'{t:.3f}' for t in runs)})",
              file=sys.stderr)
    peak = peak_memory_mb(engine.device)

    reference = None
    if not args.no_plain and callable(family.pipe):  # the score family has no pipeline call
        ref_family = family
        if family.dtype != torch.float32 or args.compile or args.quantize:
            ref_family = load_backend(backend, args.model_id, args.device, "float32", size=args.size)
        old = torch.get_num_threads()
        if family.threads:
            torch.set_num_threads(family.threads)
        try:
            def plain():
                nonlocal reference
                reference = plain_call(ref_family, args.prompt, args.seconds, state.steps, state.cfg, state.seed)
                engine.write(np.nan_to_num(reference[0].numpy()), state, out_dir)
            results["plain_call"], runs = timed(plain, args.repeats, engine.device)
            best["plain_call"] = min(runs)
        finally:
            torch.set_num_threads(old)
        print(f"  plain_call  {results['plain_call']:8.3f} s (runs: {', '.join(f'{t:.3f}' for t in runs)})",
              file=sys.stderr)

    info = family.describe()
    dtype = info["dtype"]
    print(f"backend {backend} ({engine.model_id}) on {engine.device}, ours in {dtype}, {args.seconds:g} s clip, "
          f"{state.steps} steps, cfg {state.cfg:g}, median of {args.repeats}; model load {load_s:.1f} s"
          f"{', compiled' if args.compile else ''}{', int8 quantized' if args.quantize else ''}")
    print(f"CPU: {torch.backends.cpu.get_cpu_capability()}; bfloat16 matrix units: {cpu_has_fast_bf16()}"
          if not engine.device.startswith("cuda") else f"GPU: {torch.cuda.get_device_name()}")
    if info.get("estimate"):
        print(f"NOTE: {info['estimate']}")
    print(f"{'path':<40}{'median s':>9}{'best s':>9}{'real-time factor':>18}")
    for name, secs in results.items():
        label = {"ours_clip": "ours, trigger -> WAV (window=clip)", "ours_full": "ours, trigger -> WAV (window=full)",
                 "plain_call": "plain __call__ (float32) -> WAV"}[name]
        print(f"{label:<40}{secs:>9.3f}{best[name]:>9.3f}{args.seconds / secs:>17.1f}x")
    ratios = {}
    if "plain_call" in results:
        ratios["plain_over_ours"] = results["plain_call"] / results["ours_clip"]
        ratios["plain_over_ours_best"] = best["plain_call"] / best["ours_clip"]
        print(f"plain / ours = {ratios['plain_over_ours']:.2f}x faster (medians), "
              f"{ratios['plain_over_ours_best']:.2f}x (best runs)")
    if "ours_full" in results:
        ratios["full_over_clip"] = results["ours_full"] / results["ours_clip"]
        print(f"full / clip  = {ratios['full_over_clip']:.2f}x faster")
    label = "peak GPU memory" if engine.device.startswith("cuda") else "peak RSS"
    print(f"{label} during our renders: {peak:.0f} MiB")
    similarity = {}
    if reference is not None:
        # The plain SAO call denoises the whole window: compare like with like.
        same = "full" if "full" in ours_audio else "clip"
        a, b = np.asarray(ours_audio[same], dtype=np.float64).ravel(), reference[0].numpy().astype(np.float64).ravel()
        n = min(a.size, b.size)
        similarity = {"finite": bool(np.isfinite(a).all()), "correlation": float(np.corrcoef(a[:n], b[:n])[0, 1]),
                      "max_abs_diff": float(np.abs(a[:n] - b[:n]).max())}
        print(f"ours ({dtype}, window={same}) vs plain float32, same seed: finite {similarity['finite']}, waveform correlation "
              f"{similarity['correlation']:.4f}, max |diff| {similarity['max_abs_diff']:.3g}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "backend": backend, **info, "seconds": args.seconds, "steps": state.steps, "cfg": state.cfg,
            "repeats": args.repeats, "compiled": args.compile, "load_seconds": load_s, **results,
            "best": best, **ratios,
            "peak_mib": peak, "vs_float32": similarity}, indent=2) + "\n")
    return 0


def compare_windows(engine, state: SynthState, n: int, json_path: str | None) -> int:
    """Same seeds, both windows: paired differences of the 11 acoustic features, and how alike the
    waveforms are. On random weights this says only how the sampler itself reacts to the window."""
    from analysis.steering.acoustic_features import FEATURE_NAMES, features_from_audio

    seeds = list(range(n))
    clip = engine.render(state, seeds, window="clip").audio
    full = engine.render(state, seeds, window="full").audio
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
