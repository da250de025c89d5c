"""Every GPU figure the engine docs quote, in one run and one table (driven by `bash bench/gpu.sh`).

On a CUDA machine (random full-size weights, 5 s clips): SA3 medium eager float16 against the plain float32
`__call__`, its batch of 32; Stable Audio Open eager (clip and full window) against its plain call, compiled,
and its batch of 32; then two fresh processes that start an engine the way `serve` does on CUDA (compiled,
warmed up) with an empty and then a warm compile cache: start to first final clip, the compiled clip,
slider moves (recompilations counted), a clip length not played before, and the preview render.

On a CPU it is a dry run with the tiny backends (1 s clips, one repeat, no compilation): it checks that
every row runs, and its figures are not GPU measurements. The last line starts with `gpu:`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T0 = time.perf_counter()  # a probe's start: its imports are part of a daemon's start too
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def plan(gpu: bool) -> dict:
    if gpu:
        return {"sa3": ["--backend", "random-full-sa3", "--size", "medium", "--device", "cuda", "--dtype", "float16"],
                "sao": ["--backend", "random-full", "--device", "cuda", "--dtype", "float16"],
                "seconds": "5", "sa3_repeats": "5", "sao_repeats": "3", "batch": "32", "compile": True, "sao_extra": []}
    return {"sa3": ["--backend", "tiny-sa3", "--device", "cpu", "--dtype", "float32"],
            "sao": ["--backend", "tiny", "--device", "cpu", "--dtype", "float32"],
            "seconds": "1", "sa3_repeats": "1", "sao_repeats": "1", "batch": "2", "compile": False,
            "sao_extra": ["--no-plain"]}  # the tiny SAO's plain call denoises the whole window: seconds here


def render_row(argv: list[str], folder: Path, name: str) -> dict:
    """bench/render.py in this process (one import of torch for all rows); its JSON result."""
    import render

    path = folder / f"{name}.json"
    with open(os.devnull, "w") as quiet:
        stdout, sys.stdout = sys.stdout, quiet  # its own report would drown the table
        try:
            render.main([*argv, "--json", str(path)])
        finally:
            sys.stdout = stdout
    return json.loads(path.read_text())


def probe(argv: list[str], t0: float = T0) -> dict:
    """One engine started as `serve` starts it; timings from `t0` (the process's start)."""
    from torch._dynamo.utils import counters

    from bridge.daemon import serve_compile
    from synth.config import SynthConfig
    from synth.engine import build_engine
    from synth.state import PromptSlot, SynthState

    p = argparse.ArgumentParser()
    p.add_argument("--backend")
    p.add_argument("--size", default="medium")
    p.add_argument("--device")
    p.add_argument("--dtype")
    p.add_argument("--seconds", type=float)
    args = p.parse_args(argv)
    config = serve_compile(SynthConfig(backend=args.backend, size=args.size, device=args.device, dtype=args.dtype))
    engine = build_engine(config)
    loaded = time.perf_counter() - t0
    state = engine.resolve(SynthState(prompts=[PromptSlot("warm analog pad", 1.0), PromptSlot("dark drone", 0.3)],
                                      duration=args.seconds, seed=0))

    def timed(s, seeds=None):
        t = time.perf_counter()
        engine.render(s, seeds)
        if engine.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        return time.perf_counter() - t

    first = timed(state)
    start_to_clip = time.perf_counter() - t0
    again = min(timed(state) for _ in range(3))
    graphs = counters["stats"]["unique_graphs"]
    moves = [timed(dataclasses.replace(state, prompts=[PromptSlot("warm analog pad", 1.0),
                                                       PromptSlot("dark drone", 0.3 + i / 40)]))
             for i in range(20)]
    new_length = timed(dataclasses.replace(state, duration=args.seconds * 1.6))
    preview = min(timed(dataclasses.replace(state, steps=engine.preview_steps)) for _ in range(3))
    return {"compiled": bool(config.compile), "load_s": loaded, "first_render_s": first,
            "start_to_first_clip_s": start_to_clip, "clip_s": again, "slider_move_s": max(moves),
            "recompiles_over_20_moves": counters["stats"]["unique_graphs"] - graphs, "new_length_s": new_length,
            "preview_steps": engine.preview_steps, "preview_s": preview,
            "graphs": counters["stats"]["unique_graphs"],
            "fx_cache": {k: v for k, v in counters["inductor"].items() if k.startswith("fxgraph_cache")}}


def run_probe(args: list[str], cache: Path, fresh_process: bool = True) -> dict:
    """`probe` in a fresh process (nothing compiled in memory; only the on-disk cache can help), or in this
    one for the CPU dry run, which compiles nothing and only checks that the rows run."""
    if not fresh_process:
        return probe(args, time.perf_counter())
    env = {**os.environ, "LATENT_SYNTH_COMPILE_CACHE": str(cache)}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    out = subprocess.run([sys.executable, __file__, "--probe", *args], env=env, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(f"probe failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt(value, unit="s") -> str:
    return "n/a" if value is None else f"{value:.3f} {unit}" if isinstance(value, float) else str(value)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probe", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    ap.add_argument("--cpu", action="store_true", help="the dry run even where a GPU is present")
    args = ap.parse_args(argv)
    if args.probe is not None:
        print(json.dumps(probe(args.probe)))
        return 0
    import torch

    sys.path.insert(0, str(ROOT / "bench"))
    gpu = torch.cuda.is_available() and not args.cpu
    p = plan(gpu)
    work = Path(tempfile.mkdtemp(prefix="latent-synth-gpu-"))
    secs = ["--seconds", p["seconds"]]
    rows = []  # (what, result, note)

    sa3 = render_row([*p["sa3"], *secs, "--repeats", p["sa3_repeats"]], work, "sa3")
    rows.append((f"SA3 eager (ours, {sa3['dtype']})", sa3["ours_clip"], f"plain float32 __call__ {fmt(sa3['plain_call'])}: "
                 f"{sa3['plain_over_ours']:.2f}x; peak {sa3['peak_mib']:.0f} MiB"))
    sa3b = render_row([*p["sa3"], *secs, "--batch", p["batch"]], work, "sa3_batch")
    rows.append((f"SA3 batch of {p['batch']}, eager, per clip", sa3b["per_clip"], ""))
    sao = render_row([*p["sao"], *secs, "--repeats", p["sao_repeats"], *p["sao_extra"]], work, "sao")
    plain = (f", plain {fmt(sao['plain_call'])}: {sao['plain_over_ours']:.2f}x" if "plain_call" in sao else "")
    rows.append(("SAO eager (ours, clip window)", sao["ours_clip"],
                 f"full window {fmt(sao.get('ours_full'))}{plain}; peak {sao['peak_mib']:.0f} MiB"))
    if p["compile"]:
        saoc = render_row([*p["sao"], *secs, "--repeats", p["sao_repeats"], "--compile", "--no-plain"], work, "sao_c")
        rows.append(("SAO compiled", saoc["ours_clip"], "its compilation is in the warm-up, not timed here"))
    else:
        rows.append(("SAO compiled", None, "skipped: CPU dry run (inductor takes minutes here)"))
    saob = render_row([*p["sao"], *secs, "--batch", p["batch"]], work, "sao_batch")
    rows.append((f"SAO batch of {p['batch']}, eager, per clip", saob["per_clip"], ""))

    cache = work / "compile-cache"
    probe_args = [*p["sa3"], *secs]
    cold, warm = run_probe(probe_args, cache, gpu), run_probe(probe_args, cache, gpu)
    kind = "compiled" if cold["compiled"] else "eager (not compiled)"
    rows.append((f"SA3 {kind}: clip", warm["clip_s"], f"{warm['graphs']} graph(s); FX cache cold {cold['fx_cache']}, "
                 f"warm {warm['fx_cache']}"))
    rows.append(("start to first final clip, cold cache", cold["start_to_first_clip_s"],
                 f"load {cold['load_s']:.1f} s, first render {cold['first_render_s']:.1f} s"))
    rows.append(("start to first final clip, warm cache", warm["start_to_first_clip_s"],
                 f"load {warm['load_s']:.1f} s, first render {warm['first_render_s']:.1f} s"))
    rows.append(("slowest of 20 slider moves", warm["slider_move_s"],
                 f"recompilations: {warm['recompiles_over_20_moves']}"))
    rows.append(("a clip length not played before", warm["new_length_s"], ""))
    rows.append((f"preview ({warm['preview_steps']} steps)", warm["preview_s"], ""))

    device = torch.cuda.get_device_name() if gpu else "CPU dry run, tiny backends (noise; NOT GPU figures)"
    print(f"bench/gpu.sh: {device}; {p['seconds']} s clips; torch {torch.__version__}")
    print(f"{'what':<44}{'seconds':>12}  notes")
    for what, value, note in rows:
        print(f"{what:<44}{fmt(value):>12}  {note}")
    total = time.perf_counter() - T0
    if gpu:
        print(f"gpu: {device}: SA3 eager {sa3['ours_clip']:.3f} s ({sa3['plain_over_ours']:.2f}x plain), compiled "
              f"{warm['clip_s']:.3f} s; SAO compiled {saoc['ours_clip']:.3f} s; start cold "
              f"{cold['start_to_first_clip_s']:.1f} s / warm {warm['start_to_first_clip_s']:.1f} s; new length "
              f"{warm['new_length_s']:.2f} s; bench {total:.0f} s")
    else:
        print(f"gpu: none (CPU dry run with tiny backends, {total:.0f} s; every row ran; no GPU figure measured)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
