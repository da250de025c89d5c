"""The I/O edge of every family: device and dtype choice, and `from_pretrained` with one-line errors."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch


class BackendError(OSError):
    """The model could not be loaded; the message says why and what to do."""


def resolve_device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(f"device {device!r} asked for, but no CUDA GPU is available (use --device cpu)")
    return dev


DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def resolve_dtype(dtype: str | None, device: torch.device, cpu_auto: torch.dtype = torch.float32) -> torch.dtype:
    """`auto` is float16 on CUDA and `cpu_auto` (a family's choice) on the CPU."""
    if dtype in (None, "auto"):
        return torch.float16 if device.type == "cuda" else cpu_auto
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r} (use auto, float16, bfloat16 or float32)")
    return DTYPES[dtype]


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with bfloat16 matrix units (AMX-BF16 or AVX512-BF16), where bfloat16 is faster than
    float32. Elsewhere (e.g. AVX2-only CPUs) bfloat16 matmuls are emulated and much slower."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def check_offload(cpu_offload: bool, device: torch.device) -> None:
    if not cpu_offload:
        return
    if device.type != "cuda":
        raise BackendError("cpu_offload needs a CUDA GPU")
    try:
        import accelerate  # noqa: F401  (diffusers' offload hooks live there)
    except ImportError:
        raise BackendError("cpu_offload needs the 'accelerate' package: pip install accelerate") from None


def looks_local(name: str) -> bool:
    local = Path(name).expanduser()
    return name.startswith((".", "/", "~")) or os.sep in name.strip("/").replace("/", "", 1) or local.exists()


def from_pretrained(cls, name: str, dtype: torch.dtype, help_text: str):
    """`cls.from_pretrained` on a Hub id or a local pipeline folder; failures become one BackendError line
    that ends with `help_text` (how to get the weights)."""
    local = Path(name).expanduser()
    if looks_local(name) and not local.exists():
        raise BackendError(f"model folder {name!r} does not exist. {help_text}")
    if local.exists() and not (local / "model_index.json").is_file():
        raise BackendError(f"{str(local)!r} is not a diffusers pipeline folder (no model_index.json). {help_text}")
    source = str(local) if local.exists() else name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch_dtype -> dtype rename in newer diffusers
            return cls.from_pretrained(source, torch_dtype=dtype)
    except (OSError, ValueError, EnvironmentError) as exc:
        first = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else type(exc).__name__
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = " (HF_HUB_OFFLINE=1 is set, so nothing is downloaded)" if offline else ""
        raise BackendError(f"cannot load weights {name!r}{hint}: {first}. {help_text}") from None
