"""The 11 acoustic features: names, onset density that counts real onsets, bad-input handling."""
import numpy as np
import pytest
import soundfile as sf
from scipy.signal import butter, sosfilt

from analysis.acoustic_features import (
    FEATURE_NAMES, AudioFileError, extract_arrays, extract_files, features_from_audio, features_from_file,
    onset_density,
)

SR = 22050


def _tone(freq=440.0, dur=3.0, sr=SR, amp=0.3):
    return amp * np.sin(2 * np.pi * freq * np.arange(int(dur * sr)) / sr)


def _clicks(rate, dur=3.0, sr=SR, noise=1e-3, seed=0):
    y = np.random.default_rng(seed).standard_normal(int(dur * sr)) * noise
    y[:: int(sr / rate)] += 0.8
    return y


def test_feature_names_are_exact():
    assert FEATURE_NAMES == (
        "onset_density", "spectral_centroid_mean", "spectral_centroid_std", "rms_mean", "rms_std",
        "spectral_flatness_mean", "zero_crossing_rate", "tempo", "spectral_bandwidth_mean",
        "spectral_flux_mean", "spectral_flux_std",
    )
    feats = features_from_audio(_tone(), SR)
    assert list(feats) == list(FEATURE_NAMES)
    assert all(np.isfinite(v) for v in feats.values())


@pytest.mark.parametrize("name, signal", [
    ("sine", _tone()),
    ("quiet sine", _tone(amp=1e-3)),
    ("chord", _tone(220) + _tone(277) + _tone(330)),
    ("white noise", 0.1 * np.random.default_rng(1).standard_normal(3 * SR)),
    ("low-passed noise", sosfilt(butter(4, 500, fs=SR, output="sos"), np.random.default_rng(2).standard_normal(3 * SR))),
])
def test_steady_sounds_have_no_onsets(name, signal):
    assert onset_density(signal.astype(np.float32), SR) < 0.5, name


@pytest.mark.parametrize("rate", [1, 2, 4, 8])
def test_click_trains_score_their_rate(rate):
    assert onset_density(_clicks(rate).astype(np.float32), SR) == pytest.approx(rate, abs=0.5)


def test_stereo_and_resampling_give_the_same_onsets():
    y = _clicks(4, sr=44100)
    assert features_from_audio(np.stack([y, y]), 44100)["onset_density"] == pytest.approx(4, abs=0.5)


def test_level_does_not_change_scale_free_features():
    y = _clicks(3) + _tone(660)
    loud, quiet = features_from_audio(y, SR), features_from_audio(y * 0.01, SR)
    for name in ("onset_density", "spectral_centroid_mean", "zero_crossing_rate", "spectral_flatness_mean"):
        assert loud[name] == pytest.approx(quiet[name], rel=1e-3), name
    assert loud["rms_mean"] == pytest.approx(100 * quiet["rms_mean"], rel=1e-4)


def test_brighter_noise_has_higher_centroid():
    rng = np.random.default_rng(3)
    white = rng.standard_normal(2 * SR)
    dark = sosfilt(butter(4, 800, fs=SR, output="sos"), white)
    assert features_from_audio(white, SR)["spectral_centroid_mean"] > 3 * features_from_audio(dark, SR)["spectral_centroid_mean"]


def test_bad_files_raise_naming_the_file(tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR), SR)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not a wav file at all")
    short = tmp_path / "short.wav"
    sf.write(short, _tone(dur=0.05), SR)
    for path, word in ((silent, "silent"), (garbage, "unreadable"), (short, "too short")):
        with pytest.raises(AudioFileError, match=word) as info:
            features_from_file(path)
        assert str(path) in str(info.value)
    with pytest.raises(AudioFileError, match="NaN"):
        features_from_audio(np.full(SR, np.nan), SR)


def test_parallel_extraction_matches_serial_and_keeps_order(tmp_path):
    paths = []
    for i, rate in enumerate([2, 5]):
        p = tmp_path / f"c{i}.wav"
        sf.write(p, _clicks(rate, dur=1.5), SR, subtype="FLOAT")
        paths.append(p)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"junk")
    paths.insert(1, bad)
    serial = extract_files(paths, jobs=1)
    parallel = extract_files(paths, jobs=2)
    assert [r.path for r in parallel] == [str(p) for p in paths]
    assert parallel[1].features is None and "bad.wav" in parallel[1].error
    for s, p in zip(serial, parallel):
        assert s.features == p.features
    arrays = extract_arrays([("x", _clicks(2, dur=1.5), SR)], jobs=1)
    assert arrays[0].features == pytest.approx(serial[0].features, rel=1e-5)
