"""The README's live example from a folder that is not the checkout: the shipped presets still load."""
import json

import pytest

from bridge.testing.osc_daemon import Daemon


@pytest.fixture(scope="module")
def score_daemon(tmp_path_factory):
    pytest.importorskip("fluidsynth")
    cwd = tmp_path_factory.mktemp("elsewhere")
    # the user's folder is ./presets of this cwd, which does not exist
    d = Daemon(cwd, "--backend", "score", cwd=cwd)
    yield d
    d.kill()


def test_serve_from_any_folder_loads_the_shipped_score_sliders(score_daemon):
    c = score_daemon.client()
    try:
        c.send("/synth/preset/list")
        names = c.expect("/synth/preset/list")
        sources = c.expect("/synth/preset/sources")
        assert dict(zip(names, sources))["score-sliders"] == "shipped"
        c.send("/synth/preset/load", "score-sliders")
        c.send("/synth/state")
        state = json.loads(c.expect("/synth/state")[0])
        assert state["name"] == "score-sliders" and state["features"]
    finally:
        c.close()
