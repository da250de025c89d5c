"""Benchmark: the jam's render time per phrase, without an audio output.

    python bench/jam_phrase.py --backend score --bpm 120 --bars 1 --phrases 12

Renders consecutive phrases as jam mode does (`synth.jam.PhraseRenderer`, continuity 1, each one
continuing the last) and encodes each phrase's MIDI as its loop file does; prints the median and
spread of the wall time per phrase (the first, which warms caches, left out) and a digest of the
audio and MIDI, so two checkouts can be compared phrase for phrase: run it with PYTHONPATH at each.
"""
from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run from a checkout without installing

from synth.config import SynthConfig  # noqa: E402
from synth.engine import build_engine  # noqa: E402
from synth.jam import PhraseRenderer  # noqa: E402
from synth.score.midi import score_to_midi  # noqa: E402
from synth.state import PromptSlot, SynthState  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="score")
    ap.add_argument("--bpm", type=float, default=120.0)
    ap.add_argument("--bars", type=int, default=1)
    ap.add_argument("--phrases", type=int, default=12)
    ap.add_argument("--prompt", default="fast happy piano with drums")
    args = ap.parse_args()
    engine = build_engine(SynthConfig(backend=args.backend, device="cpu"))
    renderer = PhraseRenderer(engine)
    state = SynthState(prompts=[PromptSlot(args.prompt, 1.0)], seed=5)
    digest, times, previous = hashlib.sha256(), [], None
    for i in range(args.phrases):
        t = time.perf_counter()
        phrase = renderer.render(state, args.bpm, args.bars, 1.0, previous, index=i)
        midi = (score_to_midi(phrase.score, end_beat=phrase.seconds / phrase.score.seconds_per_beat)
                if phrase.score is not None else b"")
        times.append(time.perf_counter() - t)
        digest.update(phrase.audio.tobytes())
        digest.update(midi)
        previous = phrase
    rest = times[1:] or times
    print(f"jam phrase: {args.backend} {args.bpm:g} bpm {args.bars} bar(s): render per phrase median "
          f"{statistics.median(rest):.3f} s (min {min(rest):.3f}, max {max(rest):.3f}, {len(rest)} phrases after "
          f"a warm-up of {times[0]:.2f} s); audio+MIDI sha256 {digest.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
