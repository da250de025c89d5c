"""Stable Audio 3 weights between Stability's stable-audio-tools layout (`model.safetensors` +
`model_config.json`) and diffusers' components. Pure functions: state dicts and dicts in and out.

Learned from diffusers' `scripts/convert_stable_audio_3_to_diffusers.py` (not in the pip package):
- SAME autoencoder under `pretransform.model.`: encoder TRBs `encoder.layers.{i}` -> `encoder.blocks.{i}`,
  then a Transpose and the Linear `encoder.layers.{n+1}` -> `encoder.proj`; the decoder is
  [Transpose, Linear, Transpose, TRB...]: `decoder.layers.1` -> `decoder.proj`, `decoder.layers.{3+i}` ->
  `decoder.blocks.{i}`; inside each TRB's transformers `pre_norm/self_attn/ff_norm/ff.ff.0.proj/ff.ff.2`
  -> `norm_attn/attn/norm_ff/ff.proj_in/ff.proj_out`; bottleneck `scaling_factor` -> `scale`.
- Differential self-attention's fused QKV rows: [q|k|v|q2|k2] there, [q|q2|k|k2|v] here.
- DiT under `model.model.` (its inner transformer's `layers.{i}` -> `transformer_blocks.{i}`, `project_in/out`
  -> `proj_in/out`); the prompt padding embedding moves from the conditioner onto the DiT.
- Duration embedder: `conditioner.conditioners.seconds_total.embedder.embedding.1` -> `linear` (its
  `freqs` buffer is the module's own); text encoder: `conditioner.conditioners.prompt.model.*`.
- Hyper-parameters the weights cannot show (SAME strides, window, sinusoidal blocks) come from
  model_config.json; the rest are read off tensor shapes.
"""
from __future__ import annotations

import math

import torch

OBJECTIVES = ("rf_denoiser", "rectified_flow")  # distilled (8 re-noising steps), base (100 Euler steps)
DEFAULT_TEXT_ENCODER = "google/t5gemma-b-b-ul2"

AE = "pretransform.model."
DIT = "model.model."
TEXT = "conditioner.conditioners.prompt.model."
PAD = "conditioner.conditioners.prompt.padding_embedding"
DURATION = "conditioner.conditioners.seconds_total.embedder.embedding.1."

# Inside one TRB transformer layer: stable-audio-tools prefix -> diffusers prefix.
TRB_LAYER = (("pre_norm.", "norm_attn."), ("self_attn.", "attn."), ("ff_norm.", "norm_ff."),
             ("ff.ff.0.proj.", "ff.proj_in."), ("ff.ff.2.", "ff.proj_out."))
# Inside one DiT block only the feed-forward is renamed.
DIT_LAYER = (("ff.ff.0.proj.", "ff.proj_in."), ("ff.ff.2.", "ff.proj_out."))
DIT_TOP = {"transformer.project_in.": "proj_in.", "transformer.project_out.": "proj_out.",
           "transformer.memory_tokens": "memory_tokens", "transformer.rotary_pos_emb.": "rotary_pos_emb.",
           "transformer.global_cond_embedder.": "global_cond_embedder."}


class CheckpointError(ValueError):
    """The checkpoint or its model_config.json is not a Stable Audio 3 one; the message says why."""


def rename_prefix(key: str, table, reverse: bool = False) -> str:
    for src, dst in table:
        if reverse:
            src, dst = dst, src
        if key.startswith(src):
            return dst + key[len(src):]
    return key


def reorder_qkv(weight, to_diffusers: bool = True):
    """Differential attention's fused QKV rows: [q|k|v|q2|k2] <-> [q|q2|k|k2|v]."""
    a, b, c, d, e = weight.chunk(5, dim=0)
    return torch.cat([a, d, b, e, c] if to_diffusers else [a, c, e, b, d], dim=0)


def is_differential(qkv, width: int) -> bool:
    return qkv.shape[0] == 5 * width


# ---------------------------------------------------------------------------------------- SAME autoencoder
def trb_to_diffusers(local: str) -> str:
    """`mapping.*`, `new_tokens`, `transformers.{j}.<renamed>` inside one TRB."""
    if local.startswith("transformers."):
        j, rest = local[len("transformers."):].split(".", 1)
        return f"transformers.{j}." + rename_prefix(rest, TRB_LAYER)
    return local


def trb_from_diffusers(local: str) -> str:
    if local.startswith("transformers."):
        j, rest = local[len("transformers."):].split(".", 1)
        return f"transformers.{j}." + rename_prefix(rest, TRB_LAYER, reverse=True)
    return local


def count_trbs(sd: dict, base: str) -> int:
    n = 0
    while f"{base}.{n}.new_tokens" in sd:
        n += 1
    return n


def vae_to_diffusers(sd: dict) -> dict:
    n = count_trbs(sd, AE + "encoder.layers")
    if n == 0:
        raise CheckpointError("no SAME autoencoder in the checkpoint (no pretransform.model.encoder.layers.0.new_tokens)")
    spans = [(f"{AE}encoder.layers.{i}.", f"encoder.blocks.{i}.", True) for i in range(n)]
    spans += [(f"{AE}decoder.layers.{3 + i}.", f"decoder.blocks.{i}.", True) for i in range(n)]
    spans += [(f"{AE}encoder.layers.{n + 1}.", "encoder.proj.", False), (f"{AE}decoder.layers.1.", "decoder.proj.", False)]
    out = {}
    for key, value in sd.items():
        for src, dst, trb in spans:
            if key.startswith(src):
                local = key[len(src):]
                out[dst + (trb_to_diffusers(local) if trb else local)] = value
                break
        else:
            if key.startswith(AE + "bottleneck."):
                name = key[len(AE + "bottleneck."):]
                out["bottleneck." + ("scale" if name == "scaling_factor" else name)] = value
    return fix_qkv(out, to_diffusers=True)


def vae_from_diffusers(sd: dict) -> dict:
    n = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("encoder.blocks."))
    out = {}
    for key, value in sd.items():
        part, rest = key.split(".", 1)
        if part in ("encoder", "decoder") and rest.startswith("blocks."):
            i, local = rest[len("blocks."):].split(".", 1)
            index = int(i) if part == "encoder" else 3 + int(i)
            out[f"{AE}{part}.layers.{index}.{trb_from_diffusers(local)}"] = value
        elif part in ("encoder", "decoder") and rest.startswith("proj."):
            index = n + 1 if part == "encoder" else 1
            out[f"{AE}{part}.layers.{index}.{rest[len('proj.'):]}"] = value
        elif part == "bottleneck":
            out[f"{AE}bottleneck.{'scaling_factor' if rest == 'scale' else rest}"] = value
        else:
            raise CheckpointError(f"unexpected autoencoder key {key!r}")
    return fix_qkv(out, to_diffusers=False)


def fix_qkv(sd: dict, to_diffusers: bool) -> dict:
    """Reorder every differential fused self-attention QKV (the width is its to_out's)."""
    for key in [k for k in sd if k.endswith("attn.to_qkv.weight") and "cross" not in k]:
        width = sd[key[: -len("to_qkv.weight")] + "to_out.weight"].shape[0]
        if is_differential(sd[key], width):
            sd[key] = reorder_qkv(sd[key], to_diffusers)
    return sd


# ---------------------------------------------------------------------------------------- DiT
def dit_to_diffusers(sd: dict) -> dict:
    out = {}
    blocks = DIT + "transformer.layers."
    for key, value in sd.items():
        if key.startswith(blocks):
            i, local = key[len(blocks):].split(".", 1)
            out[f"transformer_blocks.{i}.{rename_prefix(local, DIT_LAYER)}"] = value
        elif key.startswith(DIT):
            local = key[len(DIT):]
            out[rename_prefix(local, DIT_TOP.items())] = value
    if PAD in sd:
        out["prompt_padding_embedding"] = sd[PAD]
    if not out:
        raise CheckpointError("no DiT in the checkpoint (no model.model.* keys)")
    return fix_qkv(out, to_diffusers=True)


def dit_from_diffusers(sd: dict) -> dict:
    out = {}
    for key, value in fix_qkv(dict(sd), to_diffusers=False).items():
        if key == "prompt_padding_embedding":
            out[PAD] = value
        elif key.startswith("transformer_blocks."):
            i, local = key[len("transformer_blocks."):].split(".", 1)
            out[f"{DIT}transformer.layers.{i}.{rename_prefix(local, DIT_LAYER, reverse=True)}"] = value
        else:
            out[DIT + rename_prefix(key, DIT_TOP.items(), reverse=True)] = value
    return out


# ---------------------------------------------------------------------------------------- the rest
def duration_to_diffusers(sd: dict) -> dict:
    return {"linear." + k[len(DURATION):]: v for k, v in sd.items() if k.startswith(DURATION)}


def duration_from_diffusers(sd: dict) -> dict:
    return {DURATION + k[len("linear."):]: v for k, v in sd.items() if k.startswith("linear.")}


def text_encoder_weights(sd: dict) -> dict:
    """The T5Gemma encoder's weights where the checkpoint carries them (empty when it does not)."""
    return {k[len(TEXT):]: v for k, v in sd.items() if k.startswith(TEXT)}


def to_diffusers(sd: dict) -> dict[str, dict]:
    return {"vae": vae_to_diffusers(sd), "transformer": dit_to_diffusers(sd),
            "duration_embedder": duration_to_diffusers(sd), "text_encoder": text_encoder_weights(sd)}


def from_diffusers(parts: dict[str, dict]) -> dict:
    """The inverse of `to_diffusers` (buffers a module computes itself, like `freqs`, are left out)."""
    out = {**vae_from_diffusers(parts["vae"]), **dit_from_diffusers(parts["transformer"]),
           **duration_from_diffusers(parts["duration_embedder"])}
    out.update({TEXT + k: v for k, v in parts.get("text_encoder", {}).items()})
    return out


# ---------------------------------------------------------------------------------------- configs
def dig(config: dict, *path, default=None):
    for key in path:
        if not isinstance(config, dict) or key not in config:
            return default
        config = config[key]
    return config


def conditioner(model_config: dict, cond_id: str) -> dict:
    for entry in dig(model_config, "model", "conditioning", "configs", default=[]) or []:
        if isinstance(entry, dict) and entry.get("id") == cond_id:
            return entry.get("config") or {}
    return {}


def objective(model_config: dict) -> str:
    """`rf_denoiser` (distilled) or `rectified_flow` (base); absent reads as base, as diffusers' converter does."""
    value = dig(model_config, "model", "diffusion_objective") or model_config.get("diffusion_objective") or "rectified_flow"
    if value not in OBJECTIVES:
        raise CheckpointError(f"diffusion_objective {value!r} is not a Stable Audio 3 one ({' or '.join(OBJECTIVES)})")
    return value


def text_encoder_name(model_config: dict) -> str:
    cfg = conditioner(model_config, "prompt")
    return next((cfg[k] for k in ("t5gemma_model_name", "model_name", "t5_model_name") if cfg.get(k)),
                DEFAULT_TEXT_ENCODER)


def vae_config(model_config: dict, parts: dict) -> dict:
    ae = dig(model_config, "model", "pretransform", "config")
    enc = dig(ae, "encoder", "config")
    if not isinstance(enc, dict) or not {"channels", "strides", "c_mults", "transformer_depths"} <= set(enc):
        raise CheckpointError("model_config.json has no SAME autoencoder (model.pretransform.config.encoder.config "
                              "with channels, c_mults, strides, transformer_depths)")
    sd = parts["vae"]
    width = sd["encoder.blocks.0.transformers.0.attn.to_out.weight"].shape[0]
    strides = [int(s) for s in enc["strides"]]
    window = enc.get("sliding_window") or [1]
    return {"audio_channels": int(ae.get("io_channels", 2)),
            "patch_size": int(ae["downsampling_ratio"]) // math.prod(strides),
            "encoder_channels": int(enc["channels"]), "encoder_c_mults": [int(c) for c in enc["c_mults"]],
            "encoder_strides": strides, "encoder_transformer_depths": [int(d) for d in enc["transformer_depths"]],
            "latent_dim": int(enc.get("latent_dim", sd["bottleneck.scale"].shape[1])),
            "use_differential_attention": is_differential(sd["encoder.blocks.0.transformers.0.attn.to_qkv.weight"], width),
            "dim_heads": int(enc.get("dim_heads", sd["encoder.blocks.0.transformers.0.attn.q_norm.gamma"].shape[0])),
            "ff_mult": sd["encoder.blocks.0.transformers.0.ff.proj_in.weight"].shape[0] // (2 * width),
            "sliding_window": int(window[0]),
            "encoder_sinusoidal_blocks": list(enc.get("sinusoidal_blocks", [0] * len(strides))),
            "decoder_sinusoidal_blocks": list(dig(ae, "decoder", "config", "sinusoidal_blocks",
                                                  default=[0] * len(strides))),
            "sampling_rate": int(model_config.get("sample_rate", 44100))}


def dit_config(parts: dict) -> dict:
    sd = parts["transformer"]
    embed, features = sd["to_timestep_embed.0.weight"].shape
    depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("transformer_blocks."))
    head = sd["transformer_blocks.0.self_attn.q_norm.gamma"].shape[0]
    ff = sd["transformer_blocks.0.ff.proj_in.weight"].shape[0] / (2 * embed)
    return {"io_channels": sd["preprocess_conv.weight"].shape[0], "patch_size": 1, "embed_dim": embed, "depth": depth,
            "num_heads": embed // head, "cond_token_dim": sd["to_cond_embed.0.weight"].shape[1],
            "global_cond_dim": sd["to_global_embed.0.weight"].shape[1],
            "local_add_cond_dim": sd["transformer_blocks.0.to_local_embed.0.weight"].shape[1],
            "timestep_features_dim": features, "ff_mult": float(ff),
            "num_memory_tokens": sd["memory_tokens"].shape[0],
            "use_differential_attention": is_differential(sd["transformer_blocks.0.self_attn.to_qkv.weight"], embed)}


def duration_config(model_config: dict, parts: dict) -> dict:
    out_dim, fourier = parts["duration_embedder"]["linear.weight"].shape
    cfg = conditioner(model_config, "seconds_total")
    return {"output_dim": out_dim, "fourier_dim": fourier, "min_val": float(cfg.get("min_val", 0.0)),
            "max_val": float(cfg.get("max_val", 384.0))}


def component_configs(model_config: dict, parts: dict) -> dict:
    """Constructor arguments of AutoencoderSAME, StableAudio3DiTModel and StableAudio3DurationEmbedder."""
    if not isinstance(model_config, dict) or model_config.get("model_type", "diffusion_cond") != "diffusion_cond":
        raise CheckpointError("model_config.json is not a text-to-audio diffusion config (model_type diffusion_cond)")
    try:
        return {"vae": vae_config(model_config, parts), "transformer": dit_config(parts),
                "duration_embedder": duration_config(model_config, parts)}
    except (KeyError, ValueError, IndexError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"the weights do not look like Stable Audio 3 (missing {exc})") from None


def model_config_for(configs: dict, objective_name: str, text_encoder: str, max_length: int) -> dict:
    """A stable-audio-tools model_config.json describing diffusers components (the inverse of `component_configs`)."""
    vae, dit, dur = configs["vae"], configs["transformer"], configs["duration_embedder"]
    strides = list(vae["encoder_strides"])
    same = {"channels": vae["encoder_channels"], "c_mults": list(vae["encoder_c_mults"]), "strides": strides,
            "transformer_depths": list(vae["encoder_transformer_depths"]), "latent_dim": vae["latent_dim"],
            "dim_heads": vae["dim_heads"], "sliding_window": [vae["sliding_window"]] * 2}
    return {
        "model_type": "diffusion_cond", "sample_rate": vae["sampling_rate"], "audio_channels": vae["audio_channels"],
        "model": {
            "pretransform": {"type": "autoencoder", "config": {
                "io_channels": vae["audio_channels"], "latent_dim": vae["latent_dim"],
                "downsampling_ratio": vae["patch_size"] * math.prod(strides),
                "encoder": {"type": "same", "config": {**same, "sinusoidal_blocks": list(vae["encoder_sinusoidal_blocks"])}},
                "decoder": {"type": "same", "config": {**same, "sinusoidal_blocks": list(vae["decoder_sinusoidal_blocks"])}}}},
            "conditioning": {"cond_dim": dit["cond_token_dim"], "configs": [
                {"id": "prompt", "type": "t5gemma", "config": {"model_name": text_encoder, "max_length": max_length}},
                {"id": "seconds_total", "type": "number", "config": {"min_val": dur["min_val"], "max_val": dur["max_val"]}}]},
            "diffusion": {"type": "dit", "cross_attention_cond_ids": ["prompt", "seconds_total"],
                          "global_cond_ids": ["seconds_total"],
                          "config": {k: dit[k] for k in ("io_channels", "embed_dim", "depth", "num_heads",
                                                         "cond_token_dim", "global_cond_dim")}},
            "io_channels": dit["io_channels"],
            "diffusion_objective": objective_name}}


def scheduler(stochastic: bool = True):
    # Distilled checkpoints (`rf_denoiser`): x0 = x - sigma * v, then re-noise with fresh noise at every
    # step; base checkpoints (`rectified_flow`): deterministic Euler. The DiT takes timesteps in [0, 1],
    # so the schedule's sigmas are passed through unscaled.
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, stochastic_sampling=stochastic)
