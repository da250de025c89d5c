"""Renders that fail (an exception, CUDA out of memory simulated on the CPU, NaN audio, a full disk)
and preview-then-refine, through the daemon's own classes in this process, over real UDP, around
the tiny engine. The scenarios are bench/stress.py's; the tests assert what each must show."""
import json
from pathlib import Path

import pytest
import soundfile as sf

from bridge.clip_renderer import PREVIEW_DIR, prune_previews
from bench_modules import bench_module

stress = bench_module("stress")


@pytest.fixture(scope="module")
def engine():
    return stress.tiny_engine()


def test_failing_renders_say_why_and_what_to_try_and_the_next_render_works(engine, tmp_path):
    result = stress.scenario_failures(tmp_path, engine)
    assert result.ok, result.report()
    f = result.figures
    assert f["error: /synth/error"].startswith("final render failed: RuntimeError: simulated failure")
    assert "out of memory (CUDA out of memory. Tried to allocate 20.00 GiB" in f["oom: /synth/error"]
    assert "cpu_offload" in f["oom: /synth/error"] and f["oom: engine.release_memory() calls"] == 1
    assert "NaN" in f["nan: /synth/error"] and "no clip was written" in f["nan: /synth/error"]
    assert [f[f"{how}: files left by the failed render"] for how in ("error", "oom", "nan")] == [0, 0, 0]


def test_a_full_disk_fails_the_clip_and_the_preset_cleanly_and_it_keeps_serving(engine, tmp_path):
    result = stress.scenario_disk_full(tmp_path, engine, mode="simulated")
    assert result.ok, result.report()
    assert "cannot write the clip into" in result.figures["clip write: /synth/error"]
    assert "free some space" in result.figures["preset save: /synth/error"]


def rendered(client, timeout=60):
    path, seed, seconds, kind = client.expect("/synth/rendered", timeout)
    side = json.loads(Path(path).with_suffix(".json").read_text())
    return Path(path), kind, side


def test_auto_render_previews_while_moving_then_the_final_lands(engine, tmp_path):
    with stress.in_process_daemon(engine, tmp_path) as (core, client):
        core.controller.refine_after = 0.4
        client.send("/synth/steps", 20)
        client.send("/synth/auto", 1)
        for i in range(10):
            client.send("/synth/cfg", 3.0 + i / 10)
        path, kind, side = rendered(client)
        assert kind == "preview" and path.parent.name == PREVIEW_DIR and path.is_file()
        assert side["state"]["steps"] == engine.preview_steps and side["kind"] == "preview"
        while kind == "preview":  # previews of newer positions may follow; then the refine
            path, kind, side = rendered(client)
        assert kind == "final" and path.parent == core.renderer.out_dir
        assert side["state"]["steps"] == 20 and side["state"]["cfg"] == pytest.approx(3.9)
        assert sf.info(str(path)).frames == side["frames"]
        assert client.drain(0.8) == []  # nothing else: stale work was cancelled

        client.send("/synth/preview/steps", 0)   # previews off: one debounced final per pause
        client.send("/synth/cfg", 5.0)
        path, kind, side = rendered(client)
        assert kind == "final" and side["state"]["cfg"] == 5.0
        client.send("/synth/preview/steps", -1)
        assert "outside" in client.expect("/synth/error")[1]
        client.send("/synth/status")
        status = json.loads(client.expect("/synth/status")[0])
        assert status["preview_steps"] == 0 and status["auto"] is True and status["refine_after"] == 0.4


def test_only_the_newest_previews_are_kept(tmp_path):
    for i in range(5):
        (tmp_path / f"p{i}.wav").write_bytes(b"x")
        (tmp_path / f"p{i}.json").write_text("{}")
        t = 1_000_000 + i
        import os

        os.utime(tmp_path / f"p{i}.wav", (t, t))
    prune_previews(tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p3.json", "p3.wav", "p4.json", "p4.wav"]
