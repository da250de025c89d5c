"""CI: an installed `latent-synth serve --backend score`, run from the current folder, loads the shipped
`score-sliders` preset over OSC and sends a rendered clip back. Run it with the venv's python from a
folder outside the checkout; it prints one line and exits non-zero on any failure.

    python serve_check.py PATH/TO/latent-synth
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from bridge.testing.osc_daemon import Daemon

RENDER_TIMEOUT_S = 300.0


def check(program: str, folder: Path) -> str:
    daemon = Daemon(folder, "--backend", "score", cwd=folder, program=(program,))
    client = daemon.client()
    try:
        client.send("/synth/preset/load", "score-sliders")
        client.send("/synth/state")
        state = json.loads(client.expect("/synth/state", timeout=30)[0])
        if state.get("name") != "score-sliders":
            raise AssertionError(f"preset not loaded: state name is {state.get('name')!r}")
        client.send("/synth/render")
        path, seed, seconds, kind = client.expect("/synth/rendered", timeout=RENDER_TIMEOUT_S)
        if not Path(path).is_file():
            raise AssertionError(f"/synth/rendered names {path}, which does not exist")
        return f"/synth/rendered {path} seed {seed} {seconds:.1f} s ({kind})"
    except AssertionError:
        print("".join(daemon.stderr)[-2000:], file=sys.stderr)
        raise
    finally:
        client.close()
        daemon.stop()


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    start = time.monotonic()
    try:
        line = check(sys.argv[1], Path.cwd())
    except Exception as exc:  # any failure is this check's one line, not a traceback
        print(f"serve check FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"serve check ok in {time.monotonic() - start:.1f} s: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
