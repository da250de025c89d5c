"""Benchmark: how far a reader walks through the code for two everyday paths, counted by a tracer.

    python bench/walks.py

Walk A: a slider move in jam mode, `/synth/feature/N f` into `Controller.handle`, then the jam
renderer's one phrase (the state read, the render, the phrase handed to the sequencer, its loop file
written). Walk B: `latent-synth render` (the render command's `run`) to the WAV, without the model
load (`build_engine`'s subtree). Both on the `score` backend.

Counted the same way every time, from the Python call events whose code lives in `bridge/` or
`synth/` (generated code, lambdas and comprehensions left out): `files` the distinct files,
`functions` the distinct functions, `hops` the distinct caller -> callee pairs, `file hops` those that
cross into another file; `core` the same counts without the model's own internals (synth/score/,
synth/families/), which this path only passes through. `stages` counts the work a phrase should do once: state checks
(`SynthState.validate`), resolves (`with_defaults`), conditionings built, text-head batches bound
(`for_batch`), score decodes (`curves_to_score`) and MIDI encodes (`score_to_midi`).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run from a checkout without installing

ROOTS = (str(REPO / "bridge") + "/", str(REPO / "synth") + "/")
STAGES = ("validate", "with_defaults", "build_conditioning", "for_batch", "curves_to_score", "score_to_midi")
SKIP = ("build_engine",)   # model loading is not the walk
INTERNALS = ("synth/score/", "synth/families/")


class Walk:
    """Project call events under one root call (on every thread), minus SKIP subtrees."""

    def __init__(self):
        self.functions: set[tuple[str, str]] = set()
        self.edges: set[tuple[tuple[str, str], tuple[str, str]]] = set()
        self.stages: Counter = Counter()

    @staticmethod
    def _key(code):
        name = code.co_filename
        if not name.startswith(ROOTS) or code.co_name.startswith("<"):
            return None
        return (name[len(str(REPO)) + 1:], getattr(code, "co_qualname", code.co_name))

    def _profile(self, frame, event, arg):
        if event != "call":
            return
        key = self._key(frame.f_code)
        if key is None:
            return
        caller, f = None, frame.f_back
        while f is not None and caller is None:
            caller = self._key(f.f_code)
            f = f.f_back
        f = frame
        while f is not None:
            if f.f_code.co_name in SKIP:
                return
            f = f.f_back
        self.functions.add(key)
        if frame.f_code.co_name in STAGES:
            self.stages[frame.f_code.co_name] += 1
        if caller is not None:
            self.edges.add((caller, key))

    def __enter__(self):
        sys.setprofile(self._profile)
        threading.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(None)
        threading.setprofile(None)

    def figures(self, skip: tuple[str, ...] = ()) -> dict:
        functions = {f for f in self.functions if not f[0].startswith(skip)}
        edges = {(a, b) for a, b in self.edges if a in functions and b in functions}
        files = {f for f, _ in functions}
        out = {"files": len(files), "functions": len(functions), "hops": len(edges),
               "file_hops": sum(1 for a, b in edges if a[0] != b[0]), "file_list": sorted(files)}
        if not skip:
            out["stages"] = {s: self.stages[s] for s in STAGES}
            out["core"] = {k: v for k, v in self.figures(INTERNALS).items() if k != "file_list"}
        return out


def merge(a: Walk, b: Walk) -> Walk:
    w = Walk()
    w.functions, w.edges, w.stages = a.functions | b.functions, a.edges | b.edges, a.stages + b.stages
    return w


class JamRig:
    """The daemon's objects, wired as `serve` wires them, with a silent output; one phrase at a time."""

    def __init__(self, tmp: Path):
        import types

        from bridge.daemon import Daemon
        from bridge.jam.sequencer import InternalGrid, JamSequencer
        from synth.config import SynthConfig
        from synth.engine import build_engine

        config = SynthConfig(backend="score", device="cpu")
        self.daemon = Daemon(build_engine(config), config, tmp / "clips", tmp / "presets", port=0)
        self.controller = self.daemon.controller
        self.out = tmp / "clips"
        player = self.daemon.jam
        player.output = types.SimpleNamespace(sample_rate=48000, period=256, played=0)
        player.seq = JamSequencer(InternalGrid(48000, 120.0))
        player._active = True
        self.player = player

    def render_phrase(self) -> Path:
        self.player._render_one()
        return max(self.out.glob("*.wav"), key=lambda p: p.stat().st_mtime_ns)

    def close(self):
        self.player._active = False
        self.daemon.server.close()


def walk_jam(tmp: Path) -> dict:
    rig = JamRig(tmp)
    rig.render_phrase()               # warm: the first phrase loads lazily imported modules
    with Walk() as slider:
        replies = rig.controller.handle("/synth/feature/3", [1.0])
    assert not replies, replies
    with Walk() as phrase:
        path = rig.render_phrase()
    assert path.exists(), path
    rig.close()
    out = merge(slider, phrase).figures()
    out["phrase_stages"] = phrase.figures()["stages"]
    return out


def walk_render(tmp: Path) -> dict:
    from bridge.cli import build_parser

    argv = ["render", "--backend", "score", "--prompt", "piano", "--bpm", "120", "--bars", "1", "--steps", "4",
            "--out", str(tmp / "clips")]
    args = build_parser().parse_args(argv)
    args.func(args)                  # warm: lazy imports
    with Walk() as w:
        args.func(args)
    return w.figures()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--files", action="store_true", help="list the files each walk crosses")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        result = {"jam": walk_jam(Path(d)), "render": walk_render(Path(d))}
    for name, r in result.items():
        c = r["core"]
        print(f"walk {name}: {r['files']} files, {r['functions']} functions, {r['hops']} hops "
              f"({r['file_hops']} across files); core: {c['files']} files, {c['functions']} functions, "
              f"{c['hops']} hops ({c['file_hops']} across files); stages {json.dumps(r['stages'])}")
        if "phrase_stages" in r:
            print(f"  per phrase: {json.dumps(r['phrase_stages'])}")
        if args.files:
            print("  " + "\n  ".join(r["file_list"]))
    print(f"walks: measured in {time.perf_counter() - t:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
