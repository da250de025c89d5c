import json
import os
import stat

import numpy as np
import pytest
import soundfile as sf

from synth.clip_writer import NORMALIZE_PEAK, slugify, write_clip
from synth.state import PromptSlot, SynthState

SR = 44100


def _audio(n=4410, amp=0.25, seed=0):
    return (np.random.default_rng(seed).uniform(-1, 1, size=(2, n)) * amp).astype(np.float32)


def test_slugify():
    assert slugify("Warm Analog Pad!") == "warm-analog-pad"
    assert slugify("  ../../etc/passwd ") == "etc-passwd"
    assert slugify("Café  Crème") == "cafe-creme"
    assert slugify("???") == "clip"
    assert len(slugify("x" * 500)) <= 48


def test_float_wav_and_sidecar(tmp_path):
    a = _audio()
    state = SynthState(prompts=[PromptSlot("Warm pad", 1.0)], seed=7, features={3: 1.5})
    path = write_clip(tmp_path, a, SR, state, {"model_id": "m", "sae_id": "s", "device": "cpu", "render_seconds": 0.5})
    name = path.name
    assert name.startswith("warm-pad_") and name.endswith("_7.wav")
    stamp = name[len("warm-pad_"):-len("_7.wav")]
    assert len(stamp) == 15 and stamp[8] == "-" and stamp.replace("-", "").isdigit()
    data, sr = sf.read(path, dtype="float32", always_2d=True)
    info = sf.info(path)
    assert sr == SR and info.subtype == "FLOAT" and info.channels == 2
    np.testing.assert_array_equal(data.T, a)  # float32 is lossless
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["model_id"] == "m" and side["sae_id"] == "s" and side["device"] == "cpu"
    assert side["render_seconds"] == 0.5 and side["file"] == name
    assert SynthState.from_dict(side["state"]) == state
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temp files left


def test_pcm24_and_normalize(tmp_path):
    a = _audio(amp=0.1)
    p = write_clip(tmp_path, a, SR, SynthState(name="n"), {}, subtype="PCM_24", normalize=True)
    assert sf.info(p).subtype == "PCM_24"
    data, _ = sf.read(p, dtype="float64", always_2d=True)
    assert np.abs(data).max() == pytest.approx(NORMALIZE_PEAK, abs=1e-6)
    # out-of-range floats clip instead of wrapping around in 24-bit
    p2 = write_clip(tmp_path, np.full((2, 100), 1.5, np.float32), SR, SynthState(name="hot"), {}, subtype="PCM_24")
    d2, _ = sf.read(p2, dtype="float64")
    assert d2.min() > 0.99


def test_never_overwrites(tmp_path):
    s = SynthState(name="same", seed=1)
    paths = [write_clip(tmp_path, _audio(seed=i), SR, s, {}) for i in range(3)]
    assert len({p.name for p in paths}) == 3
    for i, p in enumerate(paths):  # each file holds its own audio
        data, _ = sf.read(p, dtype="float32", always_2d=True)
        np.testing.assert_array_equal(data.T, _audio(seed=i))
        assert p.with_suffix(".json").exists()


def test_existing_foreign_file_is_kept(tmp_path, monkeypatch):
    import datetime
    import types

    import synth.clip_writer as cw

    fixed = datetime.datetime(2026, 1, 2, 3, 4, 5)
    monkeypatch.setattr(cw, "_dt", types.SimpleNamespace(datetime=types.SimpleNamespace(now=lambda: fixed)))
    taken = tmp_path / "x_20260102-030405_0.wav"
    taken.write_bytes(b"user data")
    p = write_clip(tmp_path, _audio(), SR, SynthState(name="x"), {})
    assert p.name == "x_20260102-030405_0-1.wav"
    assert taken.read_bytes() == b"user data"


@pytest.mark.parametrize("bad", [np.zeros((3, 10)), np.zeros(10), np.full((2, 10), np.nan)])
def test_bad_audio_rejected(tmp_path, bad):
    with pytest.raises(ValueError):
        write_clip(tmp_path, bad, SR, SynthState(), {})
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(OSError, match="not writable"):
        write_clip(ro, _audio(), SR, SynthState(), {})


def test_folder_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OSError, match="file"):
        write_clip(f, _audio(), SR, SynthState(), {})


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    """A crash mid-write leaves neither a partial WAV nor a temp file behind."""
    import synth.clip_writer as cw

    real_write = sf.write

    def crashing_write(path, data, *a, **kw):
        real_write(path, data[: len(data) // 2], *a, **kw)  # half a file, then the disk "fills up"
        raise OSError("No space left on device")

    monkeypatch.setattr(cw.sf, "write", crashing_write)
    with pytest.raises(OSError, match="space"):
        write_clip(tmp_path, _audio(), SR, SynthState(), {})
    assert list(tmp_path.iterdir()) == []
