"""`latent-synth analysis corpus|encode|train|sweep|stability`: the SAE pipeline's commands.

Heavy imports happen inside each command so `--help` stays fast.
"""
from __future__ import annotations

import json
from pathlib import Path

from analysis.ray_cluster import add_ray_flags
from synth.encoder_ids import KINDS

DEFAULT_CORPORA = "../shared/corpora"


def add_score_corpus_flag(p) -> None:
    p.add_argument("--score-corpus", metavar="DIR", default=None,
                   help="also take every caption of this score-model corpus (written by `analysis score-corpus`)")


def _add_training_flags(p, multi: bool = False) -> None:
    """Flags shared by train, sweep and stability (sweep takes lists for the swept ones)."""
    from synth.sae import ARCHS

    p.add_argument("--activations", required=True, metavar="DIR", help="folder written by `analysis encode`")
    p.add_argument("--arch", choices=ARCHS, default="topk", help="SAE architecture (default topk)")
    nargs = "+" if multi else None
    p.add_argument("--expansion", type=int, nargs=nargs, default=[16] if multi else 16,
                   help="d_sae = expansion x d_in (default 16)")
    p.add_argument("--k", type=int, nargs=nargs, default=[64] if multi else 64,
                   help="active latents per sample (TopK@k at inference for relu-l1; default 64)")
    p.add_argument("--l1", type=float, nargs=nargs, default=[3e-3] if multi else 3e-3,
                   help="relu-l1: L1 coefficient (weighted by decoder-row norm; default 3e-3)")
    p.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 1e-3 / sqrt(d_sae / 16384))")
    p.add_argument("--batch-size", type=int, default=256, help="minibatch size (default 256)")
    p.add_argument("--lr-decay", type=float, default=0.2,
                   help="fraction of training at the end with a linear lr decay to 0 (default 0.2)")
    p.add_argument("--mse-epochs", type=int, default=None,
                   help="relu-l1: MSE-only epochs before the L1 ramp (default epochs//4)")
    p.add_argument("--aux-k", type=int, default=None, help="topk/batchtopk: AuxK latents (default d_in/2)")
    p.add_argument("--aux-relu", action="store_true",
                   help="topk/batchtopk: ReLU on the AuxK activations (Gao et al.); default uses raw pre-activations")
    p.add_argument("--val-fraction", type=float, default=0.05, help="held-out fraction (default 0.05)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--dense", action="store_true", help="use the plain dense decoder (reference speed)")
    if not multi:
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def register(sub) -> None:
    p = sub.add_parser("corpus", help="build the prompt corpus: real captions + probing sets")
    p.add_argument("--sources", default=DEFAULT_CORPORA, metavar="DIR",
                   help=f"folder in the shared/corpora layout (default {DEFAULT_CORPORA})")
    p.add_argument("--out", required=True, metavar="FILE", help="corpus.jsonl to write")
    p.add_argument("--only", nargs="+", metavar="SOURCE", default=None,
                   help="read only these sources (default: all)")
    p.add_argument("--no-probes", action="store_true", help="leave out the generated probing sets")
    add_score_corpus_flag(p)
    p.set_defaults(func=cmd_corpus)

    p = sub.add_parser("encode", help="encode a corpus into pooled text-encoder vectors (cached, resumable)")
    p.add_argument("--corpus", required=True, metavar="FILE", help="corpus.jsonl")
    p.add_argument("--encoder", choices=KINDS, default="minilm",
                   help="t5 (Stable Audio Open's), t5gemma (Stable Audio 3's), minilm (the score model's), or the "
                        "tiny stand-ins tiny and tiny-t5gemma (exactly the tiny and tiny-sa3 backends' encoders)")
    p.add_argument("--model-id", default=None,
                   help="Hub id or folder (t5: google-t5/t5-base; t5gemma: google/t5gemma-b-b-ul2, or a Stable "
                        "Audio 3 pipeline folder); an integer seed for the tiny encoders")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--chunk-size", type=int, default=2048, help="rows per resumable chunk file")
    p.add_argument("--device", default=None)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("sae-heldout", help="an SAE's reconstruction error on held-out (musician) prompts, as a "
                                           "fraction of its training corpus's variance")
    p.add_argument("--sae", required=True, metavar="DIR", help="SAE folder")
    p.add_argument("--activations", required=True, metavar="DIR",
                   help="the training corpus encoded (`analysis encode`; the sliders command's OUT/activations)")
    p.add_argument("--prompts", default=None, metavar="FILE",
                   help="YAML with a 'prompts:' list (default tests/fixtures/musician_prompts.yaml)")
    p.add_argument("--drop-source", action="append", default=[], metavar="PREFIX",
                   help="leave rows whose source starts with PREFIX out of the corpus (to measure an SAE that was "
                        "trained on a subset, e.g. 'score:' for one trained without score captions); repeatable")
    p.add_argument("--encoder", choices=KINDS, default="minilm", help="the SAE's text encoder (default minilm)")
    p.add_argument("--model-id", default=None, help="the encoder's weights (Hub id or folder)")
    p.add_argument("--write", action="store_true", help="add the figures to SAE/metrics.json")
    p.add_argument("--device", default=None)
    p.set_defaults(func=cmd_sae_heldout)

    p = sub.add_parser("train", help="train a sparse autoencoder on encoded activations")
    _add_training_flags(p)
    p.add_argument("--out", required=True, metavar="SAE_DIR")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sweep", help="train one SAE per setting; table of FVU, L0, dead fraction + plot")
    _add_training_flags(p, multi=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--save-saes", action="store_true", help="also keep each trained SAE under DIR/saes/")
    add_ray_flags(p, actors=False)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("stability", help="train one SAE per seed and match features across seeds")
    _add_training_flags(p)
    p.set_defaults(seed=None)
    p.add_argument("--seeds", type=int, nargs="+", required=True)
    p.add_argument("--threshold", type=float, default=0.7, help="cosine above which a match counts (default 0.7)")
    p.add_argument("--out", required=True, metavar="DIR")
    add_ray_flags(p, actors=False)
    p.set_defaults(func=cmd_stability)

    _register_dit_sae(sub)


def _register_dit_sae(sub) -> None:
    from analysis.steering.cli import _engine_flags, _resume_flags

    p = sub.add_parser("dit-sae", help="an SAE on the DiT's own activations, screened by effect beside the text SAE")
    p.add_argument("--out", required=True, help="output folder (sae/, screen_dit/, screen_text/, report.md)")
    p.add_argument("--captions", type=int, default=1500, help="score-corpus captions rendered (default 1500)")
    p.add_argument("--corpus-seed", type=int, default=0, help="the caption generator's seed (default 0)")
    p.add_argument("--held-apart", type=float, default=0.1, help="fraction of captions held apart for FVU (default 0.1)")
    p.add_argument("--site", choices=["cross", "residual"], default="cross", help="where to read (default cross)")
    p.add_argument("--blocks", default="2", metavar="B,B", help="DiT blocks to read (default 2)")
    p.add_argument("--expansion", type=int, default=4, help="d_sae = expansion x width (default 4)")
    p.add_argument("--k", type=int, default=16, help="active features per row (default 16)")
    p.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    p.add_argument("--seed", type=int, default=0, help="training and hold-out seed (default 0)")
    p.add_argument("--screen", type=int, default=40, help="features screened per SAE (default 40)")
    p.add_argument("--screen-seeds", type=int, default=4, help="seeds per pole in the screen (default 4)")
    p.add_argument("--screen-seed", type=int, default=0, help="first screen seed (default 0)")
    p.add_argument("--strength", type=float, default=3.0, help="screen strength ±S (default 3)")
    p.add_argument("--prompt", default="a gentle melody with chords and a bass line", help="the screen's prompt")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _engine_flags(p)
    p.set_defaults(duration=5.0)
    _resume_flags(p, "OUT/screen_*/feature_cache")
    p.set_defaults(func=cmd_dit_sae)


def cmd_dit_sae(args) -> int:
    from analysis.sae.dit_sae import run

    return run(args)


def cmd_corpus(args) -> int:
    from analysis.sae.corpus import build_corpus, count_by_source, write_jsonl

    rows, dropped = build_corpus(args.sources, include=args.only, probes=not args.no_probes,
                                 score_corpus=args.score_corpus)
    write_jsonl(rows, args.out)
    counts = count_by_source(rows)
    width = max(len(s) for s in counts) if counts else 6
    print(f"{'source':<{width}}  {'rows':>7}  {'duplicates dropped':>18}")
    for source in sorted(set(counts) | set(dropped), key=lambda s: -counts.get(s, 0)):
        print(f"{source:<{width}}  {counts.get(source, 0):>7}  {dropped.get(source, 0):>18}")
    print(f"{'total':<{width}}  {len(rows):>7}  {sum(dropped.values()):>18}")
    print(f"wrote {args.out}")
    return 0


def cmd_sae_heldout(args) -> int:
    import torch

    from analysis.plots import write_json
    from analysis.sae.activations import load_activations
    from analysis.sae.corpus import rows_sha256
    from analysis.sae.encode import encoder_factory
    from analysis.sae.heldout import (DEFAULT_PROMPTS, METRICS_KEY, in_corpus, load_prompts, prompts_sha256,
                                      reconstruction_figures, total_variance)
    from synth.sae import load_sae

    sae_dir = Path(args.sae)
    sae = load_sae(sae_dir, device="cpu")
    prompts_path = Path(args.prompts or DEFAULT_PROMPTS)
    prompts = load_prompts(prompts_path)
    acts = load_activations(args.activations)
    keep = [i for i, r in enumerate(acts.rows) if not any(r["source"].startswith(p) for p in args.drop_source)]
    rows = [acts.rows[i] for i in keep]
    clash = in_corpus(prompts, (r["text"] for r in rows))
    if clash:
        raise ValueError(f"{len(clash)} held-out prompt(s) are in the corpus, so they are not held out: {clash[:3]}")
    meta = sae.metadata or {}
    same_corpus = rows_sha256(rows) == meta.get("corpus_hash")
    enc_name, factory = encoder_factory(args.encoder, args.model_id, args.device)
    if enc_name != meta.get("encoder") or enc_name != acts.index.get("encoder"):
        raise ValueError(f"encoder mismatch: SAE {meta.get('encoder')}, activations {acts.index.get('encoder')}, "
                         f"prompts {enc_name}")
    x = factory().encode_pooled(prompts).to(torch.float32).cpu()
    variance = total_variance(acts.embeddings[keep])
    figures = reconstruction_figures(sae, x, variance)
    figures.update({"corpus_variance": variance, "corpus_rows": len(rows), "corpus_is_training_corpus": same_corpus,
                    "in_corpus": 0, "prompts_file": prompts_path.name, "prompts_sha256": prompts_sha256(prompts)})
    print(f"{sae_dir}: {figures['n']} prompts from {prompts_path.name}: squared error / corpus variance "
          f"{figures['error_over_corpus_variance']:.4f}, mean cosine {figures['mean_cosine']:.4f} "
          f"(worst {figures['worst_cosine']:.4f}); corpus {len(rows)} rows, variance {variance:.5f}, "
          f"{'the' if same_corpus else 'NOT the'} corpus this SAE was trained on")
    if args.write:
        metrics_path = sae_dir / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        metrics[METRICS_KEY] = figures
        write_json(metrics_path, metrics)
        print(f"wrote {metrics_path}")
    return 0


def cmd_encode(args) -> int:
    from analysis.sae.encode import encode_corpus, encoder_factory

    name, factory = encoder_factory(args.encoder, args.model_id, args.device)
    res = encode_corpus(args.corpus, factory, args.out,
                        encoder_name=name, batch_size=args.batch_size,
                        chunk_size=args.chunk_size, progress=not args.quiet)
    if res.cached:
        print(f"up to date: {res.out_dir} already holds {name} vectors of this corpus "
              f"({res.n_rows} rows, {res.n_refused} refused); nothing to do")
    else:
        print(f"encoded {res.n_encoded} rows ({res.n_rows} in corpus); refused {res.n_refused} non-finite rows; "
              f"wrote {res.out_dir}")
    return 0


def _config_from_args(args, **over):
    from analysis.sae.trainer import TrainConfig

    fields = dict(arch=args.arch, expansion=args.expansion, k=args.k, l1=args.l1, epochs=args.epochs, lr=args.lr,
                  batch_size=args.batch_size, lr_decay=args.lr_decay, mse_epochs=args.mse_epochs, aux_k=args.aux_k, aux_relu=args.aux_relu,
                  val_fraction=args.val_fraction, seed=args.seed, device=args.device, sparse=not args.dense,
                  progress=not args.quiet)
    fields.update(over)
    return TrainConfig(**fields)


def set_threads(args) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def cmd_train(args) -> int:
    from analysis.sae.activations import load_activations
    from analysis.sae.trainer import train_and_save

    set_threads(args)
    acts = load_activations(args.activations)
    result = train_and_save(acts, _config_from_args(args), args.out)
    m = result.metrics
    print(json.dumps({k: m[k] for k in ("fvu", "mse", "l0", "dead_fraction", "epochs", "samples_per_second")
                      if k in m}))
    print(f"wrote {Path(args.out)}")
    return 0


def cmd_sweep(args) -> int:
    from analysis.sae.activations import load_activations
    from analysis.sae.sweep import run_sweep

    set_threads(args)
    acts = load_activations(args.activations)
    table = run_sweep(acts, _config_from_args(args, expansion=None, k=None, l1=None), args.out,
                      l1s=args.l1, ks=args.k, expansions=args.expansion, save_saes=args.save_saes,
                      ray_address=getattr(args, "ray", None))
    print((Path(args.out) / "sweep.md").read_text())
    print(f"wrote {len(table)} settings to {args.out}")
    return 0


def cmd_stability(args) -> int:
    from analysis.sae.activations import load_activations
    from analysis.sae.stability import run_stability

    set_threads(args)
    acts = load_activations(args.activations)
    report = run_stability(acts, _config_from_args(args, seed=0), args.seeds, args.out, threshold=args.threshold,
                           ray_address=getattr(args, "ray", None))
    print(json.dumps({k: report[k] for k in ("n_seeds", "threshold", "mean_fraction_matched", "median_cosine")}))
    print(f"wrote {args.out}")
    return 0
