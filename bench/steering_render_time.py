"""Render time of inside steering against embedding steering on the score model, interleaved on one warm
engine (so a change of load hits both modes alike): loud/soft poles (inside at the sweep's pick: block 2,
gain 8), 4 seeds per batch, 5 s clips, `--repeats` rounds x 2 poles per mode; prints each mode's median
seconds per batch and their ratio.

    python bench/steering_render_time.py
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=4)
    args = p.parse_args(argv)

    from analysis.steering.validate import mode_states
    from synth.config import SynthConfig
    from synth.engine import build_engine
    from synth.state import PromptSlot, SynthState

    engine = build_engine(SynthConfig(backend="score", device="cpu"))
    base = engine.resolve(SynthState(prompts=[PromptSlot("music", 1.0)], duration=5.0, inside_blocks=[2]))
    states = {mode: mode_states(base, mode, "loud music", "soft music", "music", 0.5, 8.0 if mode == "inside" else None)
              for mode in ("embedding", "inside")}
    seeds = [0, 1, 2, 3]
    for a, _ in states.values():
        engine.render(a, seeds)   # warm: caches, and inside's directions measured once
    times = {m: [] for m in states}
    for _ in range(args.repeats):
        for mode, poles in states.items():
            for state in poles:
                t0 = time.perf_counter()
                engine.render(state, seeds)
                times[mode].append(time.perf_counter() - t0)
    med = {m: statistics.median(v) for m, v in times.items()}
    print(f"median seconds per batch: embedding {med['embedding']:.3f}, inside {med['inside']:.3f}; "
          f"inside / embedding {med['inside'] / med['embedding']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
