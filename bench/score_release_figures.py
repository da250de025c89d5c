"""The score model's figures beyond the held-out captions, for `bench/score_quality.py`: audio contrasts
(exactly `latent-synth analysis validate` in text mode), the bundled SAE on the held-out musician
prompts, speed, size and training time. Properties of our score model, not of Stable Audio.
"""
from __future__ import annotations

import contextlib
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

CONTRAST_BAR = 1.5
# (contrast, the feature it should move, + prompt, - prompt): our own wording, more than one phrasing
# each, and the generic fast / slow phrasing that misses (docs/score_model.md says why).
CONTRASTS = (
    ("fast/slow", "onset_density", "a fast piano piece", "a slow piano piece"),
    ("fast/slow", "onset_density", "an up-tempo guitar tune", "a slow, relaxed guitar tune"),
    ("fast/slow", "onset_density", "fast music", "slow music"),
    ("loud/soft", "rms_mean", "a loud, forceful guitar tune", "a soft, gentle guitar tune"),
    ("loud/soft", "rms_mean", "strings playing fortissimo, powerful", "strings playing pianissimo, hushed"),
    ("loud/soft", "rms_mean", "a trumpet blaring at full volume", "a trumpet played very quietly"),
    ("high/low", "spectral_centroid_mean", "a melody in a high register", "a melody in a low register"),
    ("high/low", "spectral_centroid_mean", "high-pitched piano", "low, deep piano"),
    ("high/low", "spectral_centroid_mean", "a piano melody up in a high register", "a piano melody down in a low register"),
)
SAE_BARS = {"heldout": 0.10, "fvu": 0.06, "dead": 0.01}
SPEED_BAR_S = 0.4
SIZE_BAR_MB = 25.0
TRAINING_BAR_MIN = 90.0


def _validate_parser():
    import argparse

    from analysis.steering import cli as steering_cli

    parser = argparse.ArgumentParser(prog="validate")
    steering_cli.register(parser.add_subparsers())
    return parser


def audio_contrasts(n: int, model_id: str | None = None, seconds: float = 5.0, contrasts=CONTRASTS) -> list[dict]:
    """Cohen's d of each contrast's feature over `n` seeds per pole, by `analysis validate --modes text`
    itself (the engine loaded once)."""
    from analysis.steering.clip_runner import engine_from_args
    from analysis.steering.validate import run

    parser = _validate_parser()
    engine = config = None
    rows = []
    for name, feature, pos, neg in contrasts:
        with tempfile.TemporaryDirectory() as out:
            flags = ["validate", "--backend", "score", "--device", "cpu", "--n", str(n), "--modes", "text",
                     "--duration", f"{seconds:g}", "--jobs", "1", "--pos", pos, "--neg", neg, "--out", out]
            args = parser.parse_args(flags + (["--model-id", model_id] if model_id else []))
            if engine is None:
                engine, config = engine_from_args(args)
            with contextlib.redirect_stdout(io.StringIO()):   # validate's own summary line
                run(args, engine=engine, config=config)
            result = json.loads((Path(out) / "text" / "results.json").read_text())["features"][feature]
        rows.append({"contrast": name, "feature": feature, "pos": pos, "neg": neg, "n": n,
                     "d": round(float(result["cohens_d"]), 3), "ci95": [round(x, 3) for x in result["d_ci95"]]})
    return rows


def sae_figures(sae_dir) -> dict:
    """The bundled SAE on the held-out musician prompts (measured now, against the training corpus's
    variance its metrics.json records), and its validation FVU and dead share from training."""
    import torch

    from analysis.sae.heldout import METRICS_KEY, load_prompts, reconstruction_figures
    from synth.encoders import load_encoder
    from synth.sae import load_sae

    metrics = json.loads((Path(sae_dir) / "metrics.json").read_text())
    prompts = load_prompts()
    x = load_encoder("minilm", device="cpu").encode_pooled(prompts).to(torch.float32)
    heldout = reconstruction_figures(load_sae(sae_dir, device="cpu"), x, metrics[METRICS_KEY]["corpus_variance"])
    return {"heldout": round(heldout["error_over_corpus_variance"], 4), "mean_cosine": round(heldout["mean_cosine"], 3),
            "prompts": heldout["n"], "fvu": round(metrics["fvu"], 4), "dead": metrics["dead_fraction"]}


def render_speed(engine, repeats: int = 5, seconds: float = 5.0) -> float:
    """Median seconds from a render call to its WAV on disk, for a `seconds` clip at the defaults."""
    import numpy as np

    from synth.state import PromptSlot, SynthState

    state = engine.resolve(SynthState(prompts=[PromptSlot("a gentle piano melody", 1.0)], duration=seconds, seed=0))
    runs = []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(repeats + 1):   # the first warms the SoundFont and the caches
            t = time.perf_counter()
            rendered = engine.render(state, [state.seed])
            engine.write(np.asarray(rendered.audio[0]), state, Path(out), extras=rendered.extras[0], midi=rendered.midi(0))
            runs.append(time.perf_counter() - t)
    return statistics.median(runs[1:])


def model_figures(model_dir) -> dict:
    """The shipped weights' size (MB) and the training's wall time (minutes) and machine, from its config."""
    model_dir = Path(model_dir)
    training = json.loads((model_dir / "config.json").read_text())["training"]
    return {"size_mb": round((model_dir / "model.safetensors").stat().st_size / 1e6, 2),
            "train_minutes": round(training["train_seconds"] / 60, 1),
            "device": training.get("config", {}).get("device") or "cpu"}


def print_figures(contrasts: list[dict], sae: dict, speed_s: float, model: dict) -> None:
    def ok(flag: bool) -> str:
        return "ok" if flag else "MISSED"

    if contrasts:
        n = contrasts[0]["n"]
        print(f"audio contrasts (latent-synth analysis validate --modes text, {n} seeds per pole, 5 s): Cohen's d")
        for r in contrasts:
            print(f"  {r['contrast']:<10} {r['feature']:<23} {r['d']:>6.2f} >= {CONTRAST_BAR:g}  "
                  f"{ok(abs(r['d']) >= CONTRAST_BAR):<6}  {r['pos']!r} / {r['neg']!r}")
        for name in dict.fromkeys(r["contrast"] for r in contrasts):
            rows = [r for r in contrasts if r["contrast"] == name]
            met = sum(abs(r["d"]) >= CONTRAST_BAR for r in rows)
            print(f"  {name}: met on {met} of {len(rows)} phrasings")
    print(f"SAE: held-out musician prompts {sae['heldout']:.3f} <= {SAE_BARS['heldout']:g} of the corpus's variance "
          f"({sae['prompts']} prompts, mean cosine {sae['mean_cosine']:.3f}): {ok(sae['heldout'] <= SAE_BARS['heldout'])}; "
          f"validation FVU {sae['fvu']:.3f} <= {SAE_BARS['fvu']:g}: {ok(sae['fvu'] <= SAE_BARS['fvu'])}; "
          f"dead {sae['dead']:.1%} < {SAE_BARS['dead']:.0%}: {ok(sae['dead'] < SAE_BARS['dead'])} (at training)")
    print(f"speed: 5 s clip -> WAV median {speed_s:.3f} s <= {SPEED_BAR_S:g}: {ok(speed_s <= SPEED_BAR_S)} "
          f"(bench/render.py for the full comparison)")
    print(f"size: {model['size_mb']:.2f} MB <= {SIZE_BAR_MB:g}: {ok(model['size_mb'] <= SIZE_BAR_MB)}; "
          f"training: {model['train_minutes']:g} min on {model['device']} <= {TRAINING_BAR_MIN:g}: "
          f"{ok(model['train_minutes'] <= TRAINING_BAR_MIN)}")
