"""Benchmark: does the score model do what a caption asks, and is its music what a musician would keep?
Measured on held-out captions.

    python bench/score_quality.py                       # the shipped model, 5 seeds per caption
    python bench/score_quality.py --model-id DIR --seeds 10 --json out.json

For captions the corpus generator never produced (tests/fixtures/score_heldout.yaml), on 8 s clips, prints:
- melody: the median share of stepwise melodic moves (|interval| <= 2 semitones, repeats excluded; target
  >= 0.55), the median share of melody notes in the decoded key (>= 0.95), and the share of clips with
  under 4 melody notes, captions that ask for sustain or a drone left out (pad, drone, sustained, held:
  `asks_for_sustain`; under 2%);
- instrument: share of caption x seed pairs whose melody voice is in the named instrument's GM family
  (program // 8); target >= 90%;
- tempo_stated: share of captions stating a bpm ("at 92 bpm") played within 0.5% of it; target 100%;
- tempo_set: share of clips rendered with an explicit bpm (--bpm, /synth/bpm, the jam clock) played
  within 0.5% of it; target 100%;
- tempo_words: share of tempo-word captions ("a fast piano piece") whose bpm moves the right way from the
  same caption without the word ("a piano piece"); target >= 90%;
- drums: share of "with drums" pairs that have drums and of "solo" / "no drums" pairs that have none
  (>= 95% each);
- sustain: median melody note length (beats) for captions asking for held notes (target >= 2 beats, a
  half note), beside the others'.
Then the figures beyond the captions (`bench/score_release_figures.py`): audio contrasts by `analysis
validate` in text mode (fast / slow -> onset_density, loud / soft -> rms_mean, high / low register ->
spectral_centroid_mean; |d| >= 1.5 at 100 seeds per pole, more than one phrasing each; `--contrast-n 0`
skips them, ~3 min), the bundled SAE on the held-out musician prompts, speed, size and training time.
Beside each melody figure, the same figure on the music21 corpus itself: the tunes the shipped model's
corpus holds (O'Neill's 1850 tunes, Bach chorale soprano lines, Essen folksongs; `REFERENCE_MUSIC21`),
parsed once and cached as `analysis score-corpus` does.
Then every attribute on a musician's own words (tests/fixtures/score_paraphrases.yaml, written apart,
never used to choose anything; `bench/score_words_quality.py`): the exact instrument within each name's
accepted programs, the arrangement, drums alone for drums-only captions, drums yes or no, and the tempo,
loudness and register directions, beside the held-out captions' figures where they have the label. And how
much the melodies move: the median range, distinct pitches, repeated notes and stepwise share of the
melody's first 12 beats (clips decoded long enough to hold them) on the held-out captions that do not ask
for held notes, beside music21's tunes in every whole 12-beat window; held-note captions apart.
Scores are decoded from the model's latents at the backend's default steps and cfg (no audio is
rendered: the measure is of the score). These are properties of our score model, not of Stable Audio.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

HELDOUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "score_heldout.yaml"
SECONDS = 8.0
TARGETS = {"stepwise": 0.55, "in_key": 0.95, "short_clips": 0.02, "instrument": 0.9, "tempo_stated": 1.0,
           "tempo_set": 1.0, "tempo_words": 0.9, "drums_with": 0.95, "drums_without": 0.95}
SUSTAIN_BEATS = 2.0               # "long notes": a half note or longer
UNDER = {"short_clips"}            # a rate that must stay under its target ("fewer than 2%")
SUSTAIN_WORDS = {"pad", "pads", "drone", "drones", "droning", "sustain", "sustained", "sustaining", "held", "hold",
                 "holding", "holds"}  # the words that ask for long notes
SET_BPMS = (61.0, 97.5, 133.0, 172.0)
# The music21 tunes of the shipped model's corpus (the `--music21` of its card's score-corpus command).
REFERENCE_MUSIC21 = "oneills1850:25,bach,essenFolksong:4"
TEMPO_TOLERANCE = 0.005


def load_heldout(path=HELDOUT) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def state_scores(engine, state, seeds, seconds: float = SECONDS):
    """One Score per seed for a resolved `state` (its conditioning, steps and cfg); no audio is rendered."""
    from synth.denoise import denoise

    conds = [engine.conditioning(state)] * len(seeds)
    family = engine.family.for_batch(conds)  # the score family plays each clip at its tempo
    latents = denoise(family, conds, list(seeds), seconds, state.steps, state.cfg, window="clip", output="latent")
    return family.scores(latents, seconds)


def decode_scores(engine, text: str, seeds, seconds: float = SECONDS, bpm: float | None = None):
    """One Score per seed for `text` at the engine's default steps and cfg (and `bpm` when set)."""
    from synth.state import PromptSlot, SynthState

    state = engine.resolve(SynthState(prompts=[PromptSlot(text, 1.0)], duration=seconds, seed=int(seeds[0]), bpm=bpm))
    return state_scores(engine, state, seeds, seconds)


def window_scores(engine, text: str, seeds, beats: float = 12.0):
    """One Score per seed for `text`, decoded long enough (8 s at least) to hold `beats` at its tempo."""
    from synth.state import PromptSlot, SynthState

    state = engine.resolve(SynthState(prompts=[PromptSlot(text, 1.0)], duration=SECONDS, seed=int(seeds[0])))
    bpm = engine.family.for_batch([engine.conditioning(state)]).tempi[0]
    return state_scores(engine, state, seeds, max(SECONDS, beats * 60.0 / bpm + 1e-3))


def asks_for_sustain(text: str) -> bool:
    """A caption that asks for long notes (so a clip with few melody notes is what it asked for)."""
    import re

    return not SUSTAIN_WORDS.isdisjoint(re.findall(r"[a-z]+", text.lower()))


def melody_family(score) -> int | None:
    v = score.voice("melody")
    return v.program // 8 if v is not None and v.notes else None


def _within(got: float, want: float) -> bool:
    return abs(got / want - 1) <= TEMPO_TOLERANCE


def measure(engine, heldout: dict, seeds, limit: int | None = None, seconds: float = SECONDS) -> dict:
    """Rates and per-caption detail for every check."""
    from analysis.score_model.melody_stats import median_of, melody_stats

    detail = {k: [] for k in ("instrument", "tempo_stated", "tempo_set", "tempo_words", "drums", "sustain")}
    melody = []  # per clip of an ordinary (not sustain) caption
    for item in heldout["instrument"][:limit]:
        scores = decode_scores(engine, item["text"], seeds, seconds)
        fams = [melody_family(s) for s in scores]
        detail["instrument"].append({"text": item["text"], "want": item["family"], "got": fams,
                                     "hits": sum(f == item["family"] for f in fams)})
        melody += [{**melody_stats(s), "sustain": asks_for_sustain(item["text"])} for s in scores]
    for item in heldout["tempo"][:limit]:
        bpms = [round(s.bpm, 2) for s in decode_scores(engine, item["text"], seeds, seconds)]
        detail["tempo_stated"].append({"text": item["text"], "want": item["bpm"], "got": bpms,
                                       "hits": sum(_within(b, item["bpm"]) for b in bpms)})
    for i, bpm in enumerate(SET_BPMS):
        item = heldout["instrument"][i % len(heldout["instrument"])]
        got = [round(s.bpm, 2) for s in decode_scores(engine, item["text"], seeds, seconds, bpm=bpm)]
        detail["tempo_set"].append({"text": item["text"], "want": bpm, "got": got,
                                    "hits": sum(_within(b, bpm) for b in got)})
    for item in heldout.get("tempo_words", [])[:limit]:
        word = [s.bpm for s in decode_scores(engine, item["text"], seeds, seconds)]
        base = [s.bpm for s in decode_scores(engine, item["base"], seeds, seconds)]
        sign = 1 if item["direction"] == "up" else -1
        detail["tempo_words"].append({"text": item["text"], "want": item["direction"], "got": [round(b, 1) for b in word],
                                      "base": [round(b, 1) for b in base],
                                      "hits": sum(sign * (w - b) > 0 for w, b in zip(word, base))})
    drum_items = heldout["drums"]
    if limit:
        drum_items = [d for d in drum_items if d["drums"]][:limit] + [d for d in drum_items if not d["drums"]][:limit]
    for item in drum_items:
        scores = decode_scores(engine, item["text"], seeds, seconds)
        got = [bool(s.drums) for s in scores]
        detail["drums"].append({"text": item["text"], "want": item["drums"], "got": got,
                                "hits": sum(g == item["drums"] for g in got)})
        melody += [{**melody_stats(s), "sustain": asks_for_sustain(item["text"])} for s in scores]
    for item in heldout.get("sustain", [])[:limit]:
        stats = [melody_stats(s) for s in decode_scores(engine, item["text"], seeds, seconds)]
        detail["sustain"].append({"text": item["text"], "notes": [m["notes"] for m in stats],
                                  "mean_length": median_of(m["mean_length"] for m in stats)})
    n = len(seeds)

    def rate(rows):
        return sum(r["hits"] for r in rows) / max(1, n * len(rows))

    ordinary = [m for m in melody if not m["sustain"]]
    rates = {"stepwise": median_of(m["stepwise"] for m in melody),
             "in_key": median_of(m["in_key"] for m in melody),
             "short_clips": sum(m["notes"] < 4 for m in ordinary) / max(1, len(ordinary)),
             "instrument": rate(detail["instrument"]), "tempo_stated": rate(detail["tempo_stated"]),
             "tempo_set": rate(detail["tempo_set"]), "tempo_words": rate(detail["tempo_words"]),
             "drums_with": rate([r for r in detail["drums"] if r["want"]]),
             "drums_without": rate([r for r in detail["drums"] if not r["want"]])}
    sustain = {"held_note_beats": median_of(r["mean_length"] for r in detail["sustain"]),
               "other_note_beats": median_of(m["mean_length"] for m in ordinary)}
    return {"rates": rates, "detail": detail, "sustain": sustain, "melody_clips": len(melody), "ordinary_clips": len(ordinary), "seeds": list(seeds)}


def reference(seconds: float = SECONDS, spec: str = REFERENCE_MUSIC21, progress: bool = True) -> dict:
    """The melody figures on the music21 tunes of `spec` (files not parsed yet are parsed once and cached:
    about a minute on a fresh machine)."""
    from analysis.score_model.corpus import parse_music21
    from analysis.score_model.melody_stats import music21_reference
    from analysis.score_model.music21_source import load_source

    from score_words_quality import motion_of_tunes

    tunes = [t for src, files in parse_music21(spec) for t in load_source(src, files, progress=progress)]
    ref = music21_reference(tunes, seconds)
    for source, figures in motion_of_tunes(tunes).items():
        ref[source]["motion"] = figures
    return ref


SWEEPS = (  # (name, prompt at weight 0, prompt at weight 1, what to read off the score)
    ("tempo", "a slow calm piano piece", "a fast energetic piano piece", "bpm"),
    ("drums", "solo flute, no drums", "flute with drums", "drums"),
    ("register", "a low deep cello melody", "a high bright flute melody", "mean_pitch"),
)


def _reading(score, what: str) -> float:
    if what == "bpm":
        return score.bpm
    if what == "drums":
        return float(bool(score.drums))
    v = score.voice("melody")
    return sum(n.pitch for n in v.notes) / len(v.notes) if v is not None and v.notes else float("nan")


def mix_sweep(engine, a: str, b: str, what: str, seeds, points: int = 5, seconds: float = 5.0) -> list[float]:
    """Mean reading over seeds as the prompt mix moves from `a` to `b` in embedding mode: a model whose
    score depends smoothly on the text direction moves steadily, one that keys on exact words jumps."""
    import math

    from synth.denoise import denoise
    from synth.state import PromptSlot, SynthState

    out = []
    for i in range(points):
        w = i / (points - 1)
        state = engine.resolve(SynthState(prompts=[PromptSlot(a, 1 - w), PromptSlot(b, w)], mix_mode="embedding",
                                          duration=seconds, seed=0))
        conds = [engine.conditioning(state)] * len(seeds)
        family = engine.family.for_batch(conds)
        latents = denoise(family, conds, list(seeds), seconds, state.steps, state.cfg, output="latent")
        vals = [_reading(s, what) for s in family.scores(latents, seconds)]
        vals = [v for v in vals if not math.isnan(v)]
        out.append(sum(vals) / len(vals) if vals else float("nan"))
    return out


def words_and_motion(engine, result: dict, heldout: dict, args) -> None:
    """The paraphrase set's attributes beside the held-out captions', and melodic motion beside music21."""
    import score_words_quality as W

    seeds = range(args.seeds)
    t0 = time.perf_counter()
    data = W.load(args.paraphrases or W.PARAPHRASES)
    words = W.measure(engine, lambda e, text, s: decode_scores(e, text, s), data, seeds)
    result["paraphrases"] = words
    r = result["rates"]
    beside = {"instrument": f"{r['instrument']:.3f} (family)", "drums": f"{min(r['drums_with'], r['drums_without']):.3f} (min)",
              "tempo": f"{r['tempo_words']:.3f} (pairs)"}
    print(f"paraphrase set ({len(data['paraphrases'])} captions in a musician's words, {args.seeds} seeds, "
          f"{time.perf_counter() - t0:.0f} s): attribute right, beside the held-out captions where labelled")
    print(f"{'attribute':<13} {'value':>7} {'target':>7}  {'pairs':>5}        {'held-out':>16}")
    for key, bar in W.TARGETS.items():
        value = words["rates"][key]
        ok = value is not None and value >= bar - 1e-12
        shown = f"{value:.3f}" if value is not None else "  -  "
        print(f"{key:<13} {shown:>7} >={bar:>5.2f}  {words['pairs'][key]:>5}  {'ok' if ok else 'MISSED':<6} {beside.get(key, '-'):>16}")
    n = words["neutral"]
    print(f"  (directions against the unlabelled captions' medians: {n['tempo']:.1f} bpm, velocity {n['dynamics']:.1f}, "
          f"melody pitch {n['register']:.1f})")
    t0 = time.perf_counter()
    texts = [i["text"] for i in heldout["instrument"] + heldout["drums"] if not asks_for_sustain(i["text"])]
    moving = W.motion_of_clips(engine, texts, seeds, window_scores)
    held = W.motion_of_clips(engine, [i["text"] for i in heldout.get("sustain", [])], seeds, window_scores)
    result["motion"] = {"clips": moving, "held_captions": held}
    ref = result["music21"]
    names = sorted(ref)
    print(f"melodic motion, the melody's first 12 beats ({moving['clips']} clips of held-out captions; "
          f"{time.perf_counter() - t0:.0f} s), beside music21's tunes in every whole 12-beat window:")
    print(f"{'figure':<10} {'value':>7} {'target':>8}        " + "  ".join(f"{x:>13}" for x in names) + "   held-note captions")
    for key, (op, bar) in W.MOTION_TARGETS.items():
        refs = "  ".join(f"{ref[x]['motion'][key]:>13.3f}" for x in names)
        ok = "ok" if W.motion_ok(key, moving[key]) else "MISSED"
        print(f"{key:<10} {moving[key]:>7.3f} {op}{bar:>6}  {ok:<6} {refs}   {held[key]:.3f}")
    print("music21 windows: " + ", ".join(f"{x} {ref[x]['motion']['windows']}" for x in names))
    if args.verbose:
        for key, texts_missed in words["misses"].items():
            for text in texts_missed:
                print(f"  missed {key:<12} {text}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-id", default=None, help="score model folder (default: the shipped one)")
    ap.add_argument("--seeds", type=int, default=5, help="seeds per caption (default 5)")
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (default: the backend's)")
    ap.add_argument("--cfg", type=float, default=None, help="guidance scale (default: the backend's)")
    ap.add_argument("--heldout", default=str(HELDOUT), help="held-out caption YAML")
    ap.add_argument("--paraphrases", default=None, help="paraphrase caption YAML (default: the fixture)")
    ap.add_argument("--json", metavar="PATH", help="also write rates and per-caption detail as JSON")
    ap.add_argument("--verbose", action="store_true", help="print every caption's outcome")
    ap.add_argument("--contrast-n", type=int, default=100,
                    help="seeds per pole for the audio contrasts (default 100; 0 skips them)")
    ap.add_argument("--sweeps", action="store_true",
                    help="also sweep embedding-mode prompt mixes (tempo, drums, register) in 5 steps")
    args = ap.parse_args(argv)

    from dataclasses import replace

    from synth.config import SynthConfig
    from synth.engine import build_engine

    engine = build_engine(SynthConfig(backend="score", model_id=args.model_id, device="cpu"))
    if args.steps or args.cfg:
        engine.defaults = replace(engine.defaults, **{k: v for k, v in (("steps", args.steps), ("cfg", args.cfg)) if v})
    t0 = time.perf_counter()
    result = measure(engine, load_heldout(args.heldout), range(args.seeds))
    elapsed = time.perf_counter() - t0
    ref = reference()
    result["music21"] = ref
    d = engine.defaults
    print(f"score model {engine.model_id}: {args.seeds} seeds per held-out caption, {SECONDS:g} s clips, "
          f"{d.steps} steps, cfg {d.cfg:g} ({elapsed:.0f} s)")
    ref_names = sorted(ref)
    print(f"{'check':<15} {'value':>7} {'target':>7}  {'pairs':>5}        " + "  ".join(f"{r:>13}" for r in ref_names))
    ref_key = {"stepwise": "stepwise_median", "in_key": "in_key_median", "short_clips": "short_clip_share"}
    for key, value in result["rates"].items():
        if key in ref_key:
            pairs = result["ordinary_clips" if key == "short_clips" else "melody_clips"]
        else:
            rows = result["detail"]["drums" if key.startswith("drums") else key]
            if key.startswith("drums"):
                rows = [r for r in rows if r["want"] == (key == "drums_with")]
            pairs = len(rows) * args.seeds
        ok = (value < TARGETS[key]) if key in UNDER else (value >= TARGETS[key] - 1e-12)
        refs = "  ".join(f"{ref[r][ref_key[key]]:>13.3f}" for r in ref_names) if key in ref_key else ""
        sign = "< " if key in UNDER else ">="
        print(f"{key:<15} {value:>7.3f} {sign}{TARGETS[key]:>5.2f}  {pairs:>5}  {'ok' if ok else 'MISSED':<6} {refs}")
    s_ = result["sustain"]
    held_ok = (s_["held_note_beats"] or 0) >= SUSTAIN_BEATS
    print(f"sustain: median melody note {s_['held_note_beats'] or 0:.2f} beats for held-note captions "
          f"(target >= {SUSTAIN_BEATS:g}: {'ok' if held_ok else 'MISSED'}), {s_['other_note_beats'] or 0:.2f} for the others")
    print("music21 reference tunes: " + ", ".join(f"{r} {ref[r]['tunes']}" for r in ref_names))
    words_and_motion(engine, result, load_heldout(args.heldout), args)
    from score_release_figures import audio_contrasts, model_figures, print_figures, render_speed, sae_figures
    from synth.families.score import SAE_DIR

    if args.contrast_n and args.contrast_n < 2:
        ap.error("--contrast-n must be 0 (skip) or at least 2")
    result["contrasts"] = audio_contrasts(args.contrast_n, args.model_id) if args.contrast_n else []
    result["sae"] = sae_figures(SAE_DIR)
    result["speed_s"] = render_speed(engine)
    result["model"] = model_figures(engine.model_id)
    print_figures(result["contrasts"], result["sae"], result["speed_s"], result["model"])
    if args.verbose:
        for key, rows in result["detail"].items():
            for r in rows:
                print(f"  {key:<12} {r.get('hits', '-')}/{args.seeds}  want {r.get('want')!s:<6} got {r.get('got', r.get('notes'))}"
                      f"  {r['text']}")
    if args.sweeps:
        result["sweeps"] = {}
        print("embedding-mode mix from prompt A (weight 0) to prompt B (weight 1), mean over seeds:")
        for name, a, b, what in SWEEPS:
            values = mix_sweep(engine, a, b, what, range(args.seeds))
            result["sweeps"][name] = values
            print(f"  {name:<9} {what:<10} " + "  ".join(f"{v:7.2f}" for v in values) + f"   ({a!r} -> {b!r})")
    if args.json:
        from synth.atomic_io import atomic_write_text

        atomic_write_text(args.json, json.dumps({**result, "steps": d.steps, "cfg": d.cfg}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
