"""Number checks in one place: what every input (OSC arguments, states, presets, mapping files)
accepts as a number, and the one-line refusals for values outside a range."""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable

Refusal = Callable[[str, str], Exception]   # (field, message) -> the caller's error (e.g. StateError)


def is_number(value: Any) -> bool:
    """An int or float (numpy's too), never a bool or a string."""
    cls = value.__class__
    return cls is float or cls is int or (isinstance(value, numbers.Real) and not isinstance(value, bool))


def is_finite_number(value: Any) -> bool:
    return is_number(value) and math.isfinite(value)


def number(value: Any, name: str, lo: float | None, hi: float | None, refuse: Refusal) -> float:
    """A finite float within [lo, hi]; bools and strings are rejected, not coerced."""
    if not is_number(value):
        raise refuse(name, f"expected a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise refuse(name, f"must be finite, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise refuse(name, f"{value!r} is outside [{lo}, {hi}]")
    return value


def integer(value: Any, name: str, lo: int, hi: int, refuse: Refusal) -> int:
    """An int within [lo, hi]; whole floats (YAML 7.0, OSC 7.0) are accepted, fractions are not."""
    if not is_number(value):
        raise refuse(name, f"expected an integer, got {value!r}")
    if not isinstance(value, numbers.Integral):
        if not math.isfinite(float(value)) or float(value) != int(value):
            raise refuse(name, f"expected an integer, got {value!r}")
    value = int(value)
    if value < lo or value > hi:
        raise refuse(name, f"{value} is outside [{lo}, {hi}]")
    return value
