"""The score model's text heads: what a whole clip does, read from the words, so that a prompt keeps its
tempo, its drums and its held notes from seed to seed and only the notes vary.

- `tempo`: log2 bpm, used when no tempo is set or stated ("slow", "a reel", "driving");
- `drums`: the logit that drums play at all ("with a drummer", "techno", "no percussion", "solo harp");
- `held`: the logit that the clip holds its notes ("pad", "drone", "held chords"), decoded as held notes
  (`synth.score.curves`).

Each head is attention pooling over the text encoder's token states: a score per token picks the words
that matter and a value per token says what they mean. (A mean over all tokens dilutes the one tempo
word of a long caption: the ridge head of layout 4's first model read "a fast / slow piano piece" as
120 / 95 bpm.) Fitted on the training captions by `analysis.score_model.text_heads_fit`; stored in the
model's safetensors as `{name}.attend` and `{name}.value`, each [D + 1] (weights, then bias), float32.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from synth.score.layout import BPM_RANGE

NAMES = ("tempo", "drums", "held")
# Drums play when the text makes them twice as likely as not. The costs are not even: a kit the text did not
# ask for dominates a clip (its cymbals outweigh an octave of the melody in the spectrum), while a missing
# one is one word away ("with drums"). Stated drums read p > 0.98 and stated "no drums" p < 0.01 on the
# held-out captions; genres the corpus drums in (rock, hip hop, disco) read 0.9-1; captions silent about
# drums and style read 0.2-0.55.
DRUMS_ODDS = 2.0
# A clip holds its notes when the text makes that four times as likely as not. Held notes turn a tune into
# a pad (at most two notes a bar), so it takes a caption that asks: "pad", "drone", "held chords",
# "sustained" read p > 0.94 on the held-out captions; "a slow, relaxed guitar tune" reads 0.73 and keeps
# its tune.
HELD_ODDS = 4.0


@dataclass
class TextHead:
    attend: torch.Tensor  # [K, D + 1]: K poolings, their outputs averaged
    value: torch.Tensor   # [K, D + 1]

    def __call__(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Token states [B, T, D] and mask [B, T] -> one number per row [B] (float32, on the CPU)."""
        h = hidden.detach().float().cpu()
        keep = mask.detach().cpu().bool().unsqueeze(1)                               # [B, 1, T]
        attend, value = self.attend.reshape(-1, h.shape[-1] + 1), self.value.reshape(-1, h.shape[-1] + 1)
        scores = (torch.einsum("btd,kd->bkt", h, attend[:, :-1]) + attend[:, -1:]).masked_fill(~keep, float("-inf"))
        weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # a row with no tokens reads as the bias alone
        parts = (weights * torch.einsum("btd,kd->bkt", h, value[:, :-1])).sum(-1) + value[:, -1]
        return parts.mean(-1)

    def tensors(self, name: str) -> dict[str, torch.Tensor]:
        return {f"{name}.attend": self.attend.detach().float().cpu().contiguous(),
                f"{name}.value": self.value.detach().float().cpu().contiguous()}

    @classmethod
    def from_tensors(cls, state: dict, name: str) -> "TextHead | None":
        if f"{name}.attend" not in state:
            return None
        return cls(state[f"{name}.attend"].float(), state[f"{name}.value"].float())

    @classmethod
    def averaged(cls, *heads: "TextHead") -> "TextHead":
        """One head whose output is the mean of these heads' outputs."""
        d = heads[0].attend.shape[-1]
        return cls(torch.cat([h.attend.reshape(-1, d) for h in heads]), torch.cat([h.value.reshape(-1, d) for h in heads]))


def drums_from_logit(logit: float) -> bool:
    """A drums head's output -> whether drums play."""
    return float(logit) > math.log(DRUMS_ODDS)


def held_from_logit(logit: float) -> bool:
    """A held head's output -> whether the clip holds its notes."""
    return float(logit) > math.log(HELD_ODDS)


def bpm_from_log2(log2_bpm: float) -> float:
    """A tempo head's output -> bpm inside the trained range, to 0.1 bpm."""
    lo, hi = BPM_RANGE
    return round(min(hi, max(lo, 2.0 ** float(log2_bpm))), 1)


def heads_from_tensors(state: dict) -> dict[str, TextHead]:
    """The heads a model's safetensors hold, by name."""
    return {name: head for name in NAMES if (head := TextHead.from_tensors(state, name)) is not None}
