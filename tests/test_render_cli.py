import argparse
import importlib.util
import json
import subprocess
import sys

import pytest
import soundfile as sf

from synth.render_command import parse_contrast, parse_feature, parse_prompt, register
from synth.state import Contrast, PromptSlot


def run_cli(argv, capsys):
    """Like bridge.cli.main: ValueError/OSError become one line on stderr and exit status 2."""
    parser = argparse.ArgumentParser(prog="latent-synth")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except (ValueError, OSError) as exc:
        print(f"latent-synth: error: {exc}", file=sys.stderr)
        code = 2
    out = capsys.readouterr()
    return code, out.out, out.err


def test_parse_helpers():
    assert parse_prompt("warm analog pad") == PromptSlot("warm analog pad", 1.0)
    assert parse_prompt("warm pad=0.25") == PromptSlot("warm pad", 0.25)
    assert parse_prompt("a=b") == PromptSlot("a=b", 1.0)
    assert parse_feature("12=1.5") == (12, 1.5)
    assert parse_feature(" 3 = -2 ") == (3, -2.0)
    name, c = parse_contrast("sound rhythmic/sound sustained=0.5", {})
    assert name == "sound-rhythmic-vs-sound-sustained" and c == Contrast("sound rhythmic", "sound sustained", 0.5)
    assert parse_contrast("rs=2", {"rs": ("a", "b")}) == ("rs", Contrast("a", "b", 2.0))
    for bad in ["abc", "12", "=1", "x=1", "12=abc", "12=nan", "-1=2"]:
        with pytest.raises(ValueError, match="--feature"):
            parse_feature(bad)
    for bad in ["a/b", "a/b=inf", "/b=1", "nosuch=1"]:
        with pytest.raises(ValueError, match="--contrast"):
            parse_contrast(bad, {})


def test_render_example(tmp_path, capsys):
    code, out, err = run_cli(["render", "--backend", "tiny", "--prompt", "warm analog pad", "--feature", "12=1.5",
                              "--seed", "7", "--duration", "4", "--steps", "4", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    last = out.strip().splitlines()[-1]
    assert last.endswith("_7.wav") and last.startswith(str(tmp_path))
    wavs = list(tmp_path.glob("*.wav"))
    assert [str(w) for w in wavs] == [last]
    info = sf.info(last)
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (44100, 2, 4 * 44100, "FLOAT")
    side = json.loads(wavs[0].with_suffix(".json").read_text())
    assert side["state"]["features"] == {"12": 1.5} and side["state"]["seed"] == 7
    assert side["sae_id"].startswith("random-sae") and side["device"] == "cpu"


def test_render_many_seeds_pcm(tmp_path, capsys):
    code, out, err = run_cli(["render", "--prompt", "bells=0.5", "--prompt", "pad", "--n", "3", "--seed", "2",
                              "--duration", "1", "--steps", "2", "--subtype", "PCM_24", "--mix", "guidance",
                              "--contrast", "bright/dark=1", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert [line.rsplit("_", 1)[1] for line in lines] == ["2.wav", "3.wav", "4.wav"]
    assert all(sf.info(p).subtype == "PCM_24" for p in lines)


def test_render_inside_records_blocks_steps_and_strength(tmp_path, capsys):
    code, out, err = run_cli(["render", "--backend", "score", "--prompt", "a gentle melody", "--contrast", "fast-slow=2",
                              "--steering-mode", "inside", "--inside-blocks", "1,2", "--inside-window", "late",
                              "--gain", "1.5", "--steps", "6", "--duration", "2", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    side = json.loads(next(tmp_path.glob("*.json")).read_text())
    heads = side["inside"].pop("heads")          # the score model's text heads move with the contrast too
    assert heads["tempo"] > 1.0 and side["score"]["bpm"] >= 150
    assert side["inside"] == {"site": "residual", "blocks": [1, 2], "window": "late", "steps": [4, 5], "strength": 1.5,
                              "contrasts": {"fast-slow": 2.0}, "features": {}, "vector_seeds": 8}
    assert side["state"]["steering_mode"] == "inside" and side["state"]["inside_blocks"] == [1, 2]


@pytest.mark.parametrize("flags, needle", [
    (["--steering-mode", "outside"], "outside"),
    (["--inside-window", "soon"], "soon"),
    (["--inside-blocks", "1,x"], "x"),
    (["--steering-mode", "inside", "--inside-blocks", "9", "--contrast", "fast-slow=1", "--backend", "score"], "9"),
    (["--feature", "abc"], "abc"),
    (["--feature", "12=nan"], "nan"),
    (["--feature", "99999=1"], "99999"),  # past any SAE here, the shipped MiniLM one too
    (["--duration", "nan"], "nan"),
    (["--duration", "100"], "100"),
    (["--window", "wide"], "wide"),
    (["--steering", "magic"], "magic"),
    (["--seed", "x1"], "x1"),
    (["--n", "0"], "0"),
    (["--prompt", "pad=nan"], "nan"),
    (["--backend", "huge"], "huge"),
    (["--backend", "stable-audio", "--feature", "1=1"], "--sae"),
    (["--sae", "/nonexistent/sae"], "/nonexistent/sae"),
])
def test_bad_values_one_line_error(tmp_path, capsys, flags, needle):
    code, out, err = run_cli(["render", *flags, "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_unwritable_out_dir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = run_cli(["render", "--out", str(blocker / "sub")], capsys)
    assert code == 2 and str(blocker / "sub") in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(importlib.util.find_spec("bridge.commands") is None, reason="bridge.commands not present yet")
def test_console_script_entry(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "render", "--backend", "tiny", "--prompt", "pad",
                           "--duration", "1", "--steps", "2", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1].endswith(".wav")
