"""`analysis sliders`: from a backend's text encoder to feature sliders that are ready to play.

    latent-synth analysis sliders --backend stable-audio-3 --out runs/sa3_sliders
    latent-synth analysis sliders --encoder minilm --out runs/minilm_sliders

One command runs the whole chain, each step resumable because the steps it wraps are:
1. build the prompt corpus (`analysis corpus`)            -> DIR/corpus.jsonl   (kept if present)
2. encode it with that backend's own text encoder          -> DIR/activations    (cached by encoder + corpus)
3. train the default SAE (`analysis train`)                -> DIR/sae            (kept if trained on these)
4. run the atlas                                           -> DIR/atlas
5. label the SAE's features with their top prompts         -> DIR/sae/labels.json (what /synth/feature/info says)
   and write a preset whose sliders are the most distinct labelled features, named after their top
   prompts                                                  -> DIR/presets/NAME.yaml

The SAE records the encoder's identity, so the engine accepts it only on backends with that encoder.
Labels are correlational (which prompts a feature fires on), not proof of what it does to sound:
`analysis validate-preset` measures that.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

DEFAULT_SOURCES = "../shared/corpora"
LABEL_PROMPTS = 5          # top prompts kept per feature in labels.json
DENSITY_RANGE = (0.002, 0.2)  # sliders: features that fire on enough prompts, but not on everything
MAX_COSINE = 0.3           # sliders: decoder directions no closer than this to one already chosen
STOPWORDS = frozenset("""a an and are as at be by for from in into is it its of on or the this to with while
    some someone something there then that which who very sound sounds music song track playing plays played
    being being background""".split())


# ------------------------------------------------------------------ pure: names and choice
def slider_name(prompts: Sequence[str], taken: set[str] | None = None) -> str:
    """A short name from the words a feature's top prompts share ("piano-solo"); unique within `taken`."""
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    for text in prompts:
        for word in dict.fromkeys(re.findall(r"[a-z][a-z'-]+", text.lower())):
            if len(word) > 2 and word not in STOPWORDS:
                counts[word] += 1
                first.setdefault(word, len(first))
    words = sorted(counts, key=lambda w: (-counts[w], first[w]))[:2]
    base = "-".join(words) or "feature"
    name, n = base, 2
    while taken is not None and name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def coherence(prompts: Sequence[str]) -> float:
    """The share of a feature's top prompts that contain its most common content word: a slider is easy
    to name, and to hear, when its prompts agree on what it is about."""
    if not prompts:
        return 0.0
    counts: Counter[str] = Counter()
    for text in prompts:
        counts.update({w for w in re.findall(r"[a-z][a-z'-]+", text.lower()) if len(w) > 2 and w not in STOPWORDS})
    return counts.most_common(1)[0][1] / len(prompts) if counts else 0.0


def choose_sliders(features: Sequence[dict], W_dec: np.ndarray, n: int,
                   density_range: tuple[float, float] = DENSITY_RANGE, max_cosine: float = MAX_COSINE,
                   about: Sequence[str] = ()) -> list[int]:
    """The ids of up to `n` labelled features that are most distinct. Candidates fire on a moderate share
    of prompts and learned mostly from real captions (not the templated probing sets); the most coherent
    go first (then the most selective, then the most strongly active), skipping any whose decoder
    direction has |cosine| > max_cosine with one already chosen. With `about`, only features whose top
    prompts' most common word is one of those words qualify (e.g. the instruments a model knows)."""
    lo, hi = density_range
    about = {w.lower() for w in about}

    def from_captions(x) -> bool:
        return sum(not str(t.get("source", "")).startswith("probe") for t in x["top"]) * 2 >= len(x["top"])

    def on_topic(x) -> bool:
        return not about or slider_name([t["text"] for t in x["top"]]).split("-")[0] in about

    candidates = [x for x in features if x["top"] and lo <= x["density"] <= hi and from_captions(x) and on_topic(x)]
    candidates.sort(key=lambda x: (-round(coherence([t["text"] for t in x["top"]]), 1), -(x["selectivity"] or 0.0),
                                   -x["mean_activation"], x["id"]))
    unit = W_dec / np.maximum(np.linalg.norm(W_dec, axis=1, keepdims=True), 1e-12)
    chosen: list[int] = []
    for x in candidates:
        if all(abs(float(unit[x["id"]] @ unit[c])) <= max_cosine for c in chosen):
            chosen.append(x["id"])
            if len(chosen) == n:
                break
    return chosen


def feature_labels(atlas: dict, names: dict[int, str]) -> dict:
    """labels.json: per feature its top prompts (and slider name), for `/synth/feature/info`."""
    return {"correlational": True, "note": atlas.get("note", ""),
            "features": {str(x["id"]): {"top": [t["text"] for t in x["top"][:LABEL_PROMPTS]],
                                        "density": round(x["density"], 6), **({"name": names[x["id"]]} if x["id"] in names else {})}
                         for x in atlas["features"] if x["top"]}}


# ------------------------------------------------------------------ steps
def build_corpus_step(out: Path, sources: str, only: Sequence[str] | None, probes: bool = True) -> Path:
    from analysis.sae.corpus import build_corpus, write_jsonl

    path = out / "corpus.jsonl"
    if path.is_file():
        print(f"1/5 corpus: reusing {path} (delete it to rebuild)")
        return path
    rows, dropped = build_corpus(sources, include=only, probes=probes)
    write_jsonl(rows, path)
    print(f"1/5 corpus: {len(rows)} prompts from {sources} ({sum(dropped.values())} duplicates dropped)")
    return path


def encoder_for(args):
    """(encoder identity, factory) for --backend (the backend's own encoder) or --encoder."""
    if args.encoder:
        from synth.encoders import encoder_name, load_encoder

        return encoder_name(args.encoder, args.model_id), lambda: load_encoder(args.encoder, args.model_id, args.device)
    from synth.backends import load_backend

    family = load_backend(args.backend, args.model_id, args.device or "auto")
    return family.encoder_id, lambda: family.encoder


def train_step(acts, out: Path, args) -> Path:
    import torch

    from analysis.sae.trainer import TrainConfig, train_and_save
    from synth.sae import SAEFileError, load_sae, save_sae

    sae_dir = out / "sae"
    try:
        old = load_sae(sae_dir)
        meta = old.metadata or {}
        if meta.get("encoder") == acts.index.get("encoder") and meta.get("corpus_hash") == acts.index.get("corpus_sha256"):
            print(f"3/5 SAE: reusing {sae_dir} (trained on these activations)")
            if args.half and old.W_dec.dtype != torch.float16:
                save_sae(old.half(), sae_dir)
            return sae_dir
    except (SAEFileError, OSError):
        pass
    cfg = TrainConfig(expansion=args.expansion, k=args.k, epochs=args.epochs, device=args.device)
    result = train_and_save(acts, cfg, sae_dir)
    if args.half:  # a shipped SAE: half the bytes; loading on a CPU computes in float32 again
        save_sae(result.sae.half(), sae_dir)
    m = result.metrics
    print(f"3/5 SAE: {cfg.arch} {cfg.expansion}x k={cfg.k}, {cfg.epochs} epochs: held-out FVU {m['fvu']:.4f}, "
          f"dead {100 * m['dead_fraction']:.1f}% -> {sae_dir}")
    return sae_dir


def run(args) -> int:
    from analysis.sae.activations import load_activations
    from analysis.sae.atlas import build_atlas, write_outputs
    from analysis.sae.encode import encode_corpus
    from analysis.sae.codes import encode_codes
    from synth.atomic_io import atomic_write_text
    from synth.presets import Preset, Slider, save_preset_file, validate_name
    from synth.sae import load_sae
    from synth.state import PromptSlot, SynthState

    if bool(args.backend) == bool(args.encoder):
        raise ValueError("give exactly one of --backend NAME and --encoder NAME")
    if args.sliders < 1 or args.strength <= 0:
        raise ValueError(f"--sliders must be >= 1 and --strength > 0, got {args.sliders} and {args.strength}")
    label = args.backend or args.encoder
    name = validate_name(args.preset or f"{label}-sliders")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    corpus = build_corpus_step(out, args.sources, args.only, probes=not args.no_probes)
    enc_name, factory = encoder_for(args)
    res = encode_corpus(corpus, factory, out / "activations", encoder_name=enc_name, progress=True)
    print(f"2/5 encode: {res.n_rows} prompts with {enc_name} "
          f"({'cached' if res.cached else f'{res.n_encoded} encoded'}) -> {res.out_dir}")
    acts = load_activations(out / "activations")
    sae_dir = train_step(acts, out, args)

    sae = load_sae(sae_dir, device="cpu")
    codes = encode_codes(sae, acts.embeddings, progress=True)
    atlas = build_atlas(codes, acts.rows, top=10, progress=True)
    write_outputs(out / "atlas", atlas, {"sae": str(sae_dir), "activations": str(out / "activations"),
                                         "encoder": enc_name}, 50)
    print(f"4/5 atlas: {atlas['d_sae']} features over {atlas['n_prompts']} prompts ({atlas['n_dead']} dead) "
          f"-> {out / 'atlas'}")

    W_dec = sae.W_dec.detach().float().numpy()
    ids = choose_sliders(atlas["features"], W_dec, args.sliders, about=args.about or ())
    taken: set[str] = set()
    names = {}
    for fid in ids:
        names[fid] = slider_name([t["text"] for t in atlas["features"][fid]["top"]], taken)
        taken.add(names[fid])
    atomic_write_text(sae_dir / "labels.json", json.dumps(feature_labels(atlas, names), indent=1) + "\n")
    state = SynthState(prompts=[PromptSlot(args.prompt, 1.0)], features={fid: 0.0 for fid in ids}, name=name)
    sliders = [Slider(names[fid], f"/synth/feature/{fid}", -args.strength, args.strength) for fid in ids]
    description = (f"{len(ids)} SAE feature sliders for {label} (encoder {enc_name}), named after the prompts each "
                   f"feature fires on most (correlational; measure them with `analysis validate-preset`). "
                   f"Play with --sae {sae_dir}.")
    preset_path = out / "presets" / f"{name}.yaml"
    save_preset_file(Preset(name=name, state=state, sliders=sliders, description=description), preset_path)
    print(f"5/5 sliders: {', '.join(f'{names[f]} (#{f})' for f in ids) or 'none found'} -> {preset_path}")
    if len(ids) < args.sliders:
        print(f"note: only {len(ids)} features passed the density {DENSITY_RANGE} and distinctness "
              f"(|cos| <= {MAX_COSINE}) filters")
    return 0


def register(sub) -> None:
    p = sub.add_parser("sliders", help="one command from a text encoder to playable SAE feature sliders",
                       description=__doc__.split("\n\n")[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--backend", metavar="NAME", help="use this backend's own text encoder")
    which.add_argument("--encoder", metavar="NAME", help="or a text encoder by kind (t5, t5gemma, minilm, ...)")
    p.add_argument("--model-id", metavar="ID", default=None, help="the backend's or encoder's weights (Hub id or folder)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--sources", default=DEFAULT_SOURCES, metavar="DIR", help=f"caption corpora (default {DEFAULT_SOURCES})")
    p.add_argument("--only", nargs="+", metavar="SOURCE", default=None, help="read only these corpus sources")
    p.add_argument("--no-probes", action="store_true", help="leave out the generated probing sets")
    p.add_argument("--expansion", type=int, default=16, help="SAE width as a multiple of the encoder's (default 16)")
    p.add_argument("--k", type=int, default=64, help="active features per prompt (default 64)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--sliders", type=int, default=8, help="how many sliders the preset gets (default 8)")
    p.add_argument("--strength", type=float, default=4.0, help="each slider's range is ±this (default 4)")
    p.add_argument("--prompt", default="music", help="the preset's prompt (default 'music')")
    p.add_argument("--preset", metavar="NAME", default=None, help="preset name (default BACKEND-sliders)")
    p.add_argument("--about", nargs="+", metavar="WORD", default=None,
                   help="sliders only from features whose prompts are mostly about these words (e.g. the "
                        "instruments and qualities a model knows)")
    p.add_argument("--half", action="store_true", help="store the SAE in float16 (half the size; for shipping)")
    p.add_argument("--device", default=None)
    p.set_defaults(func=run)
