"""Load bench/ scripts as modules, so a test runs a benchmark's own code (bench/ is not a package)."""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def bench_module(name: str):
    """Import bench/NAME.py (bench/ is not a package), so a test runs the benchmark's own code."""
    import importlib.util

    if f"bench_{name}" in sys.modules:
        return sys.modules[f"bench_{name}"]
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module
