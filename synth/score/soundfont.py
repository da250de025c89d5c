"""Finding a General MIDI SoundFont: the one asked for, else the first one installed."""
from __future__ import annotations

from pathlib import Path

SEARCH_DIRS = ("/usr/share/sounds/sf2", "/usr/share/soundfonts", "/usr/local/share/soundfonts",
               "~/.local/share/soundfonts")
# Best first: FluidR3_GM (Debian fluid-soundfont-gm, 148 MB) sounds fuller than TimGM6mb (6 MB).
PREFERRED = ("FluidR3_GM.sf2", "TimGM6mb.sf2", "default-GM.sf2")
INSTALL_HELP = ("no General MIDI SoundFont found: install one (apt-get install fluid-soundfont-gm, or "
                "timgm6mb-soundfont for a 6 MB one) or pass --soundfont FILE.sf2")


class SoundFontError(OSError):
    """No usable SoundFont or synthesiser; the message is one line saying what to install or pass."""


def find_soundfont(explicit: str | None = None, search_dirs=SEARCH_DIRS) -> Path:
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise SoundFontError(f"soundfont {explicit!r}: no such file")
        return path
    for name in PREFERRED:
        for d in search_dirs:
            path = Path(d).expanduser() / name
            if path.is_file():
                return path
    for d in search_dirs:
        found = sorted(Path(d).expanduser().glob("*.sf2")) if Path(d).expanduser().is_dir() else []
        if found:
            return found[0]
    raise SoundFontError(INSTALL_HELP)
