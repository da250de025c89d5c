"""Atomic file writes: a temp file in the target's folder, then os.replace.

Readers (a DAW watching a folder, a second process loading a preset) never see half a file, and a
failed write leaves the old file as it was and no temp file behind.

Temp files are dot-files (DAWs and file browsers hide them) named `.NAME.PID-TOKEN.tmp`. A process
killed mid-write (kill -9, power loss) cannot remove its own; `remove_stale_temps` removes those
whose writer is no longer running, so the next start of the daemon cleans up after the last one.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

TEMP_SUFFIX = ".tmp"
_TEMP = re.compile(r"^\..+\.(?P<pid>[0-9]+)-[A-Za-z0-9_]+\.tmp$")

# Crash-test hook (tests/test_daemon_crash.py, bench/stress.py): when this variable names a file
# suffix (".wav", ".yaml", or several separated by commas), a durable write of a file ending in it
# stops halfway through its data, says so on stderr, and sleeps, so a test can kill -9 the process
# at exactly that moment. Unset in normal use; the check is one dict lookup per file written.
PAUSE_ENV = "LATENT_SYNTH_PAUSE_MID_WRITE"
PAUSE_LINE = "paused mid-write"


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_name(final_name: str) -> str:
    """A hidden temp name beside `final_name` that records this process's id (see remove_stale_temps)."""
    return f".{final_name}.{os.getpid()}-{uuid.uuid4().hex[:12]}{TEMP_SUFFIX}"


@contextmanager
def atomic_path(path, suffix: str = TEMP_SUFFIX) -> Iterator[Path]:
    """Yield a temp path beside `path`; when the block succeeds it replaces `path`, else it is removed.

    `suffix` lets writers that pick a format from the name (soundfile, matplotlib) see the real one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=suffix, dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp files are private; these are ordinary user files
        os.close(fd)
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextmanager
def atomic_dir(path) -> Iterator[Path]:
    """Yield a hidden temp folder beside `path`; when the block succeeds it becomes `path` by one rename,
    else it is removed. If another process got there first, its folder is kept and ours dropped."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}-", suffix=TEMP_SUFFIX, dir=path.parent))
    try:
        yield tmp
        try:
            os.rename(tmp, path)
        except OSError:
            if not path.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_durably(path, data: bytes, final_name: str | None = None) -> None:
    """Write `data` to `path` and fsync it, so a full disk fails here (ENOSPC) rather than later.
    `final_name` is the name the file will be published under (for the crash-test hook)."""
    with open(path, "wb") as fh:
        half = len(data) // 2
        fh.write(data[:half])
        _pause_for_crash_test(fh, final_name or Path(path).name)
        fh.write(data[half:])
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_bytes(path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        write_durably(tmp, data, Path(path).name)
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def end_marked(text: str, what: str, note: str = "") -> str:
    """`text` between a first line that promises an end line and that end line, so a reader can tell
    a whole file from one cut short by an interrupted copy or a full disk, even where the part left
    is valid YAML (see cut_short). Files people write by hand, without the first line, are trusted."""
    body = text if text.endswith("\n") else text + "\n"
    return f"# latent-synth {what}{note}. It ends with the line '{_end_line(what)}'.\n{body}{_end_line(what)}\n"


def cut_short(text: str, what: str) -> bool:
    """True when `text` promises an end line (end_marked wrote it) but does not end with it."""
    if f"'{_end_line(what)}'" not in text.split("\n", 1)[0]:
        return False
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] != _end_line(what)


def _end_line(what: str) -> str:
    return f"# end of {what}"


def remove_stale_temps(folder) -> list[Path]:
    """Delete the temp files in `folder` whose writing process has exited (left by a crash).
    Temp files of a live process (another daemon writing into the same folder) are kept."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        m = _TEMP.match(entry.name)
        if m is None or _alive(int(m.group("pid"))) or not entry.is_file():
            continue
        try:
            entry.unlink()
            removed.append(entry)
        except OSError:
            pass  # gone already, or not ours to delete
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OverflowError:
        return False
    return True


def _pause_for_crash_test(fh, final_name: str) -> None:
    suffixes = os.environ.get(PAUSE_ENV)
    if not suffixes or not any(s and final_name.endswith(s) for s in suffixes.split(",")):
        return
    fh.flush()  # half the data is on disk, as it would be when a real crash hits mid-write
    print(f"{PAUSE_LINE} {final_name} ({fh.name})", file=sys.stderr, flush=True)
    time.sleep(3600)
