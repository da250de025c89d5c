"""The compiled denoiser (`compile: true`, `--compile`) renders what the eager one does.

On a GPU the engine compiles with inductor and CUDA graphs ("reduce-overhead"). Inductor's first
compile takes minutes on this 2-core CPU, so CI traces the same graph through dynamo and AOTAutograd
("aot_eager") and checks the samples; inductor itself was checked by hand (see docs/engine.md)."""
import dataclasses

import numpy as np
import torch
import pytest

from synth.config import SynthConfig
from synth.engine import build_engine
from synth.state import PromptSlot, SynthState

STATE = SynthState(prompts=[PromptSlot("warm analog pad", 1.0)], duration=1.0, steps=3)


@pytest.mark.parametrize("backend", ["tiny", "tiny-sa3"])
def test_compiled_transformer_matches_eager(backend):
    eager = build_engine(SynthConfig(backend=backend, device="cpu"))
    compiled = build_engine(SynthConfig(backend=backend, device="cpu"))
    compiled.family.compile(backend="aot_eager")
    assert type(compiled.family.pipe.transformer).__name__ == "OptimizedModule"
    for seeds in ([1, 2], [3]):  # a second shape recompiles rather than failing
        np.testing.assert_array_equal(eager.render(STATE, seeds).audio, compiled.render(STATE, seeds).audio)


def test_config_compile_compiles_the_family(monkeypatch):
    from synth.families.stable_audio_3 import StableAudio3Family

    calls = []
    monkeypatch.setattr(StableAudio3Family, "compile", lambda self, mode=None, backend="inductor": calls.append(mode))
    build_engine(SynthConfig(backend="tiny-sa3", device="cpu", compile=True))
    assert calls == [None]  # CPU: plain inductor; CUDA would ask for "reduce-overhead" (CUDA graphs)


def test_slider_moves_and_new_lengths_do_not_recompile():
    """The daemon's graphs: 20 prompt-mix and feature moves, then clip lengths not played before, reuse
    the first render's graph (dynamo's counters count every graph it builds)."""
    import torch
    from torch._dynamo.utils import counters

    engine = build_engine(SynthConfig(backend="tiny-sa3", device="cpu"))
    engine.family.compile(backend="aot_eager")
    torch._dynamo.reset()  # forget graphs other tests compiled for the same classes
    counters.clear()
    base = SynthState(prompts=[PromptSlot("warm analog pad", 1.0), PromptSlot("dark drone", 0.5)],
                      duration=1.0, steps=2)
    engine.render(base)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs == 1
    for i in range(20):  # prompt-mix and SAE feature sliders
        engine.render(dataclasses.replace(base, prompts=[PromptSlot("warm analog pad", 1.0),
                                                         PromptSlot("dark drone", (i + 1) / 20)], features={3: i / 10}))
    for seconds in (2.0, 3.3, 0.7):
        engine.render(dataclasses.replace(base, duration=seconds))
    assert counters["stats"]["unique_graphs"] == graphs and not counters["recompiles"]
    # Other batch sizes (a third prompt branch, a batch of seeds) build at most one more graph, which every
    # later batch size shares (dynamo makes the batch dimension symbolic after its first change).
    three = [PromptSlot("warm analog pad", 1.0), PromptSlot("dark drone", 0.5), PromptSlot("bright bells", 0.3)]
    engine.render(dataclasses.replace(base, prompts=three))
    engine.render(base, seeds=[1, 2, 3])
    engine.render(dataclasses.replace(base, prompts=[*three, PromptSlot("glass", 0.2)], duration=2.5))
    engine.render(base, seeds=[4, 5])
    assert counters["stats"]["unique_graphs"] <= graphs + 1


def test_serve_compiles_by_default_only_on_cuda(monkeypatch):
    import torch

    from bridge import daemon
    from synth.families import loading

    assert daemon.serve_compile(SynthConfig(backend="tiny-sa3", device="cpu")).compile is False
    assert daemon.serve_compile(SynthConfig(backend="tiny-sa3", device="cpu", compile=True)).compile is True
    monkeypatch.setattr(loading, "resolve_device", lambda device: torch.device("cuda"))
    assert daemon.serve_compile(SynthConfig(backend="tiny-sa3", device="auto")).compile is True
    assert daemon.serve_compile(SynthConfig(backend="tiny-sa3", compile=False)).compile is False


def test_a_compiled_daemon_warms_up_before_it_reports_ready(tmp_path):
    import torch
    from torch._dynamo.utils import counters

    from bridge.daemon import Daemon

    config = SynthConfig(backend="tiny-sa3", device="cpu")
    engine = build_engine(config)
    engine.family.compile(backend="aot_eager")
    torch._dynamo.reset()  # forget graphs other tests compiled for the same classes
    counters.clear()
    d = Daemon(engine, config, tmp_path / "clips", tmp_path / "presets", port=0)
    assert d.status()["ready"] is False
    try:
        d.start()
        status = d.status()
        assert status["ready"] is True and status["warmup_seconds"] > 0
        assert counters["stats"]["unique_graphs"] == 1  # the graph was built before the first note
    finally:
        d.stop(30)
