"""Benchmark: how often do real captions name drums, by the tempo their words read?

    python bench/drums_by_tempo.py                      # ../shared/corpora
    python bench/drums_by_tempo.py --corpora DIR

Reads MusicCaps' captions (musicians describing what they hear, instruments included) with the score
backend's own word readers: the tempo direction (`synth.score.expression_words.tempo_direction`), whether
the words leave the band open (`synth.score.arrangement_words.open_band`), and whether they name a kit
(`find_instruments`). Prints, side by side, captions with drums against captions without and their odds, for
each tempo direction, over all captions and over those that leave the band open, then beside a few named
instruments. Where the open-band odds
pass the drums head's two to one (`synth.score.text_heads.DRUMS_ODDS`) either way, the words' tempo settles
the drums (`synth.score.caption_plan.OPEN_BAND_DRUMS`); this prints whether they still do.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

DEFAULT_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


BESIDE = {"piano": 0, "acoustic guitar": 25, "electric guitar": 27, "violin": 40, "strings": 48, "flute": 73}


def drum_counts(captions, beside: dict[str, int] | None = None) -> Counter:
    """(tempo direction or None, "open" or "named" band, names a kit) -> captions; with `beside` (name ->
    program), also (tempo direction, name, names a kit) for the captions naming that program."""
    from synth.score.arrangement_words import open_band
    from synth.score.expression_words import tempo_direction
    from synth.score.instrument_words import KIT, find_instruments

    out: Counter = Counter()
    for text in captions:
        mentions = [m for m in find_instruments(text) if not m.negated]
        kit = any(m.program == KIT for m in mentions)
        direction = tempo_direction(text)
        out[(direction, "open" if open_band(text) else "named", kit)] += 1
        for name, program in (beside or {}).items():
            if any(m.program == program for m in mentions):
                out[(direction, name, kit)] += 1
    return out


def main(argv=None) -> int:
    from analysis.sae.corpus import read_musiccaps
    from synth.score.caption_plan import OPEN_BAND_DRUMS
    from synth.score.text_heads import DRUMS_ODDS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA, help=f"corpora folder (default {DEFAULT_CORPORA})")
    args = ap.parse_args(argv)
    counts = drum_counts((row["text"] for row in read_musiccaps(args.corpora)), BESIDE)
    total = sum(n for (_, group, _), n in counts.items() if group in ("open", "named"))
    print(f"MusicCaps, {total} captions: captions naming a kit against not, by the tempo their words read")
    print(f"{'tempo words':12} {'band':6} {'drums':>6} {'none':>6} {'odds':>6}  rule")
    for direction in ("fast", "slow", None):
        for subset, bands in (("any", ("open", "named")), ("open", ("open",))):
            yes = sum(counts[(direction, band, True)] for band in bands)
            no = sum(counts[(direction, band, False)] for band in bands)
            odds = yes / no if no else float("inf")
            rule = ""
            if subset == "open" and direction in OPEN_BAND_DRUMS:
                wanted = OPEN_BAND_DRUMS[direction]
                held = odds > DRUMS_ODDS if wanted else odds < 1 / DRUMS_ODDS
                rule = f"drums {'on' if wanted else 'off'}: {'holds' if held else 'DOES NOT HOLD'} (odds past {DRUMS_ODDS:g} to 1)"
            print(f"{direction or 'none':12} {subset:6} {yes:6d} {no:6d} {odds:6.2f}  {rule}")
    print("beside a named instrument (the drums head decides there):")
    for name in BESIDE:
        cells = []
        for direction in ("fast", "slow"):
            yes, no = counts[(direction, name, True)], counts[(direction, name, False)]
            cells.append(f"{direction} {yes}:{no} ({yes / no if no else float('inf'):.2f})")
        print(f"  {name:16} " + "   ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
