"""One table of engine flags for every command that builds an engine, and backends that declare themselves."""
import sys

import pytest

from synth.backends import NAMES, load_backend, spec_for
from synth.engine_flags import ENGINE_FLAGS, config_from_flags

# A value each flag accepts, and what the config then holds.
GIVEN = {"backend": ("tiny-sa3", "tiny-sa3"), "model_id": ("some/model", "some/model"), "size": ("small", "small"),
         "soundfont": ("/x/gm.sf2", "/x/gm.sf2"), "device": ("cpu", "cpu"), "dtype": ("float32", "float32"),
         "cpu_offload": (None, True), "quantize": ("int8", "int8"), "compile": (None, True),
         "sae": ("/x/sae", "/x/sae"), "dit_sae": ("/x/dit", "/x/dit"), "sde_noise": ("steps", "steps")}
COMMANDS = {"render": [], "serve": [], "midi-replay": ["f.mid", "--out", "o"],
            "analysis validate": ["--out", "o"], "analysis validate-preset": ["p"], "analysis sonify": ["--out", "o"]}


def parser():
    from bridge.cli import build_parser

    return build_parser()


def argv_for(keys):
    out = []
    for key in keys:
        flag = next(f.flag for f in ENGINE_FLAGS if f.key == key)
        value = GIVEN[key][0]
        out += [flag] if value is None else [flag, value]
    return out


def test_the_table_covers_every_engine_field_of_the_config():
    assert {f.key for f in ENGINE_FLAGS} == set(GIVEN)


def test_compile_can_be_turned_off_on_every_command():
    for command, extra in COMMANDS.items():
        assert config_from_flags(parser().parse_args([*command.split(), *extra, "--no-compile"])).compile is False
        assert config_from_flags(parser().parse_args([*command.split(), *extra])).compile is None


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_takes_every_engine_flag(command):
    args = parser().parse_args([*command.split(), *COMMANDS[command], *argv_for(GIVEN)])
    config = config_from_flags(args)
    assert {k: getattr(config, k) for k in GIVEN} == {k: want for k, (_, want) in GIVEN.items()}


def test_flags_left_off_keep_the_config():
    args = parser().parse_args(["serve"])
    config = config_from_flags(args)
    from synth.config import load_config

    assert config == load_config()


def test_a_bad_choice_is_one_line_naming_the_flag(capsys):
    from bridge.cli import main

    assert main(["render", "--dtype", "float8", "--out", "o"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dtype 'float8'" in err[0]


def test_specs_say_what_each_backend_takes_and_offers():
    assert set(NAMES) == {"tiny", "tiny-sa3", "random-full", "random-full-sa3", "stable-audio", "stable-audio-3",
                          "score"}
    noise = {n for n in NAMES if spec_for(n).random_weights}
    assert noise == {"tiny", "tiny-sa3", "random-full", "random-full-sa3"}
    assert all("random weights" in spec_for(n).report_note() for n in noise)
    assert spec_for("score").writes_score and spec_for("score").bundled_sae and "our own" in spec_for("score").report_note()
    assert spec_for("stable-audio").report_note() is None
    with pytest.raises(ValueError, match="unknown backend 'huge'"):
        spec_for("huge")


def test_load_backend_passes_only_the_options_a_spec_declares():
    # `size` reaches random-full-sa3 only; the tiny loader takes no size and would fail on one.
    family = load_backend("tiny", device="cpu", size="small", soundfont="/nowhere.sf2")
    assert family.spec is spec_for("tiny") and family.defaults == spec_for("tiny").defaults


def test_importing_the_registry_and_the_flags_stays_cheap():
    import subprocess

    code = "import sys, synth.backends, synth.engine_flags, synth.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
