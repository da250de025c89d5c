"""Count, per denoising step, the host work a GPU would wait for: run one render on the CPU and record
every aten op between step boundaries.

    python bench/host_syncs.py --backend tiny-sa3
    python bench/host_syncs.py --backend tiny --sde-noise steps

`syncs` are ops that read a device value back to the host (`.item()`, `bool(tensor)`, `nonzero`): on
CUDA each one stops the host until the GPU has caught up. `host draws` are random draws on the CPU
inside a step (with CPU generators, each is followed by a host-to-device copy). Step 0 is reported apart:
work done once per render before the loop gets going is not per-step overhead. Also prints the host
(Python + dispatch) time per step from torch.profiler, the figure a GPU would wait on when it is faster.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from synth.backends import NAMES, load_backend  # noqa: E402
from synth.engine import Engine  # noqa: E402
from synth.state import PromptSlot, SynthState  # noqa: E402

SYNCS = {"aten._local_scalar_dense.default", "aten.nonzero.default", "aten.is_nonzero.default"}
DRAWS = {"aten.randn.generator", "aten.normal_.default", "aten.randn.default", "aten.randn.generator_with_names"}


class OpCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.counts = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[str(func)] += 1
        return func(*args, **(kwargs or {}))


def per_step_counts(family, state: SynthState) -> dict:
    """{"steps": [{"syncs": n, "host_draws": n, "host_s": s}, ...]} for one render of `state`."""
    engine = Engine(family)
    engine.render(state)  # warm: the prompt's encoding and first-call setup are not per-step costs
    steps, counter = [], OpCounter()
    step = family.step

    def counted_step(*args, **kwargs):
        out = step(*args, **kwargs)
        c = counter.counts
        steps.append({"syncs": sum(c[k] for k in SYNCS), "host_draws": sum(c[k] for k in DRAWS),
                      "host_s": time.perf_counter() - counted_step.t0})
        counter.counts = collections.Counter()
        counted_step.t0 = time.perf_counter()
        return out

    family.step = counted_step
    try:
        with counter:
            counted_step.t0 = time.perf_counter()
            engine.render(state)
    finally:
        del family.step
    return {"steps": steps}


def summary(backend: str, steps: int, sde_noise: str | None = None) -> dict:
    family = load_backend(backend, device="cpu", dtype="float32")
    if sde_noise and hasattr(family, "sde_noise"):
        family.sde_noise = sde_noise
    state = SynthState(prompts=[PromptSlot("warm analog pad", 1.0)], seed=1, duration=2.0, steps=steps)
    rows = per_step_counts(family, state)["steps"]
    later = rows[1:]
    return {"backend": backend, "sde_noise": getattr(family, "sde_noise", None), "steps": len(rows),
            "first_step": rows[0],
            "per_later_step": {"syncs": sum(r["syncs"] for r in later) / max(1, len(later)),
                               "host_draws": sum(r["host_draws"] for r in later) / max(1, len(later)),
                               "host_ms": 1000 * sum(r["host_s"] for r in later) / max(1, len(later))}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=NAMES, default="tiny-sa3")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--sde-noise", choices=("tree", "steps"), default=None,
                   help="Stable Audio Open's sampler noise (default: the family's on this device)")
    args = p.parse_args(argv)
    print(json.dumps(summary(args.backend, args.steps, args.sde_noise), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
