"""The persistent compile cache, shown on the CPU with inductor: one compiled render in a fresh process.

    LATENT_SYNTH_COMPILE_CACHE=/tmp/cc python bench/compile_cache.py   # cold: compiles, fills the cache
    LATENT_SYNTH_COMPILE_CACHE=/tmp/cc python bench/compile_cache.py   # warm: a new process, cache hits

Prints one JSON line: the cache folder, the first render's seconds (the compilation), a second clip
length's seconds, inductor's FX graph cache hits/misses and the number of graphs dynamo built. Minutes
on a small CPU when cold. `bash bench/gpu.sh` measures the same on a GPU, through a daemon-like start.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="tiny-sa3")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    from torch._dynamo.utils import counters

    from synth.compile_cache import use_persistent_cache
    from synth.config import SynthConfig
    from synth.engine import build_engine
    from synth.state import PromptSlot, SynthState

    folder = use_persistent_cache()
    engine = build_engine(SynthConfig(backend=args.backend, device=args.device, dtype="float32", compile=True))
    times = []
    for seconds in (1.0, 2.0):
        t = time.perf_counter()
        engine.render(SynthState(prompts=[PromptSlot("warm analog pad", 1.0)], duration=seconds, steps=2))
        times.append(round(time.perf_counter() - t, 2))
    print(json.dumps({"cache": str(folder), "first_render_s": times[0], "new_length_s": times[1],
                      "fx_graph_cache": {k: v for k, v in counters["inductor"].items() if k.startswith("fxgraph_cache")},
                      "graphs": counters["stats"]["unique_graphs"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
