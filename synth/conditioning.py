"""Pure conditioning math: SynthState + text encodings -> the tensors the denoiser consumes.

Everything here lives in the text encoder's space (T5's last_hidden_state for Stable Audio), before
the pipeline's projection model:

- prompt mixing, `embedding` mode: per token, a weighted mean of the prompts that have a real token
  there, over the union of their masks (`mix_embeddings`);
- prompt mixing, `guidance` mode: each prompt is its own branch and the noise predictions are
  combined as `uncond + g * sum_i w_i (cond_i - uncond)` (`combine_guidance`);
- SAE steering direction `delta = sum_i s_i * scale_i * W_dec[i]` (`feature_direction`) plus named
  contrasts `strength * (pool(enc(pos)) - pool(enc(neg)))` (`contrast_direction`);
- steering `embedding` mode adds `gain * delta` to every non-padding token (`add_at_tokens`);
  steering `inside` mode leaves the text alone: the Engine adds directions inside the DiT
  (`synth.inside`, `synth.inside_vectors`);
  steering `guidance` mode makes a steered copy of each branch and adds
  `gain * sum_i w_i (cond_steered_i - cond_i)` to the noise prediction.

Mix weights are relative: they are normalised to sum to 1, so one prompt at any weight equals that
prompt alone, and the guidance formula reduces to ordinary classifier-free guidance.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch

from synth.encoders import Encoded
from synth.inside import InsideShift
from synth.tempo_text import stated_bpm


# --------------------------------------------------------------------------- pure tensor math
def normalized_weights(weights: torch.Tensor) -> torch.Tensor:
    """w / sum(w); raises ValueError when the weights don't sum to a positive number."""
    total = weights.sum()
    if not torch.isfinite(total) or total <= 0:
        raise ValueError(f"prompt weights must sum to a positive number, got {weights.tolist()}")
    return weights / total


def mix_embeddings(hidden: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix K prompts' token states: hidden [K, T, D], mask [K, T], weights [K] -> ([T, D], [T]).

    At each position the result is the weighted mean of the prompts that have a real token there
    (sum_k w_k m_k h_k / sum_k w_k m_k), so a short prompt doesn't fade the longer one's tail;
    the mask is the union. Positions no prompt covers are zero.
    """
    if hidden.dim() != 3 or mask.shape != hidden.shape[:2] or weights.shape != hidden.shape[:1]:
        raise ValueError(f"mix_embeddings: shapes {tuple(hidden.shape)}, {tuple(mask.shape)}, {tuple(weights.shape)} don't match")
    if hidden.shape[0] == 1:
        return hidden[0] * mask[0].unsqueeze(-1).to(hidden.dtype), mask[0].clone()
    wm = weights.to(device=mask.device, dtype=torch.float32)[:, None] * mask.to(torch.float32)  # [K, T]
    den = wm.sum(0)                                                            # [T]
    num = (wm.unsqueeze(-1) * hidden.to(torch.float32)).sum(0)                 # [T, D]
    union = (mask != 0).any(0)
    out = torch.where(union.unsqueeze(-1), num / den.clamp_min(1e-12).unsqueeze(-1), torch.zeros_like(num))
    return out.to(hidden.dtype), union.to(mask.dtype)


def feature_direction(W_dec: torch.Tensor, features: Mapping[int, float], scale: torch.Tensor) -> torch.Tensor:
    """delta = sum_i s_i * scale_i * W_dec[i]   (W_dec [d_sae, D], scale [d_sae]) -> [D] float32."""
    delta = torch.zeros(W_dec.shape[1], dtype=torch.float32, device=W_dec.device)
    for fid, strength in sorted(features.items()):
        if not 0 <= fid < W_dec.shape[0]:
            raise ValueError(f"unknown feature id {fid}; the SAE has {W_dec.shape[0]} features")
        if strength:
            delta = delta + float(strength) * scale[fid].to(torch.float32) * W_dec[fid].to(torch.float32)
    return delta


def contrast_direction(pooled_positive: torch.Tensor, pooled_negative: torch.Tensor, strength: float) -> torch.Tensor:
    """strength * (pool(enc(positive)) - pool(enc(negative)))  -> [D] float32."""
    return float(strength) * (pooled_positive.to(torch.float32) - pooled_negative.to(torch.float32))


def add_at_tokens(hidden: torch.Tensor, mask: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """hidden [..., T, D] + delta [D] (or [..., D]) at positions where mask [..., T] is 1; pads untouched."""
    if delta.dim() == hidden.dim() - 2:
        delta = delta.unsqueeze(-2)
    gate = (mask != 0).unsqueeze(-1).to(hidden.dtype)
    return hidden + gate * delta.to(hidden.dtype)


def combine_guidance(
    uncond: torch.Tensor | None,
    conds: Sequence[torch.Tensor],
    weights: Sequence[float],
    scale: float,
    steered: Sequence[torch.Tensor] | None = None,
    gain: float = 0.0,
) -> torch.Tensor:
    """Composable classifier-free guidance on noise predictions:

        noise = uncond + scale * sum_i w_i (cond_i - uncond) + gain * sum_i w_i (steered_i - cond_i)

    Without an unconditional branch (guidance off, scale <= 1 as in diffusers) the base is
    sum_i w_i cond_i. With one prompt of weight 1 and no steering this is exactly diffusers'
    `uncond + scale * (cond - uncond)`.
    """
    if len(conds) != len(weights) or not conds:
        raise ValueError(f"combine_guidance: {len(conds)} branches but {len(weights)} weights")
    if uncond is None:
        base = conds[0] if weights[0] == 1.0 else weights[0] * conds[0]
        for c, w in zip(conds[1:], weights[1:]):
            base = base + w * c
    else:
        mix = _weighted_sum([c - uncond for c in conds], weights)
        base = uncond + scale * mix
    if steered is not None:
        if len(steered) != len(conds):
            raise ValueError(f"combine_guidance: {len(steered)} steered branches for {len(conds)} prompts")
        base = base + gain * _weighted_sum([s - c for s, c in zip(steered, conds)], weights)
    return base


def _weighted_sum(terms: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    out = terms[0] if weights[0] == 1.0 else weights[0] * terms[0]
    for t, w in zip(terms[1:], weights[1:]):
        out = out + w * t
    return out


# --------------------------------------------------------------------------- encoding cache
class EncodingCache:
    """LRU cache of per-text encodings, so moving a slider never re-encodes unchanged prompts.

    `encode_fn(texts) -> Encoded` is called once per batch of misses; `misses` counts texts encoded.
    """

    def __init__(self, encode_fn: Callable[[list[str]], Encoded], maxsize: int = 512):
        if maxsize < 1:
            raise ValueError(f"cache size must be >= 1, got {maxsize}")
        self._encode = encode_fn
        self.maxsize = int(maxsize)
        self._items: OrderedDict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, text: str) -> bool:
        return text in self._items

    def clear(self) -> None:
        self._items.clear()

    def encode(self, texts: Sequence[str]) -> Encoded:
        texts = list(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in self._items))
        fresh: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        if missing:
            enc = self._encode(missing)
            self.misses += len(missing)
            fresh = {t: (enc.hidden[i], enc.mask[i], enc.pooled[i]) for i, t in enumerate(missing)}
        self.hits += len(texts) - sum(1 for t in texts if t in fresh)
        rows = []
        for t in texts:
            item = fresh.get(t) or self._items[t]
            rows.append(item)
        for t, item in fresh.items():
            self._items[t] = item
        for t in texts:
            self._items.move_to_end(t)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)
        if not rows:
            raise ValueError("encode: no texts")
        width = max(r[0].shape[0] for r in rows)
        hidden = torch.stack([torch.nn.functional.pad(r[0], (0, 0, 0, width - r[0].shape[0])) for r in rows])
        mask = torch.stack([torch.nn.functional.pad(r[1], (0, width - r[1].shape[0])) for r in rows])
        return Encoded(hidden=hidden, mask=mask, pooled=torch.stack([r[2] for r in rows]))


# --------------------------------------------------------------------------- state -> plan
@dataclass
class Conditioning:
    """One state's conditioning in encoder space, ready for the denoiser.

    hidden [K, T, D] and mask [K, T]: K prompt branches (K = 1 in embedding mix mode);
    weights: K normalised mix weights; steered [K, T, D] or None (guidance-mode steering only);
    gain: the steering guidance weight w (0 unless steering_mode == "guidance");
    inside: set by the Engine in steering_mode "inside" (the text is then left as it is);
    bpm: the tempo set for it (the state's bpm, else a number its prompts state), or None. Families
    that play in musical time meet it; the others hear the text alone.
    words: the text of its most heavily weighted prompt ("" without one), for families that read what
    the words name (the score model's instruments and arrangement).
    arrangement: the arrangement the state sets (score families), over what the words say; None: unset.
    """
    hidden: torch.Tensor
    mask: torch.Tensor
    weights: tuple[float, ...]
    steered: torch.Tensor | None
    gain: float
    delta: torch.Tensor   # [D] the total steering direction before gain (for sidecars and tests)
    bpm: float | None = None
    words: str = ""
    arrangement: str | None = None
    inside: InsideShift | None = None   # inside-mode steering: directions added in the DiT (synth.inside)
    plain: torch.Tensor | None = None   # hidden before embedding-mode steering (what the text alone says)
    contrasts: tuple[tuple[str, str], ...] = ()   # the active contrasts' (positive, negative) words
    wordless: bool = False              # SAE features (text or DiT) or a raw vector steer: no words say what they move

    @property
    def branches(self) -> int:
        return self.hidden.shape[0]


def steering_delta(state, encode: Callable[[Sequence[str]], Encoded], sae=None, extra: torch.Tensor | None = None,
                   dim: int | None = None) -> torch.Tensor:
    """The state's total steering direction [D] float32: SAE features + contrasts (+ an external vector)."""
    parts: list[torch.Tensor] = []
    if state.features:
        if sae is None:
            ids = ", ".join(str(i) for i in sorted(state.features))
            raise ValueError(f"feature strengths set ({ids}) but no SAE is loaded (pass --sae SAE_DIR)")
        parts.append(feature_direction(sae.W_dec.detach(), state.features, sae.feature_scale()))
    active = [(n, c) for n, c in sorted(state.contrasts.items()) if c.strength != 0.0]
    if active:
        texts = [t for _, c in active for t in (c.positive, c.negative)]
        pooled = encode(texts).pooled
        for i, (_, c) in enumerate(active):
            parts.append(contrast_direction(pooled[2 * i], pooled[2 * i + 1], c.strength))
    if extra is not None:
        parts.append(extra.to(torch.float32).reshape(-1))
    if not parts:
        if dim is None:
            raise ValueError("steering_delta: no steering and no dim given")
        return torch.zeros(dim, dtype=torch.float32)
    device = parts[0].device
    total = parts[0]
    for p in parts[1:]:
        if p.shape != total.shape:
            raise ValueError(f"steering vectors of width {p.shape[-1]} and {total.shape[-1]} can't be added "
                             "(is the SAE trained on this backend's text encoder?)")
        total = total + p.to(device)
    return total


def build_conditioning(state, encode: Callable[[Sequence[str]], Encoded], sae=None,
                       extra_delta: torch.Tensor | None = None) -> Conditioning:
    """SynthState -> Conditioning. `encode` is usually an EncodingCache's `encode`."""
    active = state.active_prompts()
    if not active:
        texts, weights = [""], torch.ones(1)   # nothing mixed in: the empty prompt, as the pipeline would
    else:
        texts = [p.text for p in active]
        weights = normalized_weights(torch.tensor([float(p.weight) for p in active], dtype=torch.float64))
    enc = encode(texts)
    hidden, mask = enc.hidden, enc.mask
    delta = steering_delta(state, encode, sae, extra_delta, dim=hidden.shape[-1])
    if delta.shape[-1] != hidden.shape[-1]:
        raise ValueError(f"steering vector width {delta.shape[-1]} != text encoder width {hidden.shape[-1]} "
                         "(is the SAE trained on this backend's text encoder?)")
    delta = delta.to(hidden.device)
    if state.mix_mode == "embedding":
        h, m = mix_embeddings(hidden, mask, weights.to(torch.float32))
        hidden, mask, w = h.unsqueeze(0), m.unsqueeze(0), (1.0,)
    else:
        w = tuple(float(x) for x in weights)
    steering = bool(delta.abs().sum() > 0)
    steered, gain, plain = None, 0.0, None
    if steering and state.steering_mode == "embedding":
        plain, hidden = hidden, add_at_tokens(hidden, mask, state.steering_gain * delta)
    elif steering and state.steering_mode == "guidance" and state.steering_gain != 0.0:
        steered = add_at_tokens(hidden, mask, delta)
        gain = float(state.steering_gain)
    contrasts = tuple((c.positive, c.negative) for _, c in sorted(state.contrasts.items()) if c.strength != 0.0)
    return Conditioning(hidden=hidden, mask=mask, weights=w, steered=steered, gain=gain, delta=delta,
                        bpm=set_bpm(state), words=main_words(state), arrangement=state.arrangement,
                        plain=plain, contrasts=contrasts,
                        wordless=any(v != 0.0 for v in (*state.features.values(), *state.inside_features.values()))
                        or extra_delta is not None)


def _by_weight(state):
    return sorted(state.active_prompts(), key=lambda p: -float(p.weight))


def main_words(state) -> str:
    """The text of the state's most heavily weighted prompt ("" without one)."""
    prompts = _by_weight(state)
    return prompts[0].text if prompts else ""


def set_bpm(state) -> float | None:
    """The tempo a state sets: its bpm, else the first number stated by its most heavily weighted prompts."""
    if state.bpm is not None:
        return float(state.bpm)
    for p in _by_weight(state):
        bpm = stated_bpm(p.text)
        if bpm is not None:
            return bpm
    return None
