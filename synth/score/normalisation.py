"""Per-channel normalisation of the score curves to about unit variance; stored with the model."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.score.layout import CHANNELS, N_CHANNELS

# A channel that barely varies in the corpus (a rare instrument's one-hot) would otherwise be scaled
# up without bound; its rare "on" value stays at most 1 / STD_FLOOR.
STD_FLOOR = 0.25


@dataclass(frozen=True)
class Normalisation:
    mean: np.ndarray  # [N_CHANNELS]
    std: np.ndarray   # [N_CHANNELS]

    @classmethod
    def fit(cls, curves: np.ndarray) -> "Normalisation":
        """From raw curves [N, C, T] (or [C, T]); statistics over every piece and frame."""
        flat = np.asarray(curves, np.float64).reshape(-1, N_CHANNELS, curves.shape[-1])
        mean = flat.mean(axis=(0, 2))
        std = np.maximum(flat.std(axis=(0, 2)), STD_FLOOR)
        return cls(mean.astype(np.float32), std.astype(np.float32))

    def normalise(self, raw: np.ndarray) -> np.ndarray:
        return ((raw - self.mean[:, None]) / self.std[:, None]).astype(np.float32)

    def denormalise(self, x: np.ndarray) -> np.ndarray:
        return (x * self.std[:, None] + self.mean[:, None]).astype(np.float32)

    def to_dict(self) -> dict:
        return {"channels": list(CHANNELS), "mean": [float(v) for v in self.mean],
                "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, d: dict) -> "Normalisation":
        if list(d.get("channels", [])) != list(CHANNELS):
            raise ValueError("the model's channel layout differs from this version's (synth.score.layout)")
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))
