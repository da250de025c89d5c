"""Benchmark: how many of a score's notes does onset_density hear, per instrument?

    python bench/onsets_by_instrument.py
    python bench/onsets_by_instrument.py --programs 0,73 --rates 1.5,3,6 --gate 0.5

Plays a scale (C5 up and down) at known rates through the score backend's FluidSynth renderer, every
note held for `--gate` of the time to the next (1 = legato), and prints the onsets per second that
`analysis.steering.acoustic_features.onset_density` counts, and their ratio to the notes played. An
instrument whose notes start without a transient (flute, bowed strings, a church organ) plays a legato
line that the detector barely hears at any rate, so a fast / slow contrast on it cannot show in that
feature. A property of the detector and the SoundFont, not of any model.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

SECONDS = 5.0
BPM = 120.0
SCALE = (72, 74, 76, 77, 79, 77, 76, 74)
DEFAULT_PROGRAMS = (0, 16, 19, 24, 40, 73)


def scale_score(program: int, notes_per_second: float, gate: float):
    from synth.score.score import Note, Score, Voice

    step = BPM / 60.0 / notes_per_second   # beats between notes
    count = math.ceil(SECONDS * notes_per_second)   # every note that starts inside the clip
    notes = [Note(i * step, step * gate, SCALE[i % len(SCALE)], 90) for i in range(count)]
    return Score(bpm=BPM, voices=[Voice("melody", program, notes)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--programs", default=",".join(map(str, DEFAULT_PROGRAMS)), help="GM programs, comma-separated")
    ap.add_argument("--rates", default="1.5,3", help="notes per second, comma-separated")
    ap.add_argument("--gate", type=float, default=1.0, help="share of the time to the next note that a note sounds")
    ap.add_argument("--soundfont", default=None, help="SoundFont file (default: the first one found)")
    args = ap.parse_args(argv)
    if not 0 < args.gate <= 1:
        ap.error("--gate must be in (0, 1]")

    import numpy as np

    from analysis.steering.acoustic_features import onset_density
    from synth.score.fluid import FluidRenderer
    from synth.score.gm import PROGRAMS as NAMES
    from synth.score.layout import SAMPLE_RATE
    from synth.score.soundfont import find_soundfont

    renderer = FluidRenderer(find_soundfont(args.soundfont))
    programs = [int(p) for p in args.programs.split(",")]
    rates = [float(r) for r in args.rates.split(",")]
    print(f"onsets per second heard / notes per second played, {SECONDS:g} s scales, gate {args.gate:g}")
    print(f"{'program':<28}" + "".join(f"{f'{r:g} notes/s':>16}" for r in rates))
    for program in programs:
        cells = []
        for rate in rates:
            score = scale_score(program, rate, args.gate)
            audio = renderer.render(score, SECONDS)
            heard = onset_density(np.asarray(audio).mean(axis=0), SAMPLE_RATE)
            played = len(score.voices[0].notes) / SECONDS
            cells.append(f"{heard:6.2f} ({heard / played:4.2f}x)")
        print(f"{f'{program} {NAMES[program]}':<28}" + "".join(f"{c:>16}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
