"""`analysis sliders`: from a backend's text encoder to feature sliders that are ready to play.

    latent-synth analysis sliders --backend stable-audio-3 --out runs/sa3_sliders
    latent-synth analysis sliders --encoder minilm --out runs/minilm_sliders

One command runs the whole chain, each step resumable because the steps it wraps are:
1. build the prompt corpus (`analysis corpus`)            -> DIR/corpus.jsonl   (kept if present)
2. encode it with that backend's own text encoder          -> DIR/activations    (cached by encoder + corpus)
3. train the default SAE (`analysis train`)                -> DIR/sae            (kept if trained on these)
4. run the atlas                                           -> DIR/atlas
5. with --backend: the effect screen (`analysis.sae.effect_screen`): each of --screen candidate
   features rendered at ±S over a few seeds and measured; sliders are the large, selective effects,
   named by what they do ("brighter (piano)": measured effect, atlas label beside) -> DIR/screen
   (with --encoder alone nothing can be rendered: sliders are named after their top prompts)
6. label the SAE's features with their top prompts and measured effect
                                                            -> SAE/labels.json (what /synth/feature/info says)
   and write the preset                                     -> DIR/presets/NAME.yaml
7. with --backend: `validate-preset` over --validate-n seeds writes the preset's validation block;
   a slider whose named effect is not confirmed (Holm p < 0.05, named direction) is dropped, saying why.

The SAE records the encoder's identity, so the engine accepts it only on backends with that encoder.
`--sae DIR` screens an SAE that already exists (e.g. a backend's bundled one) instead of training.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from analysis.ray_cluster import add_ray_flags
from analysis.sae.cli import add_score_corpus_flag, set_threads
from analysis.sae.slider_steps import STEPS

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


def feature_labels(atlas: dict, names: dict[int, str], effects: dict[int, str] | None = None) -> dict:
    """labels.json: per feature its top prompts (and slider name, and the effect screen's measured
    effect where screened), for `/synth/feature/info`."""
    effects = effects or {}
    return {"correlational": True, "note": atlas.get("note", ""),
            "features": {str(x["id"]): {"top": [t["text"] for t in x["top"][:LABEL_PROMPTS]],
                                        "density": round(x["density"], 6),
                                        **({"name": names[x["id"]]} if x["id"] in names else {}),
                                        **({"effect": effects[x["id"]]} if x["id"] in effects else {})}
                         for x in atlas["features"] if x["top"]}}


# ------------------------------------------------------------------ steps
def labels_top(atlas: dict, fid: int) -> list[str]:
    return next([t["text"] for t in x["top"]] for x in atlas["features"] if x["id"] == fid)


def atlas_from_labels(path: Path) -> dict:
    """An atlas (the fields choose_sliders and feature_labels read) from an SAE's labels.json."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        feats = data["features"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"--reuse-labels: cannot read {path}: {exc}") from None
    features = [{"id": int(k), "top": [{"text": t, "source": ""} for t in v["top"]], "density": float(v["density"]),
                 "selectivity": None, "mean_activation": 0.0} for k, v in feats.items()]
    return {"note": data.get("note", ""), "features": sorted(features, key=lambda x: x["id"])}


def build_corpus_step(out: Path, sources: str, only: Sequence[str] | None, probes: bool = True,
                      score_corpus: str | None = None) -> Path:
    from analysis.sae.corpus import build_corpus, write_jsonl

    path = out / "corpus.jsonl"
    if path.is_file():
        print(f"1/{STEPS} corpus: reusing {path} (delete it to rebuild)")
        return path
    rows, dropped = build_corpus(sources, include=only, probes=probes, score_corpus=score_corpus)
    write_jsonl(rows, path)
    also = f" and the captions of {score_corpus}" if score_corpus else ""
    print(f"1/{STEPS} corpus: {len(rows)} prompts from {sources}{also} ({sum(dropped.values())} duplicates dropped)")
    return path


def encoder_for(args):
    """(encoder identity, factory) for --backend (the backend's own encoder) or --encoder."""
    if args.encoder:
        from analysis.sae.encode import encoder_factory

        return encoder_factory(args.encoder, args.model_id, args.device)
    from synth.backends import load_backend

    family = load_backend(args.backend, args.model_id, args.device or "auto")
    return family.encoder_id, lambda: family.encoder


def train_step(acts, out: Path, args) -> Path:
    import torch

    from analysis.sae.trainer import TrainConfig, train_and_save
    from synth.sae import SAEFileError, load_sae, save_sae

    if getattr(args, "sae", None):
        sae_dir = Path(args.sae)
        meta = load_sae(sae_dir).metadata or {}
        if meta.get("encoder") not in (None, acts.index.get("encoder")):
            raise ValueError(f"--sae {sae_dir}: trained on {meta.get('encoder')}, not {acts.index.get('encoder')}")
        print(f"3/{STEPS} SAE: using {sae_dir} (--sae; not trained here)")
        return sae_dir
    sae_dir = out / "sae"
    try:
        old = load_sae(sae_dir)
        meta = old.metadata or {}
        if meta.get("encoder") == acts.index.get("encoder") and meta.get("corpus_hash") == acts.index.get("corpus_sha256"):
            print(f"3/{STEPS} SAE: reusing {sae_dir} (trained on these activations)")
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
    print(f"3/{STEPS} SAE: {cfg.arch} {cfg.expansion}x k={cfg.k}, {cfg.epochs} epochs: held-out FVU {m['fvu']:.4f}, "
          f"dead {100 * m['dead_fraction']:.1f}% -> {sae_dir}")
    return sae_dir


def run(args) -> int:
    from analysis.sae.activations import load_activations
    from analysis.sae.atlas import build_atlas, write_outputs
    from analysis.sae.encode import encode_corpus
    from analysis.sae.codes import encode_codes
    from synth.atomic_io import atomic_write_text
    from synth.preset_sae import loaded_sae, record_for
    from synth.presets import Preset, Slider, save_preset_file, validate_name
    from synth.sae import load_sae
    from analysis.sae.effect_screen import slider_label
    from analysis.sae.slider_steps import effect_text, parse_contrasts, screen_seeds, screen_step, validate_step
    from synth.state import Contrast, PromptSlot, SynthState

    if bool(args.backend) == bool(args.encoder):
        raise ValueError("give exactly one of --backend NAME and --encoder NAME")
    if args.sliders < 1 or args.strength <= 0:
        raise ValueError(f"--sliders must be >= 1 and --strength > 0, got {args.sliders} and {args.strength}")
    set_threads(args)
    label = args.backend or args.encoder
    name = validate_name(args.preset or f"{label}-sliders")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    if args.reuse_labels:
        if not args.sae:
            raise ValueError("--reuse-labels reads the atlas from an existing SAE's labels.json: give --sae DIR too")
        sae_dir = Path(args.sae)
        sae = load_sae(sae_dir, device="cpu")
        atlas = atlas_from_labels(sae_dir / "labels.json")
        enc_name = (sae.metadata or {}).get("encoder", "?")
        print(f"1-4/{STEPS} atlas: {len(atlas['features'])} labelled features from {sae_dir / 'labels.json'} "
              f"(--reuse-labels: no corpus encoded)")
    else:
        corpus = build_corpus_step(out, args.sources, args.only, probes=not args.no_probes, score_corpus=args.score_corpus)
        enc_name, factory = encoder_for(args)
        res = encode_corpus(corpus, factory, out / "activations", encoder_name=enc_name, progress=True)
        print(f"2/{STEPS} encode: {res.n_rows} prompts with {enc_name} "
              f"({'cached' if res.cached else f'{res.n_encoded} encoded'}) -> {res.out_dir}")
        acts = load_activations(out / "activations")
        sae_dir = train_step(acts, out, args)

        sae = load_sae(sae_dir, device="cpu")
        codes = encode_codes(sae, acts.embeddings, progress=True)
        atlas = build_atlas(codes, acts.rows, top=10, progress=True)
        write_outputs(out / "atlas", atlas, {"sae": str(sae_dir), "activations": str(out / "activations"),
                                             "encoder": enc_name}, 50)
        print(f"4/{STEPS} atlas: {atlas['d_sae']} features over {atlas['n_prompts']} prompts ({atlas['n_dead']} dead) "
              f"-> {out / 'atlas'}")

    W_dec = sae.W_dec.detach().float().numpy()
    labels = {x["id"]: slider_name([t["text"] for t in x["top"]]) for x in atlas["features"] if x["top"]}
    contrasts = parse_contrasts(args.contrast or [])
    if args.backend and args.screen > 0:
        ids = choose_sliders(atlas["features"], W_dec, args.screen, about=args.about or ())
        rows, chosen = screen_step(args, out, sae_dir, atlas, ids, labels, contrasts)
        names = {r["id"]: slider_label(r) for r in chosen}
        effects = {r["id"]: effect_text(r, len(screen_seeds(args))) for r in rows if isinstance(r["id"], int)}
    else:
        ids = choose_sliders(atlas["features"], W_dec, args.sliders, about=args.about or ())
        chosen, names, effects = [{"id": f, "address": f"/synth/feature/{f}", "strength": args.strength} for f in ids], {}, {}
        chosen += [{"id": c, "address": f"/synth/contrast/{c}", "strength": args.contrast_strength} for c in contrasts]
        taken: set[str] = set(contrasts)
        for fid in ids:
            names[fid] = slider_name(labels_top(atlas, fid), taken)
            taken.add(names[fid])
        names.update({c: c for c in contrasts})
    feature_names = {k: v for k, v in names.items() if isinstance(k, int)}
    atomic_write_text(sae_dir / "labels.json",
                      json.dumps(feature_labels(atlas, feature_names, effects), indent=1) + "\n")
    fids = [r["id"] for r in chosen if isinstance(r["id"], int)]
    state = SynthState(prompts=[PromptSlot(args.prompt, 1.0)], features={fid: 0.0 for fid in fids},
                       contrasts={c: Contrast(*contrasts[c], 0.0) for c in contrasts
                                  if any(r["id"] == c for r in chosen)},
                       duration=args.duration, name=name)
    sliders = [Slider(names[r["id"]], r["address"], -r["strength"], r["strength"]) for r in chosen]
    how = ("named by the effect each measurably has (atlas label beside; screen in DIR/screen, validation below)"
           if effects else "named after the prompts each feature fires on most (correlational; measure them with "
                           "`analysis validate-preset`)")
    description = args.description or (f"{len(sliders)} sliders for {label} (encoder {enc_name}), {how}. "
                                       f"Play with --sae {sae_dir}.")
    preset_path = out / "presets" / f"{name}.yaml"
    preset = Preset(name=name, state=state, sliders=sliders, description=description)
    preset.sae = record_for(preset, loaded_sae(sae, str(sae_dir)))  # its feature ids are this SAE's
    save_preset_file(preset, preset_path)
    print(f"6/{STEPS} sliders: {', '.join(f'{s.name} ({s.address})' for s in sliders) or 'none found'} -> {preset_path}")
    if args.backend and args.validate_n > 0 and sliders:
        validate_step(args, out, preset_path, sae_dir, {names[r["id"]]: r.get("agreeing") for r in chosen})
    elif len(ids) < args.sliders:
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
    add_score_corpus_flag(p)
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--expansion", type=int, default=16, help="SAE width as a multiple of the encoder's (default 16)")
    p.add_argument("--k", type=int, default=64, help="active features per prompt (default 64)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--sliders", type=int, default=8, help="how many sliders the preset gets (default 8)")
    p.add_argument("--strength", type=float, default=4.0, help="each slider's range is ±this (default 4)")
    p.add_argument("--prompt", default="music", help="the preset's prompt (default 'music')")
    p.add_argument("--preset", metavar="NAME", default=None, help="preset name (default BACKEND-sliders)")
    p.add_argument("--description", default=None, help="the preset's description (default: says how it was made)")
    p.add_argument("--about", nargs="+", metavar="WORD", default=None,
                   help="sliders only from features whose prompts are mostly about these words (e.g. the "
                        "instruments and qualities a model knows)")
    p.add_argument("--sae", metavar="DIR", default=None,
                   help="screen this existing SAE (trained on the backend's encoder, e.g. a bundled one) instead of "
                        "training one; its labels.json is rewritten")
    p.add_argument("--reuse-labels", action="store_true",
                   help="with --sae: take the atlas (top prompts, density) from the SAE's labels.json instead of "
                        "building and encoding a corpus")
    p.add_argument("--screen", type=int, default=64, metavar="N",
                   help="with --backend: candidate features the effect screen renders (default 64; 0 = no screen)")
    p.add_argument("--screen-seeds", type=int, default=4, metavar="N", help="seeds per pole in the screen (default 4)")
    p.add_argument("--screen-seed", type=int, default=1000, metavar="N",
                   help="first screen seed (default 1000: apart from validation's 0..N-1)")
    p.add_argument("--min-d", type=float, default=None, help="screen: smallest |d| that makes a slider (default 0.8)")
    p.add_argument("--min-selectivity", type=float, default=None,
                   help="screen: smallest |d| over the mean |d| of the other features (default 1.5)")
    p.add_argument("--contrast", action="append", metavar="NAME=POS|NEG",
                   help="also screen (and offer) a text contrast slider, e.g. 'fast-slow=fast|slow' (repeatable)")
    p.add_argument("--contrast-strength", type=float, default=3.0, help="contrast sliders span ±this (default 3)")
    p.add_argument("--duration", type=float, default=5.0, help="clip length of the screen, validation and preset (default 5)")
    p.add_argument("--validate-n", type=int, default=100, metavar="N",
                   help="with --backend: seeds per slider end for validate-preset (default 100; 0 = skip)")
    p.add_argument("--batch", type=int, default=8, help="seeds rendered per engine call (default 8)")
    p.add_argument("--jobs", type=int, default=None, help="processes for feature extraction (default: all cores)")
    p.add_argument("--cache", metavar="DIR", help="per-clip feature cache (default: OUT/screen/feature_cache, "
                                                  "OUT/validation/feature_cache)")
    p.add_argument("--fresh", action="store_true", help="ignore the feature cache")
    add_ray_flags(p)
    p.add_argument("--half", action="store_true", help="store the SAE in float16 (half the size; for shipping)")
    p.add_argument("--device", default=None)
    p.set_defaults(func=run)
