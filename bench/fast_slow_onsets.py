"""Benchmark: is "fast music" / "slow music" fast in the score and in the ear's proxy?

Renders both prompts on the score backend over the same seeds and prints Cohen's d, side by side, of:
the scores' note rate (notes a second, every voice), the audio's onset density (the feature `analysis
validate` judges fast / slow by), and the onset density of the same scores played detached (each note
cut to --detached of its length): how much of the gap is the music and how much the detector.

    python bench/fast_slow_onsets.py --seeds 24
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from analysis.stats import cohens_d
from analysis.steering.acoustic_features import features_from_audio
from synth.config import SynthConfig
from synth.engine import build_engine
from synth.score.score import Note
from synth.state import PromptSlot, SynthState


def detached(score, fraction: float):
    return replace(score, voices=[replace(v, notes=[Note(n.start, n.duration * fraction, n.pitch, n.velocity)
                                                    for n in v.notes]) for v in score.voices])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--detached", type=float, default=0.7, help="note length played, as a fraction (default 0.7)")
    ap.add_argument("--fast", default="fast music")
    ap.add_argument("--slow", default="slow music")
    args = ap.parse_args(argv)
    engine = build_engine(SynthConfig(backend="score", device="cpu"))
    sr = engine.sample_rate
    rows = {}
    for text in (args.fast, args.slow):
        rendered = engine.render(SynthState(prompts=[PromptSlot(text, 1.0)], duration=args.seconds),
                                 list(range(args.seeds)))
        rows[text] = np.array([
            (sum(len(v.notes) for v in score.voices) / args.seconds,
             features_from_audio(audio, sr)["onset_density"],
             features_from_audio(engine.family.play(detached(score, args.detached), args.seconds), sr)["onset_density"])
            for audio, score in zip(rendered.audio, rendered.scores)])
    print(f"'{args.fast}' / '{args.slow}', {args.seeds} seeds, {args.seconds:g} s (score backend)")
    print(f"{'measure':34} {'fast':>7} {'slow':>7} {'d':>6}")
    names = ("notes a second in the score", "onsets a second, as played", f"onsets a second, detached {args.detached:g}")
    for i, name in enumerate(names):
        fast, slow = rows[args.fast][:, i], rows[args.slow][:, i]
        print(f"{name:34} {fast.mean():7.2f} {slow.mean():7.2f} {cohens_d(fast, slow):6.2f}")
    found = rows[args.fast][:, 1].sum() / max(rows[args.fast][:, 0].sum(), 1e-9)
    print(f"onsets found per note played in the fast clips: {found:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
