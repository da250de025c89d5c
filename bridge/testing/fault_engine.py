"""A real engine that fails on demand, for the daemon's failure tests and bench/stress.py.

`fail_next("error" | "oom" | "nan")` makes the next render raise a RuntimeError, raise
`torch.cuda.OutOfMemoryError` (the class exists in CPU builds of torch, so out-of-memory is
simulated on this CPU exactly as CUDA raises it), or return the real audio with NaN samples.
Everything else (write, sample_rate, model_id, ...) is the wrapped engine's.
"""
import numpy as np
import torch

FAILURES = ("error", "oom", "nan")


class FaultyEngine:
    def __init__(self, engine):
        self._engine = engine
        self._fail: str | None = None
        self.released = 0   # release_memory() calls

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def fail_next(self, how: str) -> None:
        if how not in FAILURES:
            raise ValueError(f"unknown failure {how!r} (use {', '.join(FAILURES)})")
        self._fail = how

    def render(self, state, seeds=None, **kwargs):
        """The daemon's render path (a synth.engine.Rendered), failing as asked."""
        how, self._fail = self._fail, None
        if how == "error":
            raise RuntimeError("simulated failure inside the model")
        if how == "oom":
            raise torch.cuda.OutOfMemoryError(
                "CUDA out of memory. Tried to allocate 20.00 GiB (simulated on the CPU)")
        rendered = self._engine.render(state, seeds=seeds, **kwargs)
        if how == "nan":
            rendered.audio[..., rendered.audio.shape[-1] // 2] = np.nan
        return rendered

    def release_memory(self) -> None:
        self.released += 1
        self._engine.release_memory()
