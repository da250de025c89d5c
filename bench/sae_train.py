"""Training speed: the project's sparse TopK trainer against a plain dense PyTorch TopK loop.

Both runs use the same data, split, seed, tied init, AuxK and optimiser; the only difference is how
the k active latents are encoded and decoded (gather + embedding_bag vs dense matrices). Prints the
samples/s and held-out FVU of each and the speed ratio.

    python bench/sae_train.py --activations runs/minilm --expansion 16 --k 64 --epochs 12
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from analysis.sae.trainer import TrainConfig, train_sae  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--activations", default="runs/minilm", help="folder from `analysis encode`")
    ap.add_argument("--arch", default="topk", choices=("topk", "batchtopk"))
    ap.add_argument("--expansion", type=int, default=16)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--max-rows", type=int, default=None, help="use only the first N rows")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from analysis.sae.activations import load_activations

    x = load_activations(args.activations).embeddings
    if args.max_rows:
        x = x[: args.max_rows]
    base = TrainConfig(arch=args.arch, expansion=args.expansion, k=args.k, epochs=args.epochs,
                       batch_size=args.batch_size, lr=args.lr, device=args.device, progress=True)
    results = {}
    for label, sparse in (("dense", False), ("sparse", True)):
        m = train_sae(x, replace(base, sparse=sparse)).metrics
        results[label] = {k: m[k] for k in ("samples_per_second", "fvu", "dead_fraction", "l0", "train_seconds")}
        print(f"{label:>6}: {m['samples_per_second']:9.1f} samples/s  held-out FVU {m['fvu']:.4f}  "
              f"dead {100 * m['dead_fraction']:.2f}%  ({m['train_seconds']:.1f} s training)", flush=True)
    ratio = results["sparse"]["samples_per_second"] / results["dense"]["samples_per_second"]
    results["speedup"] = ratio
    results["setup"] = {"rows": int(x.shape[0]), "d_in": int(x.shape[1]), **vars(args),
                        "torch_threads": torch.get_num_threads()}
    print(f"speedup (sparse / dense samples/s): {ratio:.2f}x;  FVU difference "
          f"{results['sparse']['fvu'] - results['dense']['fvu']:+.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
