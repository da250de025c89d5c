"""Pure Data (vanilla, headless) drives the daemon through max_patches/latent_synth.pd."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import soundfile as sf

from osc_helpers import Daemon

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


def test_pd_patch_renders_a_clip_and_shows_its_path(tmp_path):
    daemon = Daemon(tmp_path)
    try:
        driver = tmp_path / "driver.pd"
        driver.write_text(DRIVER)
        proc = subprocess.run(
            ["pd", "-nogui", "-nosound", "-nomidi", "-stderr", "-noprefs", "-open", str(PATCH), "-open", str(driver),
             "-send", f"lsynth-port {daemon.address[1]}"],
            capture_output=True, text=True, timeout=120,
        )
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
