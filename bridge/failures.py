"""Failures the daemon survives, as the one-line `/synth/error` messages a musician reads on stage:
what went wrong and what to try. Nothing here raises; the daemon keeps serving after each."""
from __future__ import annotations

import errno

DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


class RenderFailed(Exception):
    """A render or clip write that failed in a known way; the message already says what to try."""


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeError other accelerators (MPS) raise for the same."""
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return isinstance(exc, oom) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def out_of_memory(exc: BaseException) -> RenderFailed:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RenderFailed(f"out of memory ({first}); try fewer seeds, a shorter clip, or cpu_offload: true in synth.yaml")


def non_finite(seeds: list[int]) -> RenderFailed:
    which = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"
    return RenderFailed(f"the audio for {which} contains NaN or infinite samples, so no clip was written; "
                        "try another seed, a lower cfg, or dtype: float32 in synth.yaml")


def os_error_advice(exc: OSError, what: str) -> str:
    """`what` ("write the clip into DIR") + the system's reason + what to try, on one line."""
    reason = exc.strerror or one_line(exc)
    if exc.errno in DISK_FULL:
        return f"cannot {what}: {reason}; free some space on that disk"
    if exc.errno in NOT_WRITABLE:
        return f"cannot {what}: {reason}; choose a folder you can write to"
    return f"cannot {what}: {reason}"


def render_failure_message(exc: BaseException, kind: str) -> str:
    """The message of `/synth/error "/synth/render" MESSAGE` for a failed job of this kind."""
    if isinstance(exc, RenderFailed):
        detail = str(exc)
    else:  # a bug or an unexpected library error: the traceback is in the daemon's log
        detail = f"{type(exc).__name__}: {one_line(exc)} (the daemon's log has the details)"
    return f"{kind} render failed: {detail}"
