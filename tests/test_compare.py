"""Known-answer tests for `analysis compare`: DSP-made sets whose differences are known."""
import csv
import json

import numpy as np
import pytest
import soundfile as sf
from scipy import stats as sps
from scipy.signal import butter, sosfilt
from statsmodels.stats.multitest import multipletests

from analysis.steering.acoustic_features import FEATURE_NAMES
from analysis.steering.compare import compare_dirs

SR = 22050
N = 8
STAT_KEYS = {"mean_a", "mean_b", "cohens_d", "welch_t", "welch_p", "mwu_u", "mwu_p", "holm_p", "d_ci95"}


def burst_train(rate, freq, dur=2.0, decay=0.015, amp=0.5):
    """Decaying tone bursts of carrier `freq` at `rate` per second: rhythmic, same pitch as tone()."""
    n = int(dur * SR)
    y = np.zeros(n)
    start = 0.1
    while start < dur:
        i = int(start * SR)
        m = min(n - i, int(0.2 * SR))
        tt = np.arange(m) / SR
        y[i:i + m] += amp * np.sin(2 * np.pi * freq * tt) * np.exp(-tt / decay)
        start += 1.0 / rate
    return y


def tone(freq, dur=2.0, amp=0.5):
    return amp * np.sin(2 * np.pi * freq * np.arange(int(dur * SR)) / SR)


def noise(cutoff, bright, seed, level=0.1, dur=2.0):
    y = np.random.default_rng(seed).standard_normal(int(dur * SR))
    y = sosfilt(butter(4, cutoff, btype="highpass" if bright else "lowpass", fs=SR, output="sos"), y)
    return level * y / np.sqrt(np.mean(y**2))


def write_set(folder, signals):
    folder.mkdir(parents=True, exist_ok=True)
    for i, y in enumerate(signals):
        sf.write(folder / f"clip_{i:02d}.wav", y.astype(np.float32), SR, subtype="FLOAT")
    return folder


def run_compare(tmp_path, a_signals, b_signals, jobs=1):
    out = tmp_path / "out"
    compare_dirs(write_set(tmp_path / "a", a_signals), write_set(tmp_path / "b", b_signals), out,
                 jobs=jobs, progress=False)
    return json.loads((out / "results.json").read_text()), out


def assert_moves(res, feature, sign, min_d=1.5):
    s = res["features"][feature]
    assert np.sign(s["cohens_d"]) == sign and abs(s["cohens_d"]) > min_d, (feature, s)
    assert s["holm_p"] < 0.05, (feature, s)
    lo, hi = s["d_ci95"]
    assert (lo > 0) if sign > 0 else (hi < 0), (feature, s)


def assert_untouched(res, feature):
    assert abs(res["features"][feature]["cohens_d"]) < 0.5, (feature, res["features"][feature])


def test_click_trains_against_sustained_tones(tmp_path):
    rng = np.random.default_rng(1)
    freqs = rng.uniform(300, 1200, N)     # matched carriers: pitch (centroid) is not what differs
    rates = [2, 3, 4, 5, 6, 7, 8, 2.5]
    res, out = run_compare(tmp_path, [burst_train(r, f) for r, f in zip(rates, freqs)], [tone(f) for f in freqs], jobs=2)
    assert_moves(res, "onset_density", +1)
    assert_moves(res, "rms_std", +1)
    assert_moves(res, "spectral_flux_std", +1)
    assert_untouched(res, "spectral_centroid_mean")
    means = res["features"]["onset_density"]
    assert means["mean_b"] < 0.5 and means["mean_a"] == pytest.approx(np.mean(rates), abs=1.0)


def test_bright_noise_against_dark_noise(tmp_path):
    rng = np.random.default_rng(2)
    cutoffs, levels = rng.uniform(2000, 4000, N), rng.uniform(0.05, 0.2, N)   # matched levels per pair
    bright = [noise(c * 1.5, True, i, lv) for i, (c, lv) in enumerate(zip(cutoffs, levels))]
    dark = [noise(c / 3, False, i, lv) for i, (c, lv) in enumerate(zip(cutoffs, levels))]
    res, _ = run_compare(tmp_path, dark, bright)   # a = dark: the signs must flip
    assert_moves(res, "spectral_centroid_mean", -1)
    assert_moves(res, "zero_crossing_rate", -1)
    assert_moves(res, "spectral_bandwidth_mean", -1)
    assert_untouched(res, "rms_mean")


def test_equal_rms_bright_and_dark_noise_at_44k(tmp_path):
    """The full band counts: noise high-passed at 4 kHz and noise low-passed at 500 Hz, each at RMS 0.1,
    read equally loud (the 22.05 kHz analysis read the bright set 40% quieter)."""
    sr = 44100

    def noise44(cutoff, bright, seed):
        y = np.random.default_rng(seed).standard_normal(2 * sr)
        y = sosfilt(butter(4, cutoff, btype="highpass" if bright else "lowpass", fs=sr, output="sos"), y)
        return 0.1 * y / np.sqrt(np.mean(y**2))

    out = tmp_path / "out"
    dirs = []
    for name, signals in (("bright", [noise44(4000, True, i) for i in range(N)]),
                          ("dark", [noise44(500, False, 100 + i) for i in range(N)])):
        (tmp_path / name).mkdir()
        for i, y in enumerate(signals):
            sf.write(tmp_path / name / f"clip_{i:02d}.wav", y.astype(np.float32), sr, subtype="FLOAT")
        dirs.append(tmp_path / name)
    compare_dirs(*dirs, out, jobs=1, progress=False)
    res = json.loads((out / "results.json").read_text())
    rms = res["features"]["rms_mean"]
    assert rms["mean_a"] == pytest.approx(rms["mean_b"], rel=0.05) and rms["mean_a"] == pytest.approx(0.1, rel=0.05)
    assert res["features"]["spectral_centroid_mean"]["cohens_d"] > 3
    assert res["analysis_sr"] == 44100 and "`analysis_sr`): 44100 Hz" in (out / "report.md").read_text()


def test_loud_against_quiet(tmp_path):
    rng = np.random.default_rng(3)
    base = [noise(c, b, 100 + i) for i, (c, b) in enumerate(zip(rng.uniform(1000, 4000, N), rng.random(N) < 0.5))]
    res, _ = run_compare(tmp_path, [y * 4 for y in base], [y * 0.25 for y in base])
    assert_moves(res, "rms_mean", +1)
    assert_moves(res, "rms_std", +1)
    assert_moves(res, "spectral_flux_mean", +1)
    assert_untouched(res, "spectral_centroid_mean")
    assert_untouched(res, "zero_crossing_rate")


def test_outputs_and_statistics_match_direct_scipy(tmp_path):
    rng = np.random.default_rng(4)
    a = [noise(c, True, i) * rng.uniform(0.5, 2) for i, c in enumerate(rng.uniform(1000, 5000, 6))]
    b = [noise(c, False, 50 + i) * rng.uniform(0.5, 2) for i, c in enumerate(rng.uniform(1000, 5000, 7))]
    a_dir, b_dir = write_set(tmp_path / "a", a), write_set(tmp_path / "b", b)
    sf.write(a_dir / "silent.wav", np.zeros(SR, dtype=np.float32), SR)
    (b_dir / "broken.wav").write_bytes(b"RIFF nonsense")
    out = tmp_path / "out"
    compare_dirs(a_dir, b_dir, out, jobs=1, progress=False)

    res = json.loads((out / "results.json").read_text())
    assert set(res) == {"n_a", "n_b", "features", "analysis_sr"} and (res["n_a"], res["n_b"]) == (6, 7)
    assert res["analysis_sr"] == 44100
    assert list(res["features"]) == list(FEATURE_NAMES)
    with open(out / "features.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["group", "path", *FEATURE_NAMES]
    assert [r["group"] for r in rows] == ["a"] * 6 + ["b"] * 7
    assert not any("silent" in r["path"] or "broken" in r["path"] for r in rows)
    report = (out / "report.md").read_text()
    assert "silent.wav" in report and "broken.wav" in report and "onset" in report.lower()
    assert (out / "effect_sizes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    welch_p = []
    for name in FEATURE_NAMES:
        s = res["features"][name]
        assert set(s) == STAT_KEYS
        xa = np.array([float(r[name]) for r in rows if r["group"] == "a"])
        xb = np.array([float(r[name]) for r in rows if r["group"] == "b"])
        pooled = np.sqrt((5 * xa.var(ddof=1) + 6 * xb.var(ddof=1)) / 11)
        t = sps.ttest_ind(xa, xb, equal_var=False)
        u = sps.mannwhitneyu(xa, xb, alternative="two-sided")
        if pooled > 0:
            assert s["cohens_d"] == pytest.approx((xa.mean() - xb.mean()) / pooled, abs=1e-9)
            assert s["welch_t"] == pytest.approx(t.statistic, abs=1e-9)
            assert s["welch_p"] == pytest.approx(t.pvalue, abs=1e-9)
            welch_p.append((name, t.pvalue))
        assert s["mwu_u"] == pytest.approx(u.statistic, abs=1e-9)
        assert s["mwu_p"] == pytest.approx(u.pvalue, abs=1e-9)
        assert s["mean_a"] == pytest.approx(xa.mean(), abs=1e-9)
    adjusted = multipletests([p for _, p in welch_p], method="holm")[1]
    for (name, _), h in zip(welch_p, adjusted):
        assert res["features"][name]["holm_p"] == pytest.approx(h, abs=1e-9)


def test_too_few_files_is_a_clear_error(tmp_path):
    a = write_set(tmp_path / "a", [tone(440)])
    b = write_set(tmp_path / "b", [tone(440), tone(550)])
    with pytest.raises(ValueError, match="at least 2"):
        compare_dirs(a, b, tmp_path / "out", jobs=1, progress=False)
    sf.write(a / "silent.wav", np.zeros(SR, dtype=np.float32), SR)   # 2 files, but only 1 usable
    with pytest.raises(ValueError, match="at least 2 readable"):
        compare_dirs(a, b, tmp_path / "out", jobs=1, progress=False)
    with pytest.raises(ValueError, match="not a folder"):
        compare_dirs(tmp_path / "missing", b, tmp_path / "out", jobs=1, progress=False)


def test_command_line(tmp_path, capsys):
    from bridge.cli import main

    a = write_set(tmp_path / "a", [tone(440), tone(550)])
    b = write_set(tmp_path / "b", [burst_train(4, 440), burst_train(6, 550)])
    assert main(["analysis", "compare", "--a", str(a), "--b", str(b), "--out", str(tmp_path / "o"), "--jobs", "1"]) == 0
    assert json.loads((tmp_path / "o" / "results.json").read_text())["n_a"] == 2
    assert main(["analysis", "compare", "--a", str(tmp_path / "nope"), "--b", str(b), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"latent-synth: error: not a folder: {tmp_path / 'nope'}"
