"""Atomic writes: a failed write keeps the old file whole and leaves no temp file behind."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synth.atomic_io import atomic_path, atomic_write_text, remove_stale_temps


def test_write_replaces_and_leaves_only_the_target(tmp_path):
    target = tmp_path / "sub" / "preset.yaml"
    atomic_write_text(target, "a: 1\n")
    atomic_write_text(target, "a: 2\n")
    assert target.read_text() == "a: 2\n"
    assert [p.name for p in target.parent.iterdir()] == ["preset.yaml"]


def test_failure_keeps_old_content_and_removes_temp(tmp_path):
    target = tmp_path / "clip.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.json"]


def test_files_get_ordinary_permissions(tmp_path):
    target = tmp_path / "x.txt"
    atomic_write_text(target, "x")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_temp_files_are_dot_files_naming_their_writer(tmp_path, monkeypatch):
    import synth.atomic_io as atomic_io

    seen = []
    real = atomic_io.write_durably
    monkeypatch.setattr(atomic_io, "write_durably", lambda path, data, final=None: (seen.append(Path(path).name),
                                                                                   real(path, data, final)))
    atomic_write_text(tmp_path / "p.yaml", "x")
    (name,) = seen
    assert name.startswith(".p.yaml.") and name.endswith(".tmp") and f".{os.getpid()}-" in name


def test_stale_temps_of_dead_writers_are_removed_and_nothing_else(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".clip.wav.{dead.pid}-0123abcd.tmp"
    live = tmp_path / f".clip.wav.{os.getpid()}-4567ef.tmp"
    keep = [tmp_path / "clip.wav", tmp_path / ".hidden", tmp_path / f"clip.wav.{dead.pid}-1.tmp", live]
    for p in (stale, *keep):
        p.write_text("x")
    assert remove_stale_temps(tmp_path) == [stale]
    assert sorted(tmp_path.iterdir()) == sorted(keep)
    assert remove_stale_temps(tmp_path / "missing") == []


def test_a_real_full_disk_fails_clips_and_presets_cleanly(tmp_path):
    """ENOSPC from the kernel on a tiny tmpfs: OSError(ENOSPC), nothing partial, the old preset kept."""
    import errno

    import numpy as np

    from bench_modules import bench_module
    from synth.clip_writer import write_clip
    from synth.presets import Preset, PresetStore
    from synth.state import SynthState

    stress = bench_module("stress")
    disk = tmp_path / "disk"
    if not stress.mount_tmpfs(disk, "256k"):
        pytest.skip("cannot mount a tmpfs here (needs root); test_daemon_failures simulates ENOSPC instead")
    try:
        store = PresetStore(disk / "presets")
        store.save(Preset("keep", SynthState(cfg=3.0)))
        earlier = store.path("keep").read_text()
        stress.fill(disk)
        audio = np.zeros((2, 44100), np.float32)  # 353 KB as float WAV
        with pytest.raises(OSError) as clip_err:
            write_clip(disk / "clips", audio, 44100, SynthState(), {})
        with pytest.raises(OSError) as preset_err:
            store.save(Preset("keep", SynthState(cfg=9.0)))
        assert clip_err.value.errno == errno.ENOSPC and preset_err.value.errno == errno.ENOSPC
        assert list((disk / "clips").iterdir()) == []
        assert [p.name for p in (disk / "presets").iterdir()] == ["keep.yaml"]
        assert store.path("keep").read_text() == earlier
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=20)
