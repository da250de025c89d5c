"""`latent-synth analysis dit-sae`: an SAE on the DiT's own activations, screened by measured effect beside
the text SAE's features.

1. captions: the score corpus generator's (`analysis.score_model.corpus.piece`), one per piece; a tenth
   (by caption, not by row) is held apart;
2. activations: each caption rendered once, one site of the chosen blocks tapped at every step
   (`analysis.sae.dit_activations`), cached in OUT/activations.safetensors so a rerun trains again
   without rendering;
3. a TopK SAE with the trainer every SAE here uses (OUT/sae: SAELens layout, metrics.json, curves), its
   metadata saying where it reads (`synth.dit_sae`); FVU on the held-apart captions' activations;
4. the effect screen `analysis sliders` runs, on the DiT SAE's most used features as `/synth/inside/<id>`
   sliders and on as many of the text SAE's most used features (on the same captions) as
   `/synth/feature/<id>` sliders, same prompt, seeds and strength: how many of each pass.
Writes OUT/report.md and OUT/summary.json.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from analysis.plots import markdown_table, write_json, write_text

ACTIVATIONS_FILE = "activations.safetensors"
ALWAYS_ON = 0.5   # a feature active on more than half the rows is a bias, not a slider


def corpus_captions(n: int, seed: int) -> list[str]:
    from analysis.score_model.corpus import piece

    return [piece(i, seed, 1)["captions"][0] for i in range(n)]


def held_apart(n: int, fraction: float, seed: int) -> np.ndarray:
    """A boolean mask of the captions held apart (a fixed draw of round(n * fraction))."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, size=max(1, round(n * fraction)), replace=False)] = True
    return mask


def most_used(codes: torch.Tensor, n: int) -> list[int]:
    """The `n` features active on the most rows, leaving out the always-on ones."""
    freq = (codes > 0).float().mean(0)
    order = torch.argsort(freq, descending=True).tolist()
    return [int(f) for f in order if 0 < float(freq[f]) <= ALWAYS_ON][:n]


def top_captions(codes_per_caption: torch.Tensor, captions: list[str], fid: int, k: int = 5) -> list[str]:
    values = codes_per_caption[:, fid]
    return [captions[i] for i in torch.argsort(values, descending=True)[:k].tolist() if float(values[i]) > 0]


def _spec(args, engine) -> dict:
    from synth.inside_vectors import model_fingerprint

    return {"backend": engine.kind, "model": model_fingerprint(engine.family.pipe.transformer), "site": args.site,
            "blocks": args.block_list, "captions": args.captions, "corpus_seed": args.corpus_seed,
            "steps": args.steps_resolved, "cfg": args.cfg_resolved, "seconds": args.seconds}


def activations(args, engine, captions: list[str], out: Path) -> np.ndarray:
    """[captions, steps, blocks, D], from OUT/activations.safetensors when it was made the same way."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from analysis.sae.dit_activations import collect
    from synth.atomic_io import atomic_path

    path, spec = out / ACTIVATIONS_FILE, _spec(args, engine)
    if path.is_file():
        try:
            with safe_open(str(path), framework="np") as f:
                if json.loads((f.metadata() or {}).get("spec", "{}")) == spec:
                    print(f"1/4 activations: reusing {path}")
                    return f.get_tensor("activations")
        except (OSError, ValueError):
            pass
    acts = collect(engine.family, engine.cache.encode, captions, args.site, args.block_list, args.steps_resolved,
                   args.cfg_resolved, args.seconds, batch=args.batch, progress=not args.quiet)
    with atomic_path(path) as tmp:
        save_file({"activations": torch.from_numpy(acts)}, str(tmp), metadata={"spec": json.dumps(spec)})
    print(f"1/4 activations: {acts.shape[0]} captions x {acts.shape[1]} steps x {acts.shape[2]} blocks, "
          f"width {acts.shape[3]} -> {path}")
    return acts


def train(args, acts: np.ndarray, apart: np.ndarray, engine, out: Path):
    from analysis.sae.trainer import TrainConfig, evaluate, save_result, train_sae

    d = acts.shape[-1]
    rows = torch.from_numpy(acts[~apart].reshape(-1, d))
    held = torch.from_numpy(acts[apart].reshape(-1, d))
    cfg = TrainConfig(arch="topk", expansion=args.expansion, k=args.k, epochs=args.epochs, seed=args.seed,
                      progress=not args.quiet, device="cpu")
    meta = {**_spec(args, engine), "dit_site": args.site, "dit_blocks": args.block_list, "dit_width": d,
            "encoder": None, "pooling": "position-mean"}
    result = save_result(train_sae(rows.numpy(), cfg, metadata=meta), cfg, out / "sae",
                         f"topk {cfg.expansion}x k={cfg.k} on the {meta['backend']} DiT ({args.site}, blocks {args.block_list})")
    heldout = evaluate(result.sae, held)
    print(f"2/4 DiT SAE: {result.sae.d_sae} features (k={args.k}), FVU {heldout['fvu']:.4f} on the held-apart "
          f"captions' activations, dead {result.metrics['dead_fraction']:.1%} -> {out / 'sae'}")
    return result, heldout


def label_features(sae, acts: np.ndarray, captions: list[str], out_dir: Path) -> dict[int, list[str]]:
    """labels.json: each feature's top captions (its mean code over steps and blocks)."""
    from synth.atomic_io import atomic_write_text

    d = acts.shape[-1]
    with torch.no_grad():
        codes = sae.encode(torch.from_numpy(acts.reshape(-1, d))).reshape(len(captions), -1, sae.d_sae).mean(1)
    labels = {f: top_captions(codes, captions, f) for f in range(sae.d_sae)}
    atomic_write_text(out_dir / "labels.json", json.dumps({"features": {str(f): {"top": t} for f, t in labels.items()}},
                                                          indent=1) + "\n")
    return labels


def candidates(kind: str, ids: list[int], labels: dict[int, list[str]], strength: float) -> list[dict]:
    from analysis.sae.sliders import slider_name

    address = "/synth/inside/{}" if kind == "dit" else "/synth/feature/{}"
    taken: set[str] = set()
    out = []
    for f in ids:
        name = slider_name(labels.get(f, []), taken)
        taken.add(name)
        out.append({"key": f"{kind}_{f}", "id": f, "address": address.format(f), "strength": strength,
                    "label": name, "top": labels.get(f, [])})
    return out


def text_candidates(engine, captions: list[str], n: int, strength: float) -> list[dict]:
    """The text SAE's `n` most used features on the same captions, labelled by their top captions."""
    with torch.no_grad():
        pooled = engine.encoder.encode_pooled(captions).float().to(engine.sae.W_dec.device)
        codes = engine.sae.encode(pooled).cpu()
    ids = most_used(codes, n)
    return candidates("text", ids, {f: top_captions(codes, captions, f) for f in ids}, strength)


def screen(args, engine, config, cands: list[dict], folder: Path) -> list[dict]:
    from analysis.sae.effect_screen import run_screen, write_screen
    from analysis.sae.effects import MIN_D
    from analysis.sae.slider_steps import score_summaries
    from analysis.steering.clip_runner import open_runner
    from analysis.steering.validate import feature_cache
    from synth.state import PromptSlot, SynthState

    seeds = list(range(args.screen_seed, args.screen_seed + args.screen_seeds))
    with open_runner(args, engine=engine, config=config) as (runner, _):
        # DiT features at every step, as they were trained (the state's default window is the late third)
        base = engine.resolve(SynthState(prompts=[PromptSlot(args.prompt, 1.0)], duration=args.seconds,
                                         inside_window="all"))
        score_fn = score_summaries(engine) if engine.family.writes_score else None
        rows = run_screen(runner, base, cands, seeds, args.batch, feature_cache(args, folder), folder, score_fn)
    write_screen(folder, rows, {"backend": config.backend, "candidates": len(rows), "strength": args.strength,
                                "seeds": args.screen_seeds, "prompt": args.prompt, "seconds": base.seconds(),
                                "sae": str(folder), "min_d": MIN_D, "min_selectivity": 1.5})
    return rows


def report(out: Path, summary: dict, dit_rows: list[dict], text_rows: list[dict]) -> None:
    def passed(rows):
        return [r for r in rows if r["drop"] is None]

    table = [[kind, f"#{r['id']}", r["label"], r["word"], r["target"], r["d_target"], r["selectivity"]]
             for kind, rows in (("DiT", dit_rows), ("text", text_rows)) for r in passed(rows)]
    s = summary
    write_text(out / "report.md", "\n".join([
        "# DiT SAE", "",
        f"A TopK SAE ({s['d_sae']} features, k = {s['k']}) on the `{s['backend']}` DiT's {s['site']} activations "
        f"at blocks {s['blocks']}, over {s['captions_train']} captions x {s['steps']} steps (position means on the "
        f"prompt branch), {s['captions_apart']} captions held apart.", "",
        markdown_table(["figure", "value"], [
            ["FVU, held-apart captions", s["fvu_heldout"]], ["FVU, the trainer's validation rows", s["fvu_val"]],
            ["L0, held-apart", s["l0_heldout"]], ["dead fraction", s["dead_fraction"]],
            [f"DiT features passing the screen (of {s['screened']})", s["dit_passed"]],
            [f"text SAE features passing the screen (of {s['screened']})", s["text_passed"]]]), "",
        f"Screen: each feature at ±{s['strength']:g} over {s['screen_seeds']} seeds on `{s['prompt']}` "
        f"({s['seconds']:g} s); passes: |d| ≥ 0.8 on its effect and selectivity ≥ 1.5x (screen_dit/, screen_text/).", "",
        markdown_table(["SAE", "feature", "label (top captions)", "effect", "acoustic target", "d", "selectivity"],
                       table) if table else "No feature passed.", ""]))
    write_json(out / "summary.json", summary)


def model_card(out: Path, summary: dict, argv: list[str]) -> None:
    """OUT/sae/MODEL_CARD.md: the data, the command and the metrics."""
    s = summary
    write_text(out / "sae" / "MODEL_CARD.md", "\n".join([
        f"# DiT SAE: the `{s['backend']}` DiT's {s['site']} activations at blocks {s['blocks']}", "",
        "Sliders inside the model (`/synth/inside/<id>`, docs/steering_research.md). A TopK sparse autoencoder "
        "over the DiT's own activations: the mean over positions of the block's "
        f"{'cross-attention output' if s['site'] == 'cross' else 'output (the residual stream)'}, on the prompt "
        "branch, at every denoising step. It loads only on the DiT it was trained on (`metadata.model`, a "
        "fingerprint of the weights).", "",
        "## Data", "",
        f"- {s['captions_train'] + s['captions_apart']} captions of the score corpus generator "
        f"(`analysis.score_model.corpus.piece`, seed {s['corpus_seed']}, one per piece), each rendered once "
        f"(seed = its index) at {s['steps']} steps, cfg {s['cfg']:g}, {s['seconds']:g} s;",
        f"- {s['captions_train']} captions x {s['steps']} steps x {len(s['blocks'])} block(s) = "
        f"{s['rows_train']} rows of width {s['d_in']} to train on; {s['captions_apart']} captions held apart "
        "(whole captions, every step) for the FVU below.", "",
        "## Command", "", "```bash", "latent-synth " + " ".join(argv), "```", "",
        "## Metrics", "",
        f"- {s['d_sae']} features, k = {s['k']}; FVU on the held-apart captions {s['fvu_heldout']:.4f} "
        f"(the trainer's own validation rows {s['fvu_val']:.4f}); dead fraction {s['dead_fraction']:.2%}.",
        f"- Effect screen (±{s['strength']:g}, {s['screen_seeds']} seeds, `{s['prompt']}`): {s['dit_passed']} of "
        f"{s['screened']} most used features pass (|d| ≥ 0.8, selectivity ≥ 1.5x); the text SAE's "
        f"{s['screened']} most used features on the same captions: {s['text_passed']} pass.", ""]))


def run(args) -> int:
    from analysis.steering.clip_runner import engine_from_args
    from synth.state import SynthState

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    args.block_list = sorted({int(b) for b in str(args.blocks).split(",") if b.strip()})
    engine, config = engine_from_args(args)
    defaults = engine.resolve(SynthState())
    args.steps_resolved = args.steps or defaults.steps
    args.cfg_resolved = float(defaults.cfg)
    args.seconds = float(args.duration)
    captions = corpus_captions(args.captions, args.corpus_seed)
    apart = held_apart(len(captions), args.held_apart, args.seed)
    acts = activations(args, engine, captions, out)
    result, heldout = train(args, acts, apart, engine, out)
    train_captions = [c for c, a in zip(captions, apart) if not a]
    labels = label_features(result.sae, acts[~apart], train_captions, out / "sae")
    engine.set_dit_sae(result.sae, str(out / "sae"))
    d = acts.shape[-1]
    with torch.no_grad():
        codes = result.sae.encode(torch.from_numpy(acts[~apart].reshape(-1, d)))
    dit_cands = candidates("dit", most_used(codes, args.screen), labels, args.strength)
    print(f"3/4 screen: {len(dit_cands)} DiT features, then as many text SAE features, at ±{args.strength:g} "
          f"over {args.screen_seeds} seeds")
    dit_rows = screen(args, engine, config, dit_cands, out / "screen_dit")
    text_rows = screen(args, engine, config, text_candidates(engine, train_captions, len(dit_cands), args.strength),
                       out / "screen_text") if engine.sae is not None else []
    summary = {"backend": engine.kind, "site": args.site, "blocks": args.block_list, "steps": args.steps_resolved,
               "captions_train": int((~apart).sum()), "captions_apart": int(apart.sum()), "d_in": d,
               "d_sae": result.sae.d_sae, "k": args.k, "fvu_heldout": heldout["fvu"], "l0_heldout": heldout["l0"],
               "fvu_val": result.metrics["fvu"], "dead_fraction": result.metrics["dead_fraction"],
               "screened": len(dit_cands), "dit_passed": sum(r["drop"] is None for r in dit_rows),
               "text_passed": sum(r["drop"] is None for r in text_rows) if text_rows else None,
               "strength": args.strength, "screen_seeds": args.screen_seeds, "prompt": args.prompt,
               "seconds": args.seconds,
               "passed": {"dit": [r["id"] for r in dit_rows if r["drop"] is None],
                          "text": [r["id"] for r in text_rows if r["drop"] is None]}}
    summary.update(corpus_seed=args.corpus_seed, cfg=args.cfg_resolved,
                   rows_train=int((~apart).sum()) * acts.shape[1] * acts.shape[2])
    report(out, summary, dit_rows, text_rows)
    model_card(out, summary, args.argv)
    print(f"4/4 DiT SAE: FVU {heldout['fvu']:.4f} held apart, dead {summary['dead_fraction']:.1%}; "
          f"{summary['dit_passed']} of {len(dit_cands)} DiT features pass the screen, text SAE "
          f"{summary['text_passed']} of {len(dit_cands)} -> {out / 'report.md'}")
    return 0 if math.isfinite(heldout["fvu"]) else 1
