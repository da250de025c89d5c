"""SAE trainings as Ray tasks: under `--ray`, `sweep` and `stability` train one SAE per task (one
setting, or one seed), with one GPU each (`num_gpus=1`) when the cluster has GPUs, else one CPU.
The activations go into Ray's object store once and every task reads them from there.

A task runs `train_sae` exactly as the in-process loop does; its torch uses the threads Ray gives
the task (one per CPU it holds), so a result can differ from an in-process run's in float
rounding (thread count changes reduction order), not in anything else.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from analysis.ray_cluster import cluster_gpus, ray_session, run_with_retries


def _train(x, cfg, metadata):
    from analysis.sae.trainer import train_sae

    return train_sae(x, cfg, metadata=metadata)


class _Tasks:
    """Dispatcher that submits every training at once; Ray queues them by their resources."""

    def __init__(self, fn, x_ref, metadata):
        self.fn, self.x_ref, self.metadata = fn, x_ref, metadata

    def has_room(self) -> bool:
        return True

    def submit(self, item):
        _name, cfg = item
        return self.fn.remote(self.x_ref, cfg, self.metadata)

    def done(self, ref, error) -> None:
        pass


def train_on_ray(address: str, x: np.ndarray, runs: Sequence[tuple[str, object]], metadata: dict | None,
                 on_result: Callable[[str, object, object], None], desc: str, resume_hint: str = "") -> None:
    """Train every (name, TrainConfig) as a Ray task; on_result(name, cfg, TrainResult) runs here as
    each finishes. A failed training is retried once; what fails twice is named in the error."""
    from tqdm import tqdm

    with ray_session(address) as ray:
        wants_gpu = all((cfg.device or "cuda").startswith("cuda") for _, cfg in runs)
        options = {"num_gpus": 1} if wants_gpu and cluster_gpus(ray) else {"num_cpus": 1}
        fn = ray.remote(_train).options(max_retries=0, **options)
        x_ref = ray.put(np.ascontiguousarray(x, dtype=np.float32))
        items = [(name, replace(cfg, progress=False)) for name, cfg in runs]
        with tqdm(total=len(items), desc=f"{desc} (ray)", unit="SAE") as bar:
            outcome = run_with_retries(ray, items, _Tasks(fn, x_ref, metadata),
                                       lambda item, result: on_result(item[0], item[1], result),
                                       lambda item: item[0], bar)
    if outcome.retried:
        print(f"ray: {len(outcome.retried)} training(s) retried after a worker failed: {', '.join(outcome.retried)}")
    if outcome.missing:
        names = "; ".join(f"{item[0]} ({reason})" for item, reason in outcome.missing)
        raise ValueError(f"could not train {len(outcome.missing)} SAE(s): {names}{resume_hint}")
