"""Pure Data (vanilla, headless) drives the daemon through max_patches/latent_synth.pd."""
import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import soundfile as sf

from bridge.testing.osc_daemon import Daemon

pytestmark = [pytest.mark.peers, pytest.mark.skipif(shutil.which("pd") is None, reason="Pure Data (pd) is not installed")]

PATCH = Path(__file__).resolve().parents[1] / "max_patches" / "latent_synth.pd"

# Moves the patch's own controls through their receive names, presses render, and quits once the
# patch has shown the clip path it got back on /synth/rendered (or after 90 s).
DRIVER = r"""#N canvas 0 0 400 300 10;
#X obj 10 10 loadbang;
#X obj 10 40 delay 1000;
#X msg 10 70 \; lsynth-steps 4 \; lsynth-duration 1.5 \; lsynth-seed 5 \; lsynth-prompt-0 symbol bells \; lsynth-mix-0 0.75 \; lsynth-feature-0 2.5 \; lsynth-feature-id-1 42 \; lsynth-feature-1 -1.5 \; lsynth-preset-name symbol from-pd \; lsynth-save bang \; lsynth-render bang;
#X obj 10 120 r lsynth-last-clip;
#X obj 10 150 delay 300;
#X msg 10 180 \; pd quit;
#X obj 200 120 delay 90000;
#X obj 100 120 t b;
#X connect 0 0 1 0;
#X connect 1 0 2 0;
#X connect 3 0 7 0;
#X connect 7 0 4 0;
#X connect 4 0 5 0;
#X connect 0 0 6 0;
#X connect 6 0 5 0;
"""


def pd_command(driver, daemon) -> list[str]:
    """Headless Pd with the patch, a driver patch, and the daemon's port."""
    return ["pd", "-nogui", "-nosound", "-nomidi", "-stderr", "-noprefs", "-open", str(PATCH), "-open", str(driver),
            "-send", f"lsynth-port {daemon.address[1]}"]


def test_pd_patch_renders_a_clip_and_shows_its_path(tmp_path):
    daemon = Daemon(tmp_path)
    try:
        driver = tmp_path / "driver.pd"
        driver.write_text(DRIVER)
        proc = subprocess.run(pd_command(driver, daemon), capture_output=True, text=True, timeout=120)
        log = proc.stdout + proc.stderr
        assert "latent-synth-rendered:" in log, log
        clips = daemon.clips()
        assert len(clips) == 1, (clips, log)
        # the path Pd printed is the clip the daemon wrote
        assert clips[0].name in log.replace("\\ ", " ")
        audio, sr = sf.read(clips[0])
        assert audio.shape[0] == pytest.approx(1.5 * sr, abs=2)
        state = json.loads(clips[0].with_suffix(".json").read_text())["state"]
        assert state["seed"] == 5 and state["steps"] == 4
        assert state["prompts"][0] == {"text": "bells", "weight": 0.75}
        # row 0 keeps its default id 0; row 1 was re-targeted to feature 42 by its id box
        assert state["features"] == {"0": 2.5, "42": -1.5}
        assert (daemon.presets / "from-pd.yaml").is_file()
        for bad in ("error", "connection failed", "couldn't create"):
            assert bad not in log, log
    finally:
        daemon.kill()


# Asks for /synth/status, then waits: oscsend (a second controller) triggers the renders. The patch
# loads every clip that arrives; Pd quits after the second final clip it has loaded (or after 120 s).
PLAYER_DRIVER = r"""#N canvas 0 0 400 300 10;
#X obj 10 10 loadbang;
#X obj 10 40 delay 1000;
#X msg 10 70 \; lsynth-status bang;
#X obj 10 110 r lsynth-last-kind;
#X obj 10 140 sel final;
#X obj 10 170 f;
#X obj 50 170 + 1;
#X obj 10 200 sel 2;
#X obj 10 230 delay 500;
#X msg 10 260 \; pd quit;
#X obj 200 110 delay 120000;
#X connect 0 0 1 0;
#X connect 1 0 2 0;
#X connect 3 0 4 0;
#X connect 4 0 5 0;
#X connect 5 0 6 0;
#X connect 6 0 5 1;
#X connect 6 0 7 0;
#X connect 7 0 8 0;
#X connect 8 0 9 0;
#X connect 0 0 10 0;
#X connect 10 0 9 0;
"""


@pytest.mark.skipif(shutil.which("oscsend") is None, reason="oscsend (liblo-tools) is not installed")
def test_pd_patch_loads_and_plays_each_clip_an_oscsend_controller_triggers(tmp_path):
    daemon = Daemon(tmp_path)
    pd = None
    try:
        driver = tmp_path / "player-driver.pd"
        driver.write_text(PLAYER_DRIVER)
        pd = subprocess.Popen(pd_command(driver, daemon), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        threading.Thread(target=lambda: lines.extend(pd.stdout), daemon=True).start()
        port = str(daemon.address[1])

        def oscsend(*args):
            subprocess.run(["oscsend", "127.0.0.1", port, *args], check=True, timeout=10)

        def seen(prefix, n=1):
            return daemon.wait_for(lambda: sum(line.startswith(prefix) for line in lines) >= n, 60)

        assert seen("latent-synth-status:"), lines   # Pd got its own reply
        oscsend("/synth/duration", "f", "1.25")
        oscsend("/synth/render")                     # the other controller's render reaches Pd
        assert seen("latent-synth-loaded:"), lines
        oscsend("/synth/steps", "i", "20")           # above the preview steps: previews, then the final
        oscsend("/synth/auto", "i", "1")
        for cfg in ("3", "3.5", "4", "4.5"):
            oscsend("/synth/cfg", "f", cfg)
        pd.wait(120)
        log = "".join(lines)
        printed = log.split("latent-synth-status:", 1)[1].splitlines()[0].strip().removeprefix("symbol ")
        status = json.loads(re.sub(r"\\(.)", r"\1", printed))  # Pd escapes spaces and commas when it prints
        assert status["backend"] == "tiny" and status["queue_depth"] in (0, 1)
        arrived = re.findall(r"latent-synth-rendered: (?:list )?(\S+) \S+ \S+ (preview|final)", log)
        loaded = [int(float(n)) for n in re.findall(r"latent-synth-loaded: (\S+)", log)]
        kinds = [kind for _, kind in arrived]
        assert kinds and kinds[0] == "final" and "preview" in kinds[1:] and kinds[-1] == "final", log
        assert len(loaded) == len(arrived)           # every clip that arrived was loaded
        for (path, kind), frames in zip(arrived, loaded):
            assert frames == sf.info(path).frames, (path, kind, frames)
        assert loaded[0] == int(1.25 * 44100)
        for bad in ("error", "couldn't create", "connection failed"):
            assert bad not in log, log
    finally:
        if pd is not None and pd.poll() is None:
            pd.kill()
            pd.wait(10)
        daemon.kill()
