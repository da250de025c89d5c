"""Write a tiny random Stable Audio 3 checkpoint in Stability's stable-audio-tools layout.

    python bench/make_sa3_checkpoint.py DIR                              # distilled (rf_denoiser)
    python bench/make_sa3_checkpoint.py DIR --objective rectified_flow   # base

DIR gets `model.safetensors` (the `tiny-sa3` weights, text encoder included, mapped back by the inverse
of our conversion) and `model_config.json`. `latent-synth render --backend stable-audio-3 --model-id DIR`
then converts it as it would a published checkpoint, and renders what `--backend tiny-sa3` renders.
The weights are random: the audio is noise.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from synth.atomic_io import atomic_path, atomic_write_text, current_umask  # noqa: E402
from synth.encoder_ids import TINY_T5GEMMA_ID  # noqa: E402
from synth.families import sa3_keys  # noqa: E402


def write_checkpoint(folder: Path, objective: str = "rf_denoiser") -> Path:
    from safetensors.torch import save_file

    from synth.hf_quiet import quiet
    from synth.families.stable_audio_3 import tiny_components

    with quiet():
        parts = tiny_components()
    names = ("vae", "transformer", "duration_embedder", "text_encoder")
    state = sa3_keys.from_diffusers({k: parts[k].state_dict() for k in names})
    configs = {k: dict(parts[k].config) for k in ("vae", "transformer", "duration_embedder")}
    model_config = sa3_keys.model_config_for(configs, objective, TINY_T5GEMMA_ID, parts["tokenizer"].model_max_length)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
        tmp.chmod(0o666 & ~current_umask())  # safetensors writes a private file; this is an ordinary one
    atomic_write_text(folder / "model_config.json", json.dumps(model_config, indent=2) + "\n")
    return folder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir", type=Path, help="folder to write model.safetensors and model_config.json into")
    p.add_argument("--objective", choices=sa3_keys.OBJECTIVES, default="rf_denoiser",
                   help="rf_denoiser: distilled, 8 steps (default); rectified_flow: base, 100 Euler steps")
    args = p.parse_args(argv)
    print(write_checkpoint(args.dir, args.objective))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
