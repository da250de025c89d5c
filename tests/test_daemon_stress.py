"""The real daemon (a subprocess, tiny backend) under a flood, kill -9, two controllers and corrupt
files. (A full disk: tests/test_daemon_failures.py through the daemon, tests/test_atomic_io.py on a
real tmpfs; bench/stress.py runs the daemon on a full tmpfs.) The scenarios are bench/stress.py's, run shorter; each test asserts
what its scenario must show, and the scenario's report is the failure message."""
import json

import pytest

from bench_modules import bench_module
from bridge.testing.osc_daemon import Daemon, missing_jack_tools

stress = bench_module("stress")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("shared"))
    yield d
    d.kill()


@pytest.mark.peers
def test_flood_through_osc_and_jack_midi_keeps_memory_flat_and_the_last_value(tmp_path):
    midi = not missing_jack_tools()  # without JACK the OSC half still runs
    result = stress.scenario_flood(tmp_path, seconds=2.5, rate=1000.0, midi=midi)
    assert result.ok, result.report()
    f = result.figures
    assert f["osc_messages_sent"] == 2500 and f.get("midi_messages_sent") == (2500 if midi else None)
    assert f["rss_peak_growth_mb"] < stress.RSS_BUDGET_MB and f["max_queue_depth_seen"] == 1
    assert f["pending_renders_cancelled"] > 0   # the flood really coalesced
    previews, finals = map(int, f["previews / finals announced"].split(" / "))
    assert previews > 0 and finals >= 2          # the warm-up's final and the one after the flood


def test_kill_9_mid_write_leaves_no_partial_clip_keeps_the_preset_and_restart_cleans_up(tmp_path):
    result = stress.scenario_kill(tmp_path)
    assert result.ok, result.report()
    left = result.figures["temp files left by kill -9"].split(", ")
    assert any(n.startswith(".music_") and ".wav." in n for n in left) and any(n.startswith(".keep.yaml.") for n in left)


def test_two_controllers_get_their_own_replies_and_do_not_block_each_other(daemon):
    result = stress.scenario_controllers(daemon, seconds=1.5, rate=1000.0)
    assert result.ok, result.report()
    assert result.figures["B: pings answered during A's flood"] > 10


def test_corrupt_presets_and_midi_maps_are_one_line_errors(daemon, tmp_path):
    result = stress.scenario_corrupt(daemon, tmp_path)
    assert result.ok, result.report()
    assert "cut short" in result.figures["preset truncated: /synth/error"]
    assert "line 3, column 1" in result.figures["preset broken: /synth/error"]


def test_status_reports_what_is_loaded_the_queue_renders_and_memory(daemon):
    result = stress.scenario_status(daemon)
    assert result.ok, result.report()
    status = json.loads(result.figures["/synth/status"])
    assert set(stress.STATUS_KEYS) <= set(status) and status["sae_id"].startswith("random-sae")
