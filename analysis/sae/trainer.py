"""Train sparse autoencoders on pooled embeddings: relu-l1 (the seed's recipe), topk, batchtopk.

The trainer keeps its own parameters and copies them into a ``synth.sae.SparseAutoencoder`` at the end.
The encoder is stored transposed (``enc`` [d_sae, d_in]) so that rows of both matrices can be gathered.

Speed: for topk and batchtopk the default (sparse) path computes the dense encoder pre-activations
once without autograd, picks the active latents, and hands them to ``SparseLatents``, an autograd
Function that decodes with a CSR code matrix and computes every gradient (decoder, encoder, biases)
with sparse products over the selected entries only: O(B·k·d_in) work beyond the one dense encoder
product, against five O(B·d_sae·d_in) dense products in a plain loop. It also uses torch's fused
Adam. ``sparse=False`` is that plain dense loop with stock Adam, kept as the benchmark's reference.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from synth.sae import ARCHS, SparseAutoencoder, save_sae

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")


@dataclass
class TrainConfig:
    arch: str = "topk"
    expansion: int = 16
    k: int = 64
    l1: float = 3e-3  # relu-l1 only; at 8x on MiniLM 1e-2 pushes the training L0 below 64, 3e-3 keeps it above
    epochs: int = 12
    lr: float | None = None  # None: scaled with d_sae (see resolved_lr)
    batch_size: int = 256
    mse_epochs: int | None = None  # relu-l1: MSE-only epochs; None: epochs // 4
    ramp_epochs: int | None = None  # relu-l1: epochs of the linear L1 ramp; None: half the rest
    aux_k: int | None = None  # None: d_in // 2
    aux_coef: float = 1 / 32
    aux_window: float = 0.5  # a latent silent this many epochs counts as dead for AuxK
    # AuxK on the dead latents' raw pre-activations: a latent only dies once its pre-activations are
    # below zero everywhere, where a ReLU would give it no gradient to come back with.
    aux_relu: bool = False
    val_fraction: float = 0.05
    seed: int = 0
    device: str | None = None
    sparse: bool = True
    progress: bool = True
    threshold_momentum: float = 0.99  # batchtopk: EMA of the per-batch kept minimum
    lr_decay: float = 0.2  # fraction of training at the end over which the lr falls linearly to 0

    def validate(self, d_in: int, n: int) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"unknown SAE architecture {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if self.expansion < 1:
            raise ValueError(f"expansion must be >= 1, got {self.expansion}")
        if not 1 <= self.k <= self.expansion * d_in:
            raise ValueError(f"k must be in 1..d_sae={self.expansion * d_in}, got {self.k}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.batch_size}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"learning rate must be a positive number, got {self.lr}")
        if not (self.l1 >= 0 and math.isfinite(self.l1)):
            raise ValueError(f"l1 must be a non-negative number, got {self.l1}")
        if not 0 <= self.lr_decay <= 1:
            raise ValueError(f"lr decay fraction must be in [0, 1], got {self.lr_decay}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val fraction must be in (0, 1), got {self.val_fraction}")
        if n < 4:
            raise ValueError(f"need at least 4 activation rows to train, got {n}")

    def resolved_lr(self, d_sae: int) -> float:
        # Gao et al. scale 2e-4 / sqrt(d_sae / 2^14); small corpora take a few times more.
        return self.lr if self.lr is not None else 1e-3 / math.sqrt(max(d_sae, 1) / 2**14)


@dataclass
class TrainResult:
    sae: SparseAutoencoder
    metrics: dict
    history: list[dict] = field(default_factory=list)


def _adam(params, lr: float, fused: bool) -> torch.optim.Optimizer:
    params = list(params)
    if fused:
        try:
            return torch.optim.Adam(params, lr=lr, eps=6.25e-10, fused=True)
        except (RuntimeError, TypeError):  # fused Adam missing for this device or torch version
            pass
    return torch.optim.Adam(params, lr=lr, eps=6.25e-10)


class _Params(torch.nn.Module):
    def __init__(self, d_in: int, d_sae: int, mean: torch.Tensor, gen: torch.Generator):
        super().__init__()
        dec = torch.randn(d_sae, d_in, generator=gen)
        dec /= dec.norm(dim=1, keepdim=True)
        self.W_dec = torch.nn.Parameter(dec)
        self.enc = torch.nn.Parameter(dec.clone())  # tied init: W_enc = W_dec^T
        self.b_enc = torch.nn.Parameter(torch.zeros(d_sae))
        self.b_dec = torch.nn.Parameter(mean.clone())


# --- pure math --------------------------------------------------------------------------------
def fvu(x: torch.Tensor, x_hat: torch.Tensor, mean: torch.Tensor | None = None) -> float:
    """Fraction of variance unexplained: sum ||x - x_hat||^2 / sum ||x - mean(x)||^2."""
    mean = x.mean(0) if mean is None else mean
    return float((x - x_hat).pow(2).sum() / (x - mean).pow(2).sum().clamp_min(1e-12))


class SparseLatents(torch.autograd.Function):
    """x_hat (without b_dec) from M selected latents (rows[m], cols[m]) whose pre-activations
    ``pre_sel`` were already computed by the dense, gradient-free encoder product.

    Forward: a CSR [B, d_sae] code matrix times W_dec. Backward returns the gradients that autograd
    would give through ``relu(xc @ enc.T + b_enc)`` restricted to the selected entries, but with
    sparse products: O(M·d_in) work instead of O(B·d_sae·d_in).
    ``rows`` must be sorted (row-major order).
    """

    @staticmethod
    def forward(ctx, xc, enc, b_enc, W_dec, rows, cols, pre_sel, batch: int, relu: bool = True):
        vals = torch.relu(pre_sel) if relu else pre_sel
        ctx.relu = relu
        crow = torch.zeros(batch + 1, dtype=torch.long, device=rows.device)
        crow[1:] = torch.bincount(rows, minlength=batch).cumsum(0)
        codes = torch.sparse_csr_tensor(crow, cols, vals, (batch, W_dec.shape[0]), check_invariants=False)
        ctx.save_for_backward(xc, enc, W_dec, rows, cols, vals, crow)
        return codes @ W_dec

    @staticmethod
    def backward(ctx, g):
        xc, enc, W_dec, rows, cols, vals, crow = ctx.saved_tensors
        d_sae, batch = W_dec.shape[0], xc.shape[0]
        # d loss / d code value: dot of the gathered decoder row with the output gradient, through the ReLU
        # (sampled dense-dense product at the code pattern: no [M, d_in] gather)
        pattern = torch.sparse_csr_tensor(crow, cols, torch.zeros_like(vals), (batch, d_sae), check_invariants=False)
        g_vals = torch.sparse.sampled_addmm(pattern, g, W_dec.T, beta=0.0).values()
        if ctx.relu:
            g_vals = g_vals * (vals > 0)
        t_idx = torch.stack([cols, rows])  # transposed pattern [d_sae, B]
        grad_W_dec = torch.sparse.mm(torch.sparse_coo_tensor(t_idx, vals, (d_sae, batch), check_invariants=False), g)
        grad_enc = torch.sparse.mm(torch.sparse_coo_tensor(t_idx, g_vals, (d_sae, batch), check_invariants=False), xc)
        grad_b_enc = torch.zeros(d_sae, dtype=g_vals.dtype, device=g_vals.device).index_add_(0, cols, g_vals)
        grad_xc = None
        if ctx.needs_input_grad[0]:
            grad_xc = torch.sparse_csr_tensor(crow, cols, g_vals, (batch, d_sae), check_invariants=False) @ enc
        return grad_xc, grad_enc, grad_b_enc, grad_W_dec, None, None, None, None, None


# --- trainer ----------------------------------------------------------------------------------
class SAETrainer:
    def __init__(self, d_in: int, cfg: TrainConfig, train_mean: torch.Tensor, n_train: int):
        self.cfg = cfg
        self.d_in, self.d_sae = d_in, cfg.expansion * d_in
        self.device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        gen = torch.Generator().manual_seed(cfg.seed)
        self.p = _Params(d_in, self.d_sae, train_mean.float().cpu(), gen).to(self.device)
        self.lr = cfg.resolved_lr(self.d_sae)
        # The plain loop (sparse=False) uses stock Adam; ours uses the fused kernel where torch has one.
        self.opt = _adam(self.p.parameters(), self.lr, fused=cfg.sparse)
        self.aux_k = min(cfg.aux_k or d_in // 2, self.d_sae)
        self.n_train = n_train
        self.since_fired = torch.zeros(self.d_sae, dtype=torch.long, device=self.device)
        self.threshold = torch.zeros((), device=self.device)
        self.threshold_init = False
        self.step_count = 0
        self.mse_epochs = cfg.mse_epochs if cfg.mse_epochs is not None else cfg.epochs // 4
        rest = max(cfg.epochs - self.mse_epochs, 1)
        self.ramp_epochs = cfg.ramp_epochs if cfg.ramp_epochs is not None else max(rest // 2, 1)

    # The L1 coefficient of relu-l1 at a fractional epoch: 0, then a linear ramp, then constant.
    def l1_coef(self, epoch_pos: float) -> float:
        if self.cfg.arch != "relu-l1" or epoch_pos < self.mse_epochs:
            return 0.0
        return self.cfg.l1 * min(1.0, (epoch_pos - self.mse_epochs) / self.ramp_epochs)

    def _pre(self, xc: torch.Tensor) -> torch.Tensor:
        return xc @ self.p.enc.T + self.p.b_enc

    def _select(self, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Active latents as flat, row-major (row, latent) index pairs for topk / batchtopk training."""
        k, batch = self.cfg.k, pre.shape[0]
        if self.cfg.arch == "topk":
            cols = pre.topk(k, dim=-1, sorted=False).indices.sort(dim=1).values.flatten()
            rows = torch.arange(batch, device=pre.device).repeat_interleave(k)
            return rows, cols
        # batchtopk: the B*k largest over the whole batch
        vals, flat_idx = torch.relu(pre).flatten().topk(batch * k, sorted=False)
        keep = vals > 0
        vals, flat_idx = vals[keep], flat_idx[keep].sort().values
        with torch.no_grad():  # running estimate; calibrate_threshold() sets the final value
            kmin = vals.min() if vals.numel() else torch.zeros((), device=pre.device)
            if not self.threshold_init:
                self.threshold.copy_(kmin)
                self.threshold_init = True
            else:
                m = self.cfg.threshold_momentum
                self.threshold.mul_(m).add_((1 - m) * kmin)
        return flat_idx // self.d_sae, flat_idx % self.d_sae

    def _dead_latents(self) -> torch.Tensor | None:
        """AuxK candidates: latents silent for aux_window epochs; None when there are none."""
        dead = self.since_fired > int(self.cfg.aux_window * self.n_train)
        return dead if bool(dead.any()) else None

    def _reconstruct(self, xc, pre, rows, cols, batch: int, relu: bool = True) -> torch.Tensor:
        """Decoder output (no b_dec) from the selected latents: sparse kernels or the plain dense loop."""
        p = self.p
        if self.cfg.sparse:
            return SparseLatents.apply(xc, p.enc, p.b_enc, p.W_dec, rows, cols, pre[rows, cols], batch, relu)
        codes = torch.zeros(batch, self.d_sae, dtype=pre.dtype, device=pre.device)
        sel = pre[rows, cols]
        codes = codes.index_put((rows, cols), torch.relu(sel) if relu else sel)
        return codes @ p.W_dec

    def lr_at(self, progress: float) -> float:
        """Learning rate at a fraction of training: constant, then linear decay to 0."""
        d = self.cfg.lr_decay
        if d <= 0 or progress < 1 - d:
            return self.lr
        return self.lr * max(0.0, (1 - progress) / d)

    def step(self, x: torch.Tensor, epoch_pos: float) -> dict:
        cfg, p = self.cfg, self.p
        lr = self.lr_at(epoch_pos / cfg.epochs)
        for group in self.opt.param_groups:
            group["lr"] = lr
        xc = x - p.b_dec
        if cfg.arch == "relu-l1":
            codes = torch.relu(self._pre(xc))
            x_hat = codes @ p.W_dec + p.b_dec
            fired = (codes > 0).any(0)
            l0 = float((codes > 0).sum(1).float().mean())
            var = (x - x.mean(0)).pow(2).sum().clamp_min(1e-12)
            loss = (x_hat - x).pow(2).sum() / var
            coef = self.l1_coef(epoch_pos)
            if coef > 0:
                # L1 weighted by decoder-row norm, per sample, in units of the per-sample variance.
                loss = loss + coef * (codes * p.W_dec.norm(dim=1)).sum() / x.shape[0]
            aux = None
        else:
            batch = x.shape[0]
            if cfg.sparse:
                with torch.no_grad():  # the one dense product; gradients come from SparseLatents
                    pre = self._pre(xc)
            else:
                pre = self._pre(xc)
            rows, cols = self._select(pre.detach())
            x_hat = self._reconstruct(xc, pre, rows, cols, batch) + p.b_dec
            vals = torch.relu(pre.detach()[rows, cols])
            fired = torch.zeros(self.d_sae, dtype=torch.bool, device=x.device)
            fired[cols[vals > 0]] = True
            l0 = float((vals > 0).sum()) / batch
            var = (x - x.mean(0)).pow(2).sum().clamp_min(1e-12)
            residual = x - x_hat
            loss = residual.pow(2).sum() / var
            aux = None
            dead = self._dead_latents() if cfg.aux_coef > 0 else None
            if dead is not None:
                # AuxK: the top-k_aux dead latents reconstruct the (fixed) main residual.
                k_aux = min(self.aux_k, int(dead.sum()))
                aux_cols = pre.detach().masked_fill(~dead, float("-inf")).topk(k_aux, dim=-1, sorted=False).indices
                aux_cols = aux_cols.sort(dim=1).values.flatten()
                aux_rows = torch.arange(batch, device=x.device).repeat_interleave(k_aux)
                e_hat = self._reconstruct(xc, pre, aux_rows, aux_cols, batch, relu=cfg.aux_relu)
                e = residual.detach()
                aux = (e_hat - e).pow(2).sum() / (e - e.mean(0)).pow(2).sum().clamp_min(1e-12)
                loss = loss + cfg.aux_coef * aux
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            p.W_dec.div_(p.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8))
            self.since_fired += x.shape[0]
            self.since_fired[fired] = 0
        self.step_count += 1
        return {"loss": float(loss.detach()), "l0": l0, "fired": fired, "aux": None if aux is None else float(aux.detach())}

    @torch.no_grad()
    def calibrate_threshold(self, x: torch.Tensor, max_rows: int = 8192) -> float:
        """batchtopk: the global threshold that keeps on average k latents per sample on ``x``.

        The running EMA over batch minima lags while training moves; recalibrating on the data gives
        an inference L0 equal to the training k.
        """
        xs = x[:max_rows]
        pre = torch.relu(self._pre(xs - self.p.b_dec)).flatten()
        n_keep = min(xs.shape[0] * self.cfg.k, pre.numel())
        t = pre.topk(n_keep, sorted=False).values.min()
        self.threshold.copy_(t)
        return float(t)

    # --- export and inference -------------------------------------------------------------------
    def to_sae(self, metadata: dict | None = None) -> SparseAutoencoder:
        sae = SparseAutoencoder(self.d_in, self.d_sae, arch=self.cfg.arch, k=self.cfg.k, metadata=metadata)
        with torch.no_grad():
            sae.W_enc.copy_(self.p.enc.detach().T.cpu())
            sae.b_enc.copy_(self.p.b_enc.detach().cpu())
            sae.W_dec.copy_(self.p.W_dec.detach().cpu())
            sae.b_dec.copy_(self.p.b_dec.detach().cpu())
            sae.threshold.fill_(float(self.threshold))
        return sae.eval()


@torch.no_grad()
def evaluate(sae: SparseAutoencoder, x: torch.Tensor, batch_size: int = 2048) -> dict:
    """Held-out MSE, FVU and L0 at the inference codes; for relu-l1 also FVU at every ReLU activation."""
    sq, sq_train, l0_sum, fired = 0.0, 0.0, 0.0, torch.zeros(sae.d_sae, dtype=torch.bool)
    mean = x.mean(0)
    for s in range(0, x.shape[0], batch_size):
        xb = x[s : s + batch_size]
        codes = sae.encode(xb)
        x_hat = sae.decode(codes)
        sq += float((xb - x_hat).pow(2).sum())
        l0_sum += float((codes > 0).sum())
        fired |= (codes > 0).any(0).cpu()
        if sae.arch == "relu-l1":
            sq_train += float((xb - sae.decode(torch.relu(sae.pre_activation(xb)))).pow(2).sum())
    var = float((x - mean).pow(2).sum())
    out = {"mse": sq / x.numel(), "fvu": sq / max(var, 1e-12), "l0": l0_sum / x.shape[0],
           "alive_inference": int(fired.sum())}
    if sae.arch == "relu-l1":
        out["fvu_train_activation"] = sq_train / max(var, 1e-12)
    return out


TOP_ROWS = 20  # a feature's slider unit is how strongly its top rows fire it


@torch.no_grad()
def feature_scales(sae: SparseAutoencoder, x: torch.Tensor, batch_size: int = 4096, top: int = TOP_ROWS) -> list[float]:
    """Slider unit per feature: the mean of its `top` largest activations over ``x`` (zeros left out).

    Strength 1 then pushes along the feature as hard as the prompts it stands for do. (The mean of
    all nonzero activations, the earlier unit, sits ~10x lower for a TopK SAE, which fires most
    features weakly on many rows: sliders at their ends moved nothing audible; docs/steering_research.md.)
    Features that never fire get the median of the others, so a slider still moves in sane units.
    """
    best = None
    for s in range(0, x.shape[0], batch_size):
        codes = sae.encode(x[s : s + batch_size]).detach().cpu().double()
        pool = codes if best is None else torch.cat([best, codes])
        best = pool.topk(min(top, pool.shape[0]), dim=0).values
    count = (best > 0).sum(0)
    scale = best.sum(0) / count.clamp_min(1)
    alive = count > 0
    fill = float(scale[alive].quantile(0.5)) if alive.any() else 1.0
    scale[~alive] = fill
    return [float(v) for v in scale]


def split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * val_fraction)))
    return perm[n_val:], perm[:n_val]


def train_sae(x: np.ndarray | torch.Tensor, cfg: TrainConfig, metadata: dict | None = None) -> TrainResult:
    """Train on rows of ``x`` [N, d_in]; a held-out split (val_fraction) is scored every epoch."""
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if x.dim() != 2:
        raise ValueError(f"activations must be a 2-D array [N, d_in], got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("activations contain non-finite values")
    n, d_in = x.shape
    cfg.validate(d_in, n)
    tr_idx, va_idx = split(n, cfg.val_fraction, cfg.seed)
    x_train, x_val = x[tr_idx], x[va_idx]
    torch.manual_seed(cfg.seed)
    trainer = SAETrainer(d_in, cfg, x_train.mean(0), len(tr_idx))
    dev = trainer.device
    x_train_d = x_train.to(dev)
    x_val_d = x_val.to(dev)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    history: list[dict] = []
    train_time, samples = 0.0, 0
    bar = None
    steps_per_epoch = math.ceil(len(tr_idx) / cfg.batch_size)
    if cfg.progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.epochs * steps_per_epoch, desc=f"train {cfg.arch} {cfg.expansion}x k={cfg.k}",
                   unit="step", dynamic_ncols=True)
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(tr_idx), generator=gen).to(dev)
        fired_epoch = torch.zeros(trainer.d_sae, dtype=torch.bool, device=dev)
        l0_sum, loss_sum, n_steps = 0.0, 0.0, 0
        t0 = time.perf_counter()
        for b in range(steps_per_epoch):
            xb = x_train_d[order[b * cfg.batch_size : (b + 1) * cfg.batch_size]]
            out = trainer.step(xb, epoch + b / steps_per_epoch)
            fired_epoch |= out["fired"]
            l0_sum += out["l0"] * xb.shape[0]
            loss_sum += out["loss"]
            n_steps += 1
            samples += xb.shape[0]
            if bar is not None:
                bar.update(1)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        train_time += time.perf_counter() - t0
        if not math.isfinite(loss_sum):
            raise ValueError(f"training diverged at epoch {epoch + 1} (loss is not finite); lower --lr")
        if cfg.arch == "batchtopk":
            trainer.calibrate_threshold(x_train_d)
        sae = trainer.to_sae().to(dev)
        ev = evaluate(sae, x_val_d)
        dead = int((~fired_epoch).sum())
        rec = {"epoch": epoch + 1, "loss": loss_sum / n_steps, "l0_train": l0_sum / len(tr_idx), **ev,
               "dead_fraction": dead / trainer.d_sae, "alive": trainer.d_sae - dead,
               "l1_coef": trainer.l1_coef(epoch + 1), "samples_per_second": samples / max(train_time, 1e-9)}
        history.append(rec)
        if bar is not None:
            bar.set_postfix(fvu=f"{ev['fvu']:.4f}", l0=f"{ev['l0']:.1f}", dead=f"{rec['dead_fraction']:.3%}")
    if bar is not None:
        bar.close()
    final = history[-1]
    sae = trainer.to_sae(dict(metadata or {}))
    sae.metadata["feature_scale"] = feature_scales(sae.to(dev), x.to(dev))
    sae = sae.cpu()
    sae.metadata["training"] = {k: v for k, v in asdict(cfg).items() if k not in ("progress", "device")}
    sae.metadata["training"]["lr"] = trainer.lr
    metrics = {
        "fvu": final["fvu"], "mse": final["mse"], "l0": final["l0"], "l0_train": final["l0_train"],
        "dead_fraction": final["dead_fraction"], "alive": final["alive"], "epochs": cfg.epochs,
        "samples_per_second": samples / max(train_time, 1e-9), "train_seconds": train_time,
        "arch": cfg.arch, "d_in": d_in, "d_sae": trainer.d_sae, "k": cfg.k, "expansion": cfg.expansion,
        "lr": trainer.lr, "batch_size": cfg.batch_size, "seed": cfg.seed, "n_train": len(tr_idx),
        "n_val": len(va_idx), "device": str(dev), "sparse_kernels": cfg.sparse, "history": history,
    }
    if cfg.arch == "relu-l1":
        metrics["fvu_train_activation"] = final["fvu_train_activation"]
        metrics["l1"] = cfg.l1
    if cfg.arch == "batchtopk":
        metrics["threshold"] = float(trainer.threshold)
    return TrainResult(sae=sae, metrics=metrics, history=history)


def plot_curves(history: list[dict], path, title: str = "") -> None:
    from analysis.plots import figure, save_figure

    plt = figure()
    ep = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(ep, [h["fvu"] for h in history], marker="o", label="held-out FVU (inference codes)")
    if "fvu_train_activation" in history[0]:
        axes[0].plot(ep, [h["fvu_train_activation"] for h in history], marker="s", label="held-out FVU (all ReLU)")
    axes[0].set_ylabel("FVU")
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=8)
    axes[1].plot(ep, [h["l0_train"] for h in history], marker="o", label="L0 training")
    axes[1].plot(ep, [h["l0"] for h in history], marker="s", label="L0 inference (held-out)")
    axes[1].set_ylabel("active latents per sample")
    axes[1].set_ylim(bottom=0, top=max(max(h["l0_train"] for h in history), max(h["l0"] for h in history)) * 1.15 + 1)
    axes[1].legend(fontsize=8)
    axes[2].plot(ep, [100 * h["dead_fraction"] for h in history], marker="o", color="tab:red")
    axes[2].set_ylabel("dead latents (%)")
    axes[2].set_ylim(bottom=0, top=max(1.0, 110 * max(h["dead_fraction"] for h in history)))
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def train_and_save(acts, cfg: TrainConfig, out_dir) -> TrainResult:
    """Train on an Activations folder's valid rows; write the SAE, metrics.json and training_curves.png."""
    meta = {"encoder": acts.index.get("encoder"), "pooling": acts.index.get("pooling", "mean"),
            "corpus_hash": acts.index.get("corpus_sha256"), "n_rows": len(acts)}
    return save_result(train_sae(acts.embeddings, cfg, metadata=meta), cfg, out_dir,
                       f"{cfg.arch} {cfg.expansion}x k={cfg.k} on {meta['encoder']}")


def save_result(result: TrainResult, cfg: TrainConfig, out_dir, title: str) -> TrainResult:
    """Write a trained SAE (SAELens layout), its metrics.json and training_curves.png into `out_dir`."""
    from analysis.plots import write_json

    out = Path(out_dir)
    save_sae(result.sae, out)
    write_json(out / "metrics.json", result.metrics)
    plot_curves(result.history, out / "training_curves.png", title=title)
    return result
