"""The feature pool on an empty numba cache: `analysis compare` over 40 short WAVs, several times, each run
with its own fresh NUMBA_CACHE_DIR (so librosa's kernels compile from nothing, as on a user's first run,
without touching the installed cache). Prints one line per run; exits non-zero if any run fails.

    python cold_cache_check.py [--runs N] [--files N] PROGRAM...   e.g. PROGRAM = latent-synth, or python -m bridge.cli
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 44100


def write_clips(folder: Path, n: int, seed: int) -> None:
    """`n` 1.5 s tones gated at a few Hz (onsets, a tempo), with noise when `seed` is odd."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * 1.5)) / SR
    for i in range(n):
        gate = 0.2 + 0.8 * (np.sin(2 * np.pi * (2 + i % 4) * t) > 0)
        tone = np.sin(2 * np.pi * 110 * 2 ** (rng.integers(0, 24) / 12) * t)
        noise = 0.02 * rng.standard_normal(t.size) * (seed % 2)
        sf.write(folder / f"clip{i:02d}.wav", (0.3 * gate * tone + noise).astype(np.float32), SR)


def cold_run(program: list[str], root: Path, run: int) -> tuple[bool, str]:
    cache = root / f"numba-cache-{run}"   # empty: every kernel compiles, and each run writes its own cache
    out = root / f"out-{run}"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    proc = subprocess.run([*program, "analysis", "compare", "--a", str(root / "A"), "--b", str(root / "B"),
                           "--out", str(out), "--jobs", "2"], env=env, capture_output=True, text=True)
    ok = proc.returncode == 0 and (out / "results.json").is_file()
    last = (proc.stdout.strip() or proc.stderr.strip() or "(no output)").splitlines()[-1]
    return ok, last if ok else f"exit {proc.returncode}: {proc.stderr.strip()[-1500:]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--files", type=int, default=40, help="WAVs in all, half in A and half in B")
    parser.add_argument("program", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if not args.program:
        parser.error("name the program to run, e.g. latent-synth")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="cold-numba-") as tmp:
        root = Path(tmp)
        write_clips(root / "A", args.files // 2, seed=0)
        write_clips(root / "B", args.files - args.files // 2, seed=1)
        for run in range(args.runs):
            start = time.monotonic()
            ok, line = cold_run(args.program, root, run)
            failed += not ok
            print(f"cold run {run + 1}/{args.runs}: {'ok' if ok else 'FAILED'} in {time.monotonic() - start:.1f} s: {line}")
    if failed:
        print(f"{failed} of {args.runs} cold runs failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
