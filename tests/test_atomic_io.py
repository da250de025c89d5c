"""Atomic writes: a failed write keeps the old file whole and leaves no temp file behind."""
import os

import pytest

from synth.atomic_io import atomic_path, atomic_write_text


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
