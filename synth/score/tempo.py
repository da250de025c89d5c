"""The score model's tempo head: when no tempo is set or stated, the text's tempo words choose one.

A ridge regression from the mean-pooled text-encoder states to log2(bpm), fitted on the training
captions (`analysis train-score-model`) and stored in the model's safetensors as `tempo.weight` [D] and
`tempo.bias` [1]. It reads "slow", "a reel", "sad" or "energetic" the way the corpus used them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from synth.score.layout import BPM_RANGE


def pooled(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the unmasked positions: hidden [B, T, D], mask [B, T] -> [B, D] float32."""
    m = mask.to(torch.float32).unsqueeze(-1)
    return (hidden.float() * m).sum(1) / m.sum(1).clamp_min(1.0)


@dataclass
class TempoHead:
    weight: torch.Tensor  # [D]
    bias: torch.Tensor    # [1]

    def bpm(self, features: torch.Tensor) -> list[float]:
        """Pooled states [B, D] -> a tempo per row, inside the trained range, to 0.1 bpm."""
        log2 = features.float().cpu() @ self.weight.float().cpu() + self.bias.float().cpu()
        lo, hi = BPM_RANGE
        return [round(min(hi, max(lo, float(2.0 ** v))), 1) for v in log2]

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"tempo.weight": self.weight.detach().float().cpu().contiguous(),
                "tempo.bias": self.bias.detach().float().cpu().reshape(1).contiguous()}

    @classmethod
    def from_tensors(cls, state: dict) -> "TempoHead | None":
        if "tempo.weight" not in state:
            return None
        return cls(state["tempo.weight"].float(), state["tempo.bias"].float())

    @classmethod
    def fit(cls, features: torch.Tensor, bpm: torch.Tensor, ridge: float = 1.0) -> "TempoHead":
        """Least squares on log2(bpm) with an L2 penalty `ridge`, then recalibrated (features [N, D], bpm [N])."""
        x = features.double()
        y = torch.log2(bpm.double())
        mean_x, mean_y = x.mean(0), y.mean()
        xc = x - mean_x
        w = torch.linalg.solve(xc.T @ xc + ridge * torch.eye(x.shape[1], dtype=x.dtype), xc.T @ (y - mean_y))
        # A strong penalty shrinks the predictions toward the mean tempo; rescale them (least squares of
        # the true log2 bpm on the prediction) so that "fast" and "slow" keep their full spread.
        pred = xc @ w
        w = w * (pred @ (y - mean_y)) / (pred @ pred).clamp_min(1e-12)
        return cls(w.float(), (mean_y - mean_x @ w).reshape(1).float())

