"""`bash bench/gpu.sh` on a machine without a GPU: the dry run with the tiny backends runs every row,
prints one table and ends in the `gpu:` line (on a GPU the same script measures the real rows)."""
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_gpu_sh_dry_run_prints_the_table_and_the_gpu_line():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # the dry run, even on a GPU machine
    out = subprocess.run(["bash", str(REPO / "bench" / "gpu.sh")], capture_output=True, text=True, env=env,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-1].startswith("gpu: none (CPU dry run")
    table = "\n".join(lines)
    for row in ("SA3 eager", "SA3 batch of 2", "SAO eager", "SAO compiled", "SAO batch of 2",
                "start to first final clip, cold cache", "start to first final clip, warm cache",
                "slowest of 20 slider moves", "a clip length not played before", "preview (2 steps)"):
        assert row in table, row
    assert "recompilations: 0" in table and "NOT GPU figures" in table
