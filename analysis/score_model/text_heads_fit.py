"""Fit the score model's text heads (`synth.score.text_heads`) on the training captions' token states:
tempo as a regression on the piece's log2 bpm, drums as a logistic regression on whether it has any, held
as one on whether its notes are held (the generator's "held" density: pads, drones, held chords)."""
from __future__ import annotations

import torch

from synth.score.text_heads import TextHead

TOKENS = 48  # captions are shorter; longer ones are cut for the fit only
# The mean-pooled part of the tempo head: its L2 penalty, chosen among 30 and 300 on ten fast / slow
# phrasings of our own ("a speedy / sluggish flute melody" ...; not the held-out tempo-word pairs), where
# 30 gave the wider bpm ratios at the same direction.
TEMPO_RIDGE = 30.0


def fit_head(tokens, rows: list[int], target: torch.Tensor, kind: str, steps: int = 1500, batch: int = 1024,
             lr: float = 3e-3, weight_decay: float = 0.01, seed: int = 0, desc: str | None = None) -> TextHead:
    """`tokens` (analysis.score_model.tokens.TokenStates), the caption rows to fit on and their targets
    [len(rows)]; `kind` "regression" (squared error) or "logistic" (targets 0 / 1)."""
    if kind not in ("regression", "logistic"):
        raise ValueError(f"head kind must be 'regression' or 'logistic', got {kind!r}")
    if not rows:
        raise ValueError("a text head needs at least one caption to fit on")
    target = target.float()
    d = int(tokens.states.shape[1])
    mean = float(target.mean())
    start = mean if kind == "regression" else float(torch.logit(torch.tensor(mean).clamp(1e-3, 1 - 1e-3)))
    attend = torch.zeros(d + 1, requires_grad=True)    # zero scores: the fit starts from the mean over tokens
    value = torch.zeros(d + 1)
    value[-1] = start
    value.requires_grad_(True)
    head = TextHead(attend, value)
    opt = torch.optim.AdamW([attend, value], lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    rows_t = torch.as_tensor(rows)
    size = min(batch, len(rows))
    loss_fn = torch.nn.functional.mse_loss if kind == "regression" else \
        torch.nn.functional.binary_cross_entropy_with_logits
    bar = None
    if desc:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, desc=desc, unit="step", leave=False)
    for _ in range(steps):
        pick = torch.randint(len(rows), (size,), generator=gen)
        hidden, mask = tokens.padded(rows_t[pick].tolist(), TOKENS)
        loss = loss_fn(head(hidden, mask), target[pick])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}")
    if bar is not None:
        bar.close()
    return TextHead(attend.detach().clone()[None], value.detach().clone()[None])


def mean_states(tokens, rows: list[int], batch: int = 2048) -> torch.Tensor:
    """Each caption's mean token state [len(rows), D]."""
    from synth.encoders import mean_pool

    out = [torch.zeros(0, int(tokens.states.shape[1]))]
    for i in range(0, len(rows), batch):
        out.append(mean_pool(*tokens.padded(rows[i:i + batch], TOKENS)).float())
    return torch.cat(out)


def fit_mean_ridge(tokens, rows: list[int], target: torch.Tensor, ridge: float) -> TextHead:
    """A head with zero attention scores (the mean over tokens) and a ridge regression of `target` on that
    mean, rescaled so that its predictions keep the target's spread (a strong penalty shrinks them)."""
    x = mean_states(tokens, rows).double()
    y = target.double()
    mean_x, mean_y = x.mean(0), y.mean()
    xc = x - mean_x
    w = torch.linalg.solve(xc.T @ xc + ridge * torch.eye(x.shape[1], dtype=x.dtype), xc.T @ (y - mean_y))
    pred = xc @ w
    w = w * (pred @ (y - mean_y)) / (pred @ pred).clamp_min(1e-12)
    value = torch.cat([w, (mean_y - mean_x @ w).reshape(1)]).float()
    return TextHead(torch.zeros(1, x.shape[1] + 1), value[None])


def predict(head: TextHead, tokens, rows: list[int], batch: int = 2048) -> torch.Tensor:
    """The head's output for caption rows [len(rows)]."""
    out = [torch.zeros(0)]
    with torch.no_grad():
        for i in range(0, len(rows), batch):
            out.append(head(*tokens.padded(rows[i:i + batch], TOKENS)))
    return torch.cat(out)


def fit_text_heads(tokens, rows: list[dict], captions: list[str], owner: list[int], train: set[int], val: list[int],
                   steps: int, seed: int, progress: bool = True) -> tuple[dict, dict]:
    """The heads fitted on the training pieces' captions ({"tempo", "drums", "held"} -> TextHead) and their
    figures on the held-out pieces' captions (for the model's config and card). The tempo head is fitted
    and measured on captions that state no number: a number is read from the text itself
    (`synth.tempo_text`), and mapping digits' token states to a bpm would only blur the words' fit
    ("a slow piano piece" read 88 bpm with them, 70 without)."""
    from synth.tempo_text import stated_bpm

    wordy = [stated_bpm(c) is None for c in captions]
    log2_bpm = torch.log2(torch.tensor([float(rows[pi]["score"]["bpm"]) for pi in owner]))
    drums = torch.tensor([float(rows[pi]["params"]["drums"] is not None) for pi in owner])
    held = torch.tensor([float(rows[pi]["params"].get("density") == "held") for pi in owner])
    fit_rows = [ci for ci, pi in enumerate(owner) if pi in train]
    tempo_rows = [ci for ci in fit_rows if wordy[ci]] or fit_rows
    attention = fit_head(tokens, tempo_rows, log2_bpm[tempo_rows], "regression", steps, seed=seed,
                         desc="tempo head" if progress else None)
    heads = {"tempo": TextHead.averaged(attention, fit_mean_ridge(tokens, tempo_rows, log2_bpm[tempo_rows], TEMPO_RIDGE)),
             "drums": fit_head(tokens, fit_rows, drums[fit_rows], "logistic", steps, seed=seed + 1,
                               desc="drums head" if progress else None),
             "held": fit_head(tokens, fit_rows, held[fit_rows], "logistic", steps, seed=seed + 2,
                              desc="held head" if progress else None)}
    val_set = set(val)
    val_rows = [ci for ci, pi in enumerate(owner) if pi in val_set]
    val_wordy = [ci for ci in val_rows if wordy[ci]]
    figures = {}
    if val_wordy:
        err = (2.0 ** (predict(heads["tempo"], tokens, val_wordy) - log2_bpm[val_wordy]) - 1).abs()
        figures["tempo_head"] = {"captions_without_a_number": len(val_wordy),
                                 "median_abs_error": round(float(err.median()) * 100, 1),
                                 "within_10pct": round(float((err <= 0.1).float().mean()), 3)}
    if val_rows:
        for name, target in (("drums", drums), ("held", held)):
            figures[f"{name}_head"] = _logistic_figures(predict(heads[name], tokens, val_rows), target[val_rows])
    return heads, figures


def _logistic_figures(logit: torch.Tensor, target: torch.Tensor) -> dict:
    """Accuracy at p > 0.5, and on the captions that are sure (p < 0.2 or > 0.8: they say so, or name a
    genre or instrument that does)."""
    p = torch.sigmoid(logit)
    right = (p > 0.5).float() == target
    sure = (p - 0.5).abs() > 0.3
    return {"captions": len(target), "accuracy": round(float(right.float().mean()), 3),
            "sure_share": round(float(sure.float().mean()), 3),
            "sure_accuracy": round(float(right[sure].float().mean()), 3) if sure.any() else None}
