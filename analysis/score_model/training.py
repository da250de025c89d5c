"""`latent-synth analysis train-score-model`: train the score model on a score corpus, on the CPU.

Every step draws pieces, crops them at one of their bar lines to a random length in 16ths (latent
layout version 4: a frame is a 16th), sets the timing tokens to the piece's tempo (start: bpm / 10) and
the crop's length in seconds at that tempo (end), picks one of each piece's captions, drops the text ~10% of the time by zeroing every
cross-attention token (text and timing alike, as the sampler's unconditional branch does), and
regresses the DiT on the v target of `analysis.score_model.objective`, each channel group (tempo, key, drums,
notes, instruments: `synth.score.layout.groups`) weighted in the mean. The run stops at --minutes (or
--steps) with the learning rate annealed over that budget, and saves the EMA weights with the tempo,
drums and held heads (`synth.score.text_heads`: attention pooling over each caption's token states, fitted
to its piece's log2 bpm, to whether it has drums and to whether its notes are held).
"""
from __future__ import annotations

import copy
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from analysis.score_model.objective import sample_sigmas, training_batch
from synth.score import model_files
from synth.score.curves import score_to_curves
from synth.score import layout as L
from synth.score.layout import FRAMES_PER_BAR, FRAMES_PER_BEAT, N_CHANNELS, TRAIN_FRAMES
from synth.score.normalisation import STD_FLOOR, Normalisation
from synth.score.score import Score
from analysis.score_model.text_heads_fit import fit_text_heads

TEXT_POSITIONS = 128  # TextEncoder pads MiniLM states to 128 positions at render time
# Loss weight per channel group (synth.score.layout.groups); groups not named weigh 1.
DEFAULT_GROUP_WEIGHTS = {"drums": 1.0, "notes": 1.0}


@dataclass
class ScoreTrainConfig:
    minutes: float = 45.0            # wall-clock training budget (the lr schedule anneals over it)
    steps: int | None = None         # or a fixed number of steps
    tokens: int = 1024               # latent frames per batch (batch size = tokens // crop length)
    min_frames: int = 16
    max_frames: int = TRAIN_FRAMES
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 0.01
    cfg_dropout: float = 0.1
    ema: float = 0.995
    width: int = 128
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    cond_dim: int = 128
    val_fraction: float = 0.03
    seed: int = 0
    group_weights: dict = field(default_factory=lambda: dict(DEFAULT_GROUP_WEIGHTS))
    head_steps: int = 1500           # AdamW steps for each text head (tempo, drums, held)


def channel_weights(group_weights: dict) -> torch.Tensor:
    """Per-channel loss weights [N_CHANNELS] from group weights, scaled to mean 1 (so the loss keeps its
    unweighted scale when every group weighs the same)."""
    groups = L.groups()
    unknown = set(group_weights) - set(groups)
    if unknown:
        raise ValueError(f"unknown channel group(s) {', '.join(sorted(unknown))}: pick from {', '.join(groups)}")
    w = torch.ones(N_CHANNELS)
    for name, value in group_weights.items():
        if not value > 0:
            raise ValueError(f"group weight {name}={value}: must be positive")
        w[groups[name]] = float(value)
    return w / w.mean()


def _schedule(progress: float, step: int, cfg: ScoreTrainConfig) -> float:
    warm = min(1.0, (step + 1) / cfg.warmup)
    return cfg.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _bar_frames(row: dict) -> int:
    """16ths per bar of a corpus piece (its meter; 4/4 when it names none)."""
    return int(round(float(row.get("bar_beats", 4)) * FRAMES_PER_BEAT))


def _length_frames(score: Score) -> int:
    """16ths up to the end of the last note, rounded up to a beat."""
    end = max([n.start + n.duration for v in score.voices for n in v.notes] + [0.0])
    return int(math.ceil(end)) * FRAMES_PER_BEAT


class Conditioner:
    """The family's own `context` and `unconditional` code (synth.families.stable_audio), batched for
    training: a dropped row gets the unconditional branch, so training and rendering cannot drift."""

    def __init__(self, projection):
        self.projection = projection

    def __call__(self, hidden, mask, frames: int, bpm: torch.Tensor, drop: torch.Tensor):
        """`bpm` [B] the pieces' tempi: start token bpm / 10, end token the crop's seconds at that tempo, through
        the family's own conditioning code (ScoreFamily._timing does the same arithmetic at render time)."""
        from synth.families.stable_audio import context_inputs, timing_states, unconditional_inputs

        seconds = frames / FRAMES_PER_BEAT * 60.0 / bpm
        cond = context_inputs(self.projection, hidden, mask, timing_states(self.projection, bpm / 10.0, seconds))
        uncond = unconditional_inputs(cond)
        encoder_states = torch.where(drop.view(-1, 1, 1), uncond["encoder_hidden_states"],
                                     cond["encoder_hidden_states"])
        return encoder_states, cond["global_hidden_states"]


def _rotary(cache: dict, transformer, frames: int):
    from synth.families.stable_audio import rotary_embedding

    if frames not in cache:
        cache[frames] = rotary_embedding(transformer.config.attention_head_dim // 2, frames)
    return cache[frames]


def _loss(transformer, conditioner, rot, x0, hidden, mask, bpm, drop, sigma, noise, weights=None):
    """Mean squared error on the v target, each channel weighted by `weights` [C] (None: all 1)."""
    encoder_states, global_states = conditioner(hidden, mask, x0.shape[-1], bpm, drop)
    model_in, t, target = training_batch(x0, noise, sigma)
    out = transformer(model_in, t, encoder_hidden_states=encoder_states, global_hidden_states=global_states,
                      rotary_embedding=rot, return_dict=False)[0]
    err = (out - target) ** 2
    return (err * weights.view(1, -1, 1)).mean() if weights is not None else err.mean()


def split_pieces(n: int, rng: random.Random, val_fraction: float) -> tuple[list[int], list[int]]:
    """(held-out, training) piece indices; `rng` = random.Random(seed), as training makes it."""
    order = list(range(n))
    rng.shuffle(order)
    n_val = max(1, int(n * val_fraction))
    return order[:n_val], order[n_val:]


def caption_owners(rows: list[dict]) -> tuple[list[str], list[int]]:
    """Every caption of the corpus, in order, and the piece each belongs to."""
    pairs = [(c, i) for i, row in enumerate(rows) for c in row["captions"]]
    return [c for c, _ in pairs], [i for _, i in pairs]


def prepare(rows: list[dict], progress: bool = True):
    """Raw curves of every piece [N, C, TRAIN_FRAMES] float16, each piece's bar-start frames (crops fit
    inside the piece) and its bpm."""
    it = rows
    if progress:
        from tqdm import tqdm

        it = tqdm(rows, desc="score curves", unit="piece")
    curves = np.zeros((len(rows), N_CHANNELS, TRAIN_FRAMES), np.float16)
    bars, bpm = [], []
    for i, row in enumerate(it):
        score = Score.from_dict(row["score"])
        curves[i] = score_to_curves(score, TRAIN_FRAMES)
        length = min(TRAIN_FRAMES, max(FRAMES_PER_BAR, _length_frames(score)))
        bars.append((np.arange(0, TRAIN_FRAMES, _bar_frames(row)), length))
        bpm.append(float(score.bpm))
    return curves, bars, torch.tensor(bpm)


def _crop_start(rng: random.Random, bars, frames: int) -> int | None:
    starts, length = bars
    fit = starts[starts + frames <= length]
    return int(rng.choice(fit)) if len(fit) else None


def train_score_model(corpus_dir, out_dir, cfg: ScoreTrainConfig, command: str, progress: bool = True,
                      encoder_factory=None) -> dict:
    from analysis.plots import figure, save_figure
    from analysis.score_model.corpus import read_score_corpus
    from analysis.score_model.tokens import token_states
    from synth.encoders import load_encoder

    t_wall, t_cpu = time.perf_counter(), time.process_time()
    rows = read_score_corpus(corpus_dir)
    if len(rows) < 10:
        raise ValueError(f"score corpus {str(corpus_dir)!r} has {len(rows)} pieces; train on at least 10")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    val, train = split_pieces(len(rows), rng, cfg.val_fraction)

    raw, bars, piece_bpm = prepare(rows, progress)
    fit_on = raw[rng.sample(train, min(len(train), 1000))].astype(np.float32)
    norm = Normalisation.fit(fit_on)
    data = torch.from_numpy(np.stack([norm.normalise(c.astype(np.float32)) for c in raw]).astype(np.float16))
    del raw, fit_on

    captions, owner = caption_owners(rows)
    by_piece: dict[int, list[int]] = {}
    for ci, pi in enumerate(owner):
        by_piece.setdefault(pi, []).append(ci)
    encoders: list = []

    def factory():  # load the encoder once, and only when the cache needs it
        if not encoders:
            encoders.append(encoder_factory() if encoder_factory else load_encoder("minilm", device="cpu"))
        return encoders[0]

    tokens = token_states(captions, corpus_dir, factory, progress=progress)
    encoder_name = factory().name
    heads, heads_eval = fit_text_heads(tokens, rows, captions, owner, set(train), val, cfg.head_steps, cfg.seed,
                                       progress)

    arch = model_files.architecture(width=cfg.width, layers=cfg.layers, heads=cfg.heads, kv_heads=cfg.kv_heads,
                                    cond_dim=cfg.cond_dim, text_dim=int(tokens.states.shape[1]))
    transformer, projection = model_files.build(arch, seed=cfg.seed)
    transformer.train()
    projection.train()
    params = list(transformer.parameters()) + list(projection.parameters())
    n_params = sum(p.numel() for p in params)
    ema_tr, ema_pr = copy.deepcopy(transformer).eval(), copy.deepcopy(projection).eval()
    ema_params = list(ema_tr.parameters()) + list(ema_pr.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.99), weight_decay=cfg.weight_decay)
    weights = channel_weights(cfg.group_weights)
    conditioner = Conditioner(projection)
    rot_cache: dict = {}
    log_min, log_max = math.log(cfg.min_frames), math.log(cfg.max_frames)

    budget = cfg.minutes * 60.0
    t_train = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps if cfg.steps else int(budget), desc="train score model",
                   unit="step" if cfg.steps else "s")
    history, window, step = [], [], 0
    while True:
        elapsed = time.perf_counter() - t_train
        frac = step / cfg.steps if cfg.steps else elapsed / budget
        if frac >= 1.0:
            break
        frames = int(round(math.exp(rng.uniform(log_min, log_max)) / FRAMES_PER_BEAT) * FRAMES_PER_BEAT)
        frames = max(cfg.min_frames, min(cfg.max_frames, frames))
        batch = max(1, cfg.tokens // frames)
        pieces, starts = [], []
        while len(pieces) < batch:  # pieces long enough for this crop (short tunes take short crops)
            p = rng.choice(train)
            s0 = _crop_start(rng, bars[p], frames)
            if s0 is not None:
                pieces.append(p)
                starts.append(s0)
        x0 = torch.stack([data[p, :, s:s + frames] for p, s in zip(pieces, starts)]).float()
        hidden, mask = tokens.padded([rng.choice(by_piece[p]) for p in pieces], TEXT_POSITIONS)
        drop = torch.rand(batch, generator=gen) < cfg.cfg_dropout
        sigma = sample_sigmas(batch, gen)
        noise = torch.randn(x0.shape, generator=gen)
        for g in opt.param_groups:
            g["lr"] = _schedule(frac, step, cfg)
        loss = _loss(transformer, conditioner, _rotary(rot_cache, transformer, frames), x0, hidden, mask,
                     piece_bpm[pieces], drop, sigma, noise, weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(cfg.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, params, 1 - decay)
        window.append(loss.item())
        step += 1
        if step % 10 == 0:
            history.append({"step": step, "seconds": round(time.perf_counter() - t_train, 1),
                            "loss": float(np.mean(window))})
            window = []
        if bar is not None:
            if cfg.steps:
                bar.update(1)
            else:
                bar.n = min(int(budget), int(time.perf_counter() - t_train))
                bar.refresh()
            bar.set_postfix(step=step, loss=f"{window[-1] if window else history[-1]['loss']:.3f}", frames=frames)
    if bar is not None:
        bar.close()
    train_seconds = time.perf_counter() - t_train

    val_loss = validation_loss(ema_tr, ema_pr, data, val, piece_bpm, tokens, by_piece, cfg.seed)
    config = {
        "architecture": arch,
        "encoder": encoder_name,
        "normalisation": norm.to_dict(),
        "training": {"config": asdict(cfg), "steps": step, "train_seconds": round(train_seconds, 1),
                     "parameters": n_params, "pieces": len(rows), "captions": len(captions),
                     "final_loss": history[-1]["loss"] if history else loss.item(), "val_loss": val_loss,
                     **heads_eval,
                     "command": command},
    }
    manifest = read_manifest(corpus_dir)
    wall, cpu = time.perf_counter() - t_wall, time.process_time() - t_cpu
    config["training"].update(wall_seconds=round(wall, 1), cpu_seconds=round(cpu, 1))
    model_files.save(out, ema_tr, ema_pr, config, model_card(config, manifest, corpus_dir), heads=heads)
    plt = figure()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if history:
        ax.plot([h["step"] for h in history], [h["loss"] for h in history], lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("v-prediction MSE (mean of 10 steps)")
    ax.set_yscale("log")
    ax.set_title(f"score model: {step} steps, {train_seconds / 60:.1f} min")
    save_figure(fig, out / "loss_curve.png")
    from analysis.plots import write_json

    write_json(out / "loss_history.json", history)
    return config["training"]


def read_manifest(corpus_dir) -> dict:
    """The corpus's manifest.json (what made it), or {} for a corpus without one."""
    from analysis.score_model.corpus import MANIFEST

    path = Path(corpus_dir) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def refit_text_heads(model_dir, corpus_dir, steps: int, command: str, progress: bool = True) -> dict:
    """Fit a trained model's text heads again on its corpus (the same held-out pieces as its training) and
    rewrite the folder: the DiT is untouched; the heads' figures, this command and the card are updated."""
    from analysis.score_model.corpus import read_score_corpus
    from analysis.score_model.tokens import token_states
    from synth.encoders import load_encoder

    transformer, projection, config, _, _ = model_files.load(model_dir)
    tr = config["training"]
    rows = read_score_corpus(corpus_dir)
    if len(rows) != tr["pieces"]:
        raise ValueError(f"{str(model_dir)!r} was trained on {tr['pieces']} pieces, {str(corpus_dir)!r} has {len(rows)}: "
                         "refit its heads on its own corpus")
    captions, owner = caption_owners(rows)
    tokens = token_states(captions, corpus_dir, lambda: load_encoder("minilm", device="cpu"), progress=progress)
    seed = tr["config"]["seed"]
    val, train = split_pieces(len(rows), random.Random(seed), tr["config"]["val_fraction"])
    heads, figures = fit_text_heads(tokens, rows, captions, owner, set(train), val, steps, seed, progress)
    tr.pop("tempo_head", None)
    tr.update(figures, heads_command=command)
    tr["config"]["head_steps"] = steps
    config = {k: v for k, v in config.items() if k not in ("format", "version")}  # save writes its own
    manifest = read_manifest(corpus_dir)
    model_files.save(model_dir, transformer, projection, config, model_card(config, manifest, corpus_dir), heads=heads)
    return figures


@torch.no_grad()
def validation_loss(transformer, projection, data, val, piece_bpm, tokens, by_piece, seed: int,
                    frames: int = 32) -> dict:
    """Loss on held-out pieces (their first caption, the first `frames` 16ths) at fixed noise levels."""
    gen = torch.Generator().manual_seed(seed + 1)
    conditioner = Conditioner(projection)
    rot = _rotary({}, transformer, frames)
    x0 = data[val, :, :frames].float()
    hidden, mask = tokens.padded([by_piece[p][0] for p in val], TEXT_POSITIONS)
    drop = torch.zeros(len(val), dtype=torch.bool)
    out = {}
    for s in (0.3, 1.0, 3.0, 10.0):
        noise = torch.randn(x0.shape, generator=gen)
        sigma = torch.full((len(val),), s)
        out[f"sigma_{s:g}"] = round(float(_loss(transformer, conditioner, rot, x0, hidden, mask,
                                                piece_bpm[val], drop, sigma, noise)), 4)
    return out


def corpus_command(manifest: dict, corpus_dir) -> str:
    """The `score-corpus` call that makes this corpus again (the generator is deterministic per seed)."""
    sources = manifest.get("sources", ["procedural"])
    cmd = (f"latent-synth analysis score-corpus --n {manifest.get('procedural', manifest.get('pieces', '?'))} "
           f"--seed {manifest.get('seed', 0)} --captions {manifest.get('captions_per_piece', 3)}")
    if sources != ["procedural"]:
        cmd += f" --sources {','.join(sources)}"
    if manifest.get("music21"):
        cmd += f" --music21 {manifest['music21']} --music21-repeats {manifest.get('music21_repeats', 2)}"
    return cmd + f" --out {corpus_dir}"


def data_mix(manifest: dict) -> str:
    """The corpus's sources and their piece counts, for the model card."""
    counts = manifest.get("counts", {})
    parts = [f"{k.split(':', 1)[1]}: {v}" for k, v in counts.items() if k.startswith("source:")]
    return ", ".join(parts) if parts else f"procedural: {manifest.get('pieces', '?')}"


def heads_note(tr: dict) -> str:
    """The card's line on text heads fitted after training (`fit-score-heads`), if they were."""
    if not tr.get("heads_command"):
        return ""
    return ("Its text heads were fitted again afterwards, on the same corpus (train-score-model fits the same heads "
            f"itself):\n```\n{tr['heads_command']}\n```\n")


def model_card(config: dict, manifest: dict, corpus_dir) -> str:
    tr = config["training"]
    arch = config["architecture"]["transformer"]
    c = tr["config"]
    return f"""# Score model (latent-synth backend `score`)

Our own small text-to-score model: the Stable Audio Open architecture (diffusers `StableAudioDiTModel` +
`StableAudioProjectionModel`, `CosineDPMSolverMultistepScheduler`, v-prediction) over a symbolic latent of
{arch['in_channels']} control-curve channels in musical time, one frame per 16th note (layout version
{L.VERSION}: `synth/score/layout.py`), conditioned on all-MiniLM-L6-v2 token states ({config['encoder']})
and on the tempo it is played at (start-seconds token = bpm / 10). Three text heads (attention pooling over the
token states) read what the whole clip does: the tempo, when none is set or stated, whether drums play, and
whether it holds its notes (pads, drones, held chords).
Its scores are played through a General MIDI SoundFont with FluidSynth. Everything measured on this model is a property of this model, not of Stable Audio.

## Data
From `latent-synth analysis score-corpus`: {tr['pieces']} pieces, {tr['captions']} captions (generator version
{manifest.get('generator_version', '?')}, seed {manifest.get('seed', '?')}).
Mix: {data_mix(manifest)}.
- procedural: the generator's pieces with known parameters (GM instruments for melody / harmony / bass,
  drum pattern or none, tempo 50-180 bpm, key and mode, register, dynamics, articulation, density, emotion
  and genre) and captions built from them;
- music21: real melodies (O'Neill's 1850 and Ryan's Mammoth Collection tunes, Essen folksongs, Bach
  chorales with their bass lines) from PyPI's music21 corpus, chords found from their notes, orchestration
  and drums assigned as the generator does, captions from the tune type, meter, key, tempo and feel.
Counts: {json.dumps(manifest.get('counts', {}))}

## Command
```
{corpus_command(manifest, corpus_dir)}
{tr['command']}
```
{heads_note(tr)}The training is time-budgeted (`--minutes`), so a rerun takes as many steps as its CPU allows: an equivalent
model, not the same bytes. Generator version {manifest.get('generator_version', '?')}, layout version {L.VERSION}.

## Training
- DiT: {arch['num_layers']} layers, width {arch['attention_head_dim'] * arch['num_attention_heads']}, {arch['num_attention_heads']} heads
  ({arch['num_key_value_attention_heads']} key/value heads), cross-attention width {arch['cross_attention_dim']};
  {tr['parameters']:,} parameters with the projection model; weights stored in float16.
- {tr['steps']} steps of ~{c['tokens']} latent frames (crops of {c['min_frames']}-{c['max_frames']} 16ths cut at the
  piece's bar lines), AdamW lr {c['lr']} with warm-up and cosine decay over the budget, EMA {c['ema']}, text dropped
  {c['cfg_dropout']:.0%} of the time (all cross-attention tokens zeroed, the sampler's unconditional input).
- Time: {tr['train_seconds'] / 60:.1f} min of training, {tr['wall_seconds'] / 60:.1f} min wall clock in all,
  {tr['cpu_seconds'] / 60:.1f} min CPU time (a shared 2-core CPU).
- Channel normalisation (mean / std per channel, std floored at {STD_FLOOR}) is in `config.json`.

## Metrics
- Final training loss (v-prediction MSE, mean of the last 10 steps): {tr['final_loss']:.4f}
- Held-out pieces ({c['val_fraction']:.0%} of the corpus), 2-bar crops, loss by noise level: {json.dumps(tr['val_loss'])}
- Tempo head on the held-out pieces' captions that state no number (|error| in %, share within 10%): {json.dumps(tr.get('tempo_head', {}))}
- Drums head on the held-out pieces' captions (right when p > 0.5; "sure": p < 0.2 or > 0.8): {json.dumps(tr.get('drums_head', {}))}
- Held head (held notes: pads, drones, held chords), likewise: {json.dumps(tr.get('held_head', {}))}
- Caption-level quality (instrument, tempo, drums, held notes on held-out captions; every attribute on a
  musician's paraphrases, tests/fixtures/score_paraphrases.yaml; melodic motion beside music21's tunes):
  `python bench/score_quality.py`; the measured figures are in docs/score_model.md.

## Decoding
What the prompt's words name (instruments, the arrangement, tempo, loudness and register words, and the
drums a tempo brings where the words leave the band open) is read by the backend's decoder and overrides
the curves and the heads where it speaks (`synth/score/caption_plan.py`), and the melody's notes are read
as the most probable line under the corpus generator's melodic moves (`synth/score/pitch_reading.py`):
properties of the backend, the same for every trained model, not of this run.

## Render defaults
The backend's steps, cfg and preview steps live in its spec (`synth/families/specs.py`, SCORE_STEPS), measured there.
"""
