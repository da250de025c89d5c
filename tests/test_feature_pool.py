"""The feature pool's first run: librosa's kernels compiled against an empty numba cache, several times,
never crash it; and a worker process that dies is named, and the rest are still measured."""
import os
import subprocess
import sys
from pathlib import Path

from analysis.steering import acoustic_features
from analysis.steering.acoustic_features import FileResult, extract_files

REPO = Path(__file__).resolve().parents[1]


def _dies_on_bad(path: str) -> FileResult:
    if path.endswith("bad.wav"):
        os._exit(1)   # as a segfault in native code would: no exception, the process is gone
    return FileResult(path, {"onset_density": 1.0})


def test_a_dead_worker_names_its_file_and_the_rest_are_measured(monkeypatch, capfd):
    monkeypatch.setattr(acoustic_features, "_file_worker", _dies_on_bad)
    paths = [f"/clips/ok{i}.wav" for i in range(6)] + ["/clips/bad.wav", "/clips/ok6.wav"]
    results = extract_files(paths, jobs=2)
    assert [r.path for r in results] == paths
    assert [r.path for r in results if r.features is None] == ["/clips/bad.wav"]
    bad = results[paths.index("/clips/bad.wav")]
    assert bad.error == "/clips/bad.wav: skipped, the feature worker process died while measuring it"
    assert "a feature worker process died" in capfd.readouterr().err


def test_compare_on_an_empty_numba_cache():
    # a fresh NUMBA_CACHE_DIR: cold, as on a user's first run, without touching the installed cache (.ci/run
    # repeats this three times on the installed wheel)
    proc = subprocess.run([sys.executable, str(REPO / ".ci" / "cold_cache_check.py"), "--runs", "1", "--files", "12",
                           sys.executable, "-m", "bridge.cli"],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=1500)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(": ok in ") == 1, proc.stdout
