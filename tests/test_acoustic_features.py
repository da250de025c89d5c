"""The 11 acoustic features: names, onset density that counts real onsets, bad-input handling."""
import numpy as np
import pytest
import soundfile as sf
from scipy.signal import butter, sosfilt

from analysis.steering.acoustic_features import (
    ANALYSIS_SR, FEATURE_NAMES, HOP, N_FFT, ONSET_FMAX, AudioFileError, extract_arrays, extract_files,
    features_from_audio, features_from_file, onset_density, onset_envelope,
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
@pytest.mark.parametrize("sr", [SR, ANALYSIS_SR, 48000])
def test_click_trains_score_their_rate(rate, sr):
    assert onset_density(_clicks(rate, sr=sr).astype(np.float32), sr) == pytest.approx(rate, abs=0.5)


def test_analysis_is_full_band_with_frames_of_the_old_duration():
    assert ANALYSIS_SR == 44100
    assert (N_FFT / ANALYSIS_SR, HOP / ANALYSIS_SR) == (2048 / 22050, 512 / 22050)   # tempo/onset settings keep their meaning


def test_onset_envelope_is_librosas_onset_strength_below_11k():
    import librosa

    y = (_clicks(3, sr=ANALYSIS_SR) + _tone(880, sr=ANALYSIS_SR)).astype(np.float32)
    peak = float(np.abs(y).max())
    mag = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    ours = onset_envelope(mag, peak)
    theirs = librosa.onset.onset_strength(y=y / peak, sr=ANALYSIS_SR, hop_length=HOP, n_fft=N_FFT, fmax=ONSET_FMAX)
    assert ours.shape == theirs.shape and np.max(np.abs(ours - theirs)) < 1e-4 * np.max(theirs)


def _noise(cutoff, bright, seed, sr=ANALYSIS_SR, level=0.1, dur=2.0):
    y = np.random.default_rng(seed).standard_normal(int(dur * sr))
    y = sosfilt(butter(4, cutoff, btype="highpass" if bright else "lowpass", fs=sr, output="sos"), y)
    return level * y / np.sqrt(np.mean(y**2))


def test_equal_rms_bright_and_dark_noise_read_equally_loud():
    """At 22.05 kHz, noise high-passed at 4 kHz lost its top octave and read 0.059 against 0.099."""
    bright, dark = features_from_audio(_noise(4000, True, 1), ANALYSIS_SR), features_from_audio(_noise(500, False, 2), ANALYSIS_SR)
    assert bright["rms_mean"] == pytest.approx(dark["rms_mean"], rel=0.05)
    assert bright["rms_mean"] == pytest.approx(0.1, rel=0.05)
    assert bright["spectral_centroid_mean"] > 10000 > 500 > dark["spectral_centroid_mean"]


def test_silent_gaps_do_not_move_spectral_shape():
    """Frames 80 dB below the loudest have no spectral shape; resampling residue there must not count."""
    tone = _tone(600, dur=2.0)
    ramp = np.sin(np.linspace(0, np.pi / 2, int(0.05 * SR))) ** 2     # smooth edges: no clicks
    burst = np.concatenate([ramp, np.ones(SR // 4), ramp[::-1]])
    gate = np.zeros(len(tone))
    for start in (0, SR):                                              # a burst, then silence, twice
        gate[start:start + len(burst)] = burst
    gated = tone * gate   # at 22.05 kHz, so resampled: its silent gaps hold residue ~120 dB down
    assert features_from_audio(gated, SR)["spectral_centroid_mean"] == pytest.approx(600, rel=0.02)   # 1,033 Hz ungated


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
