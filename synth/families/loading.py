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


BF16_ENV = "LATENT_SYNTH_CPU_BF16"


def bf16_units(cpu_flags: set[str]) -> bool:
    """True for CPUs with bfloat16 matrix units: AMX-BF16 (tiles) or AVX512-BF16 (dot products). On those,
    bfloat16 beats float32; on AVX2-only CPUs its matmuls are emulated and many times slower (docs/engine.md
    has the measured table by kind of CPU)."""
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags)


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return set(next((line for line in f if line.startswith("flags")), "").split())
    except OSError:
        return set()  # not Linux: no flags read, so no automatic bfloat16


def cpu_has_fast_bf16() -> bool:
    """Whether `--dtype auto` may pick bfloat16 on this CPU. LATENT_SYNTH_CPU_BF16=1|0 overrules the
    detection either way (for a user who knows better, and for tests that must not depend on the CPU)."""
    forced = os.environ.get(BF16_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if forced:
        raise ValueError(f"{BF16_ENV} must be 0 or 1 (or unset to detect), got {forced!r}")
    return bf16_units(cpu_flags())


def check_offload(cpu_offload: bool, device: torch.device) -> None:
    if not cpu_offload:
        return
    if device.type != "cuda":
        raise BackendError("cpu_offload needs a CUDA GPU")
    try:
        import accelerate  # noqa: F401  (diffusers' offload hooks live there)
    except ImportError:
        raise BackendError("cpu_offload needs the 'accelerate' package: pip install accelerate") from None


def require(requirements: tuple[str, ...], what: str) -> None:
    """BackendError (one line naming the version to install) when an installed library is older than
    `what` needs, e.g. require(("diffusers>=0.40",), "the tiny-sa3 backend")."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    for text in requirements:
        req = Requirement(text)
        try:
            have = version(req.name)
        except PackageNotFoundError:
            have = None
        if have is None or not req.specifier.contains(have, prereleases=True):
            found = f"{have} is installed" if have else "it is not installed"
            raise BackendError(f"{what} needs {text} ({found}): pip install '{text}'")


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
