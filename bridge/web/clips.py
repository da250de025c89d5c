"""The clip files a page may fetch: only those the daemon announced, only inside the DAW folder.

A page asks by name, relative to the DAW folder (`take_1.wav`, `.previews/take_2.wav`). A name is served
when the daemon announced that clip (or it is the clip's `.json` sidecar or `.mid` score) and the file,
with every link resolved, still lies inside the folder. Nothing else on disk is reachable: no `..`, no
absolute paths, no links out.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

SIBLINGS = (".wav", ".json", ".mid")
KEPT = 512  # announced clips a page can still fetch; older ones drop out of the surface, not off the disk
RECENT = 24  # clips a page that connects later is shown


class ClipRefused(LookupError):
    """A name the surface will not serve; the message says why."""


class ClipRegistry:
    def __init__(self, out_dir):
        self.out_dir = Path(out_dir).expanduser().resolve()
        self._lock = threading.Lock()
        self._names: OrderedDict[str, tuple] = OrderedDict()  # name -> the announcement's args

    def announce(self, path, args: list) -> str | None:
        """Record an announced clip; return its name relative to the DAW folder (None: outside it)."""
        try:
            name = Path(path).resolve().relative_to(self.out_dir).as_posix()
        except ValueError:
            return None
        with self._lock:
            self._names[name] = (name, *args[1:])
            self._names.move_to_end(name)
            while len(self._names) > KEPT:
                self._names.popitem(last=False)
        return name

    def recent(self) -> list[tuple]:
        with self._lock:
            return list(self._names.values())[-RECENT:]

    def path(self, name: str, suffixes=SIBLINGS) -> Path:
        """The file behind an announced clip's name; raises ClipRefused."""
        if not name or name.startswith("/") or "\\" in name or ".." in name.split("/"):
            raise ClipRefused(f"{name!r} is not a clip name")
        stem, dot, suffix = name.rpartition(".")
        if not dot or f".{suffix}" not in suffixes:
            raise ClipRefused(f"{name!r} is not a clip file ({', '.join(suffixes)})")
        with self._lock:
            announced = f"{stem}.wav" in self._names
        if not announced:
            raise ClipRefused(f"{name!r} was not announced by this daemon")
        path = (self.out_dir / name).resolve()
        if not path.is_relative_to(self.out_dir):
            raise ClipRefused(f"{name!r} leads out of the DAW folder")
        if not path.is_file():
            raise ClipRefused(f"{name!r} is not there (any more)")
        return path
