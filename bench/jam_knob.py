"""Knob to ear in jam mode, for bench/jam.py --quantize: the player on the real engine, playing in real time
into an in-memory output (bridge.testing.memory_output), with slider moves sent through the controller
(the command bus every transport uses). A change is heard at the first output frame whose audio was made
from that state or a newer one (the player's `heard` log: phrase starts and beat splices). The splices
are judged as heard: the spectral flux across each against inside the phrases, and how often the
melody moves by a step there against at the phrase boundaries of the same run."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

SLIDER = "/synth/cfg"   # every backend has it; each value sent is new, and far enough from the last to be heard


def heard_after(heard: list[tuple[int, int]], frame: int, version: int) -> int | None:
    """The first output frame at or after `frame` sounding a state of `version` or newer."""
    return next((f for f, v in heard if v >= version and f >= frame), None)


def melody(score) -> list[tuple[float, int]]:
    """(start in seconds, pitch) of a score's melody notes."""
    v = score.voice("melody") if score is not None else None
    return [(n.start * score.seconds_per_beat, n.pitch) for n in v.notes] if v else []


def median(xs) -> float:
    return float(np.median(xs)) if len(xs) else float("nan")


def same_beat_flux(jam) -> dict:
    """Wraps the player's re-render: for each splice, the spectral flux at its beat in the phrase as it was
    (the music it replaces, at the very same beat) and as spliced. -> {id(spliced phrase): (before, after)}."""
    from analysis.jam.measures import flux_across

    seen, real = {}, jam.renderer.rerender

    def rerender(phrase, state, at, cancel=None):
        new = real(phrase, state, at, cancel=cancel)
        before, after = flux_across(phrase.audio.mean(axis=0), [at]), flux_across(new.audio.mean(axis=0), [at])
        if before and after:
            seen[id(new)] = (before[0], after[0])
        return new

    jam.renderer.rerender = rerender
    return seen


def joins(jam, out, folder: Path, bpm: float, same_beat: dict) -> dict:
    """Flux and melody steps at the splices heard and at the phrase starts; the flux against that across
    the other beats (inside the phrases: the music's own onsets fall on beats too), and against the same
    beat of the phrase the splice replaced (`same_beat_flux`)."""
    from analysis.jam.measures import STEP, flux_across, melody_around, step_share
    from synth.jam import FADE
    from synth.score.midi_read import midi_to_score

    mono = out.recording().mean(axis=0)
    starts = sorted({f for f, _ in jam.heard} - {s + at - FADE for s, at, _ in jam.spliced})
    splices = [(s + at, at / out.sample_rate, p) for s, at, p in jam.spliced if at]   # at 0: a phrase start
    edges = np.array(sorted(starts + [f for f, _, _ in splices]))
    beat = 60.0 / bpm * out.sample_rate
    beats = [int(round(starts[0] + k * beat)) for k in range(int((len(mono) - starts[0]) / beat))]
    inside = median(flux_across(mono, [b for b in beats if np.abs(edges - b).min() > beat / 2]))
    moves = [m for _, at_s, p in splices if (m := melody_around(melody(p.score), at_s))]
    loops = sorted(folder.glob("*.mid"), key=lambda m: int(m.stem.rsplit("_", 1)[1]))   # phrase order
    share, n = step_share([[pitch for _, pitch in sorted(melody(midi_to_score(m.read_bytes())))] for m in loops])
    pairs = [same_beat[id(p)] for _, _, p in splices if id(p) in same_beat]
    return {"splice_flux_ratio": median(flux_across(mono, [f for f, _, _ in splices])) / inside,
            "same_beat_flux_ratio": median([a for _, a in pairs]) / median([b for b, _ in pairs]),
            "same_beat_splices": len(pairs),
            "phrase_flux_ratio": median(flux_across(mono, starts)) / inside,
            "splice_step_share": sum(abs(b - a) <= STEP for a, b in moves) / len(moves) if moves else float("nan"),
            "splice_steps_counted": len(moves), "phrase_step_share": share, "phrase_joins": n}


def knob_run(engine, quantize: str, bpm: float, bars: int, minutes: float, rng, sweep_s: float = 3.0,
             sweep_rate: float = 20.0) -> dict:
    from bridge.controller import Controller
    from bridge.events import Events
    from bridge.jam.player import JamPlayer
    from bridge.testing.memory_output import MemoryOutput
    from synth.presets import PresetStore
    from synth.state import PromptSlot, SynthState

    sr = engine.family.sample_rate
    out = MemoryOutput(sr)
    events = Events()
    state = SynthState(prompts=[PromptSlot("warm electric piano groove", 1.0)], bpm=bpm)
    with tempfile.TemporaryDirectory(prefix="jam-knob-") as tmp:
        jam = JamPlayer(engine, state, events, Path(tmp), open_output_fn=lambda name: out)
        same_beat = same_beat_flux(jam)
        ctl = Controller(state, render=lambda job: None, presets=PresetStore(Path(tmp) / "presets"), events=events,
                         jam=jam)
        k = 0

        def move() -> tuple[int, int]:
            nonlocal k
            k += 1
            ctl.handle(SLIDER, [round(2.0 + k % 2 + 0.001 * k, 3)])
            return out.played, jam.state_version   # the frame sounding as the change arrives

        try:
            for address, args in (("/synth/jam/bars", [bars]), ("/synth/jam/quantize", [quantize]),
                                  ("/synth/jam/start", [])):
                assert ctl.handle(address, args) == (), (address, args)
            while jam.seq.phrases < 2:          # past the first renders, as a player would be
                time.sleep(0.05)
            changes, end = [], time.monotonic() + minutes * 60
            while time.monotonic() < end:
                changes.append(move())
                time.sleep(rng.uniform(0.6, 1.6))
            time.sleep(4 * 60.0 / bpm * bars + 1.0)   # the last change reaches the ear
            lat = [(f - frame) / sr for frame, v in changes
                   if (f := heard_after(list(jam.heard), frame, v)) is not None]
            # the sweep: a knob moved 20 times a second
            renders0, repeats0, heard0, cancelled0 = (jam.renders_started, jam.seq.repeats, len(jam.heard),
                                                      jam.splices_cancelled)
            sweep_start, sweep = out.played, []
            t_end = time.monotonic() + sweep_s
            while time.monotonic() < t_end:
                sweep.append(move())
                time.sleep(1.0 / sweep_rate)
            sweep_end = out.played
            time.sleep(4 * 60.0 / bpm * bars + 1.0)
            # boundaries (phrase starts, splices) heard from the sweep's start to a second after it
            during = [h for h in list(jam.heard)[heard0:] if sweep_start <= h[0] <= sweep_end + sr]
            followed = sum(v > prev for (_, v), prev in zip(during, [sweep[0][1] - 1] + [v for _, v in during]))
            rec = np.abs(out.recording()[:, sweep_start:sweep_end + sr]).max(axis=0)
            tenth = sr // 10
            silent = int((rec[:len(rec) // tenth * tenth].reshape(-1, tenth) < 1e-6).all(axis=1).sum())
            return {"quantize": quantize, "changes": len(changes), "latency_s": lat, **joins(jam, out, Path(tmp), bpm, same_beat),
                    "sweep_messages": len(sweep), "sweep_renders": jam.renders_started - renders0,
                    "sweep_cancelled": jam.splices_cancelled - cancelled0, "splices_cancelled": jam.splices_cancelled,
                    "sweep_boundaries": len(during), "sweep_followed": followed,
                    "sweep_repeats": jam.seq.repeats - repeats0, "sweep_silent_tenths": silent,
                    "repeats": jam.seq.repeats, "splices": jam.splices, "splices_late": jam.splices_late,
                    "underruns": out.underruns}
        finally:
            jam.close()
