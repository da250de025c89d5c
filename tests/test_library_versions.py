"""A backend that needs a newer library than the package's floors says so in one line naming the version
to install, before importing anything of it; the other backends keep working."""
import dataclasses

import pytest

from synth.backends import load_backend
from synth.encoders import load_encoder
from synth.families import specs
from synth.families.loading import BackendError, require


def test_an_old_library_is_one_line_naming_the_version():
    with pytest.raises(BackendError) as err:
        require(("diffusers>=999",), "the tiny-sa3 backend")
    message = str(err.value)
    assert message.startswith("the tiny-sa3 backend needs diffusers>=999 (") and "\n" not in message
    assert message.endswith("is installed): pip install 'diffusers>=999'")


def test_a_missing_library_says_so():
    with pytest.raises(BackendError, match=r"needs no-such-lib>=1 \(it is not installed\): pip install 'no-such-lib>=1'"):
        require(("no-such-lib>=1",), "a backend")


def test_the_installed_libraries_meet_the_stable_audio_3_needs():
    require(specs.SA3_REQUIRES, "Stable Audio 3")   # the test environment runs the SA3 tests


def test_stable_audio_3_asks_for_newer_diffusers_and_the_others_still_load(monkeypatch):
    too_new = dataclasses.replace(specs.SPECS["tiny-sa3"], requires=("diffusers>=999",))
    monkeypatch.setitem(specs.SPECS, "tiny-sa3", too_new)
    with pytest.raises(BackendError, match=r"^the tiny-sa3 backend needs diffusers>=999 .*pip install 'diffusers>=999'$"):
        load_backend("tiny-sa3", device="cpu")
    assert load_backend("tiny", device="cpu").backend == "tiny"


def test_the_t5gemma_encoders_ask_for_newer_transformers(monkeypatch):
    import synth.encoders

    monkeypatch.setattr(synth.encoders, "T5GEMMA_REQUIRES", ("transformers>=999",))
    with pytest.raises(BackendError, match=r"^the tiny-t5gemma encoder needs transformers>=999 "):
        load_encoder("tiny-t5gemma", device="cpu")
    assert load_encoder("tiny", device="cpu").dim > 0
