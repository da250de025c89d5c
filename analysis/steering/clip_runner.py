"""Render clips and measure their features: in this process, or on a Ray cluster.

The unit of work is a `Chunk`: one engine call (one state at a batch of seeds, or a batch of states
at one seed each). Both runners split the work into the same chunks, so a seed is rendered in the
same batch either way and gives the same samples, and the same feature code measures it: a Ray
run's features equal an in-process run's, bit for bit on the same kind of CPU. Across device kinds
(and on GPUs, whose kernels are not guaranteed bit-reproducible) the renders differ by the device's
rounding, and the features by what that rounding moves.

- `LocalRunner` (the default): renders each chunk in this process while a process pool measures
  the chunks already rendered.
- `RayRunner` (`--ray`): one actor per GPU (`num_gpus=1`) or per CPU; each builds its engine once
  from the config and renders and measures whole chunks, returning only the features (and the
  audio when asked). A chunk whose worker fails is retried once elsewhere, and the run says so.
"""
from __future__ import annotations

import os
import sys
from collections import deque
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Sequence

import numpy as np

from analysis.steering.acoustic_features import FeaturePool, FileResult, default_jobs, measure_clip, worker_died
from analysis.steering.feature_cache import RenderIdentity
from analysis.ray_cluster import (
    RunOutcome, cluster_cpus, cluster_gpus, failure_reason, ray_session, run_with_retries,
)


@dataclass(frozen=True)
class Chunk:
    """One engine call. With `seeds`: engine.render(states[0], seeds).audio; without: engine.render_states(states)."""
    names: tuple[str, ...]
    states: tuple
    seeds: tuple[int, ...] | None = None

    @classmethod
    def of_seeds(cls, label: str, state, seeds: Sequence[int]) -> "Chunk":
        seeds = tuple(int(s) for s in seeds)
        return cls(tuple(clip_name(label, s) for s in seeds), (state,), seeds)

    @classmethod
    def of_states(cls, names: Sequence[str], states: Sequence) -> "Chunk":
        return cls(tuple(names), tuple(states), None)

    def __len__(self) -> int:
        return len(self.names)

    def clips(self) -> list[tuple[str, object, int]]:
        """(name, state, seed) of every clip, in order."""
        if self.seeds is not None:
            return [(n, self.states[0], s) for n, s in zip(self.names, self.seeds)]
        return [(n, st, st.seed) for n, st in zip(self.names, self.states)]

    def describe(self) -> str:
        if self.seeds is not None:
            label = self.names[0].rsplit("/", 1)[0]
            return f"{label} seeds {_ranges(self.seeds)}"
        return f"clips {', '.join(self.names[:3])}{' ...' if len(self.names) > 3 else ''}"


def clip_name(label: str, seed: int) -> str:
    return f"{label}/seed_{seed:06d}"


def _ranges(values: Sequence[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0..2, 5, 7..8'."""
    out, values = [], sorted(values)
    start = prev = values[0]
    for v in values[1:] + [None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        out.append(str(start) if start == prev else f"{start}..{prev}")
        if v is not None:
            start = prev = v
    return ", ".join(out)


@dataclass(frozen=True)
class EngineInfo:
    """What the analysis jobs need to know about an engine, without holding it (it may be remote)."""
    backend: str
    model_id: str | None
    sae_id: str | None
    d_sae: int | None
    sample_rate: int
    window: str | None = None
    device: str | None = None
    node: str | None = None
    default_steps: int | None = None   # what a state that leaves steps / cfg unset renders with
    default_cfg: float | None = None
    sae_identity: dict | None = field(default=None, compare=False)  # synth.preset_sae.loaded_sae
    dit_blocks: int | None = None      # blocks inside steering can act at (None: no DiT to steer)

    @classmethod
    def of(cls, engine, backend: str | None = None, node: str | None = None) -> "EngineInfo":
        sae = getattr(engine, "sae", None)
        defaults = getattr(engine, "defaults", None)
        return cls(backend=backend or getattr(engine, "kind", None), model_id=getattr(engine, "model_id", None),
                   sae_id=getattr(engine, "sae_id", None), d_sae=sae.d_sae if sae is not None else None,
                   sample_rate=int(engine.sample_rate), window=getattr(engine, "window", None),
                   device=getattr(engine, "device", None), node=node,
                   default_steps=getattr(defaults, "steps", None), default_cfg=getattr(defaults, "cfg", None),
                   sae_identity=getattr(engine, "sae_identity", None), dit_blocks=getattr(engine, "dit_blocks", None))

    def resolve(self, state):
        """The state with unset steps / cfg filled in as the engine will render it (for reports)."""
        return state.with_defaults(self.default_steps, self.default_cfg)

    def identity(self) -> RenderIdentity:
        return RenderIdentity(self.backend, self.model_id, self.sae_id, self.window)


def render_chunk(engine, chunk: Chunk) -> np.ndarray:
    if chunk.seeds is not None:
        return np.asarray(engine.render(chunk.states[0], seeds=list(chunk.seeds)).audio)
    return np.asarray(engine.render_states(list(chunk.states)))


def measure_chunk(names: Sequence[str], audio: np.ndarray, sample_rate: int) -> list[FileResult]:
    return [measure_clip(name, clip, sample_rate) for name, clip in zip(names, audio)]


# on_done(chunk, results or None, audio [B, 2, N] or None), called in this process as chunks finish
OnDone = Callable[[Chunk, "list[FileResult] | None", "np.ndarray | None"], None]


class LocalRunner:
    """In-process: render chunk k+1 while a process pool measures chunk k."""

    def __init__(self, engine, backend: str | None = None, jobs: int | None = None):
        self.engine = engine
        self.info = EngineInfo.of(engine, backend)
        self.jobs = jobs
        self.workers = 1

    def run(self, chunks: Sequence[Chunk], on_done: OnDone, measure: bool = True, keep_audio: bool = False,
            desc: str = "render") -> RunOutcome:
        from tqdm import tqdm

        total = sum(len(c) for c in chunks)
        jobs = default_jobs() if self.jobs is None else max(1, int(self.jobs))
        use_pool = measure and jobs > 1 and len(chunks) > 1
        sr = self.info.sample_rate
        pool_cm = FeaturePool(min(jobs, len(chunks))) if use_pool else nullcontext()
        pending: deque = deque()
        with tqdm(total=total, desc=desc, unit="clip") as bar, pool_cm as pool:
            def finish(chunk, results, audio):
                on_done(chunk, results, audio if keep_audio or not measure else None)
                bar.update(len(chunk))

            def harvest(block: bool) -> None:
                while pending and (block or pending[0][1].done() or len(pending) > 2 * jobs):
                    chunk, fut, audio = pending.popleft()
                    args = (chunk.names, audio, sr)
                    finish(chunk, pool.outcome(fut, measure_chunk, args, worker_died(chunk.names)), audio)

            try:
                for chunk in chunks:
                    audio = render_chunk(self.engine, chunk)
                    if not measure:
                        finish(chunk, None, audio)
                    elif pool is None:
                        finish(chunk, measure_chunk(chunk.names, audio, sr), audio)
                    else:
                        # the audio stays until its results are in: a chunk whose worker died is measured again
                        pending.append((chunk, pool.submit(measure_chunk, chunk.names, audio, sr), audio))
                        harvest(block=False)
            except Exception:
                harvest(block=True)   # keep (and cache) what was already rendered, then fail
                raise
            harvest(block=True)
        return RunOutcome()

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class EngineFactory:
    """Picklable recipe for an engine: each Ray actor calls it once."""
    config: object

    def __call__(self):
        from synth.engine import build_engine

        return build_engine(self.config)


class ClipWorker:
    """The Ray actor's body (wrapped with ray.remote at run time, so Ray stays optional)."""

    def __init__(self, factory: Callable[[], object], backend: str | None):
        self.engine = factory()
        self.backend = backend

    def info(self) -> EngineInfo:
        import ray

        node = ray.get_runtime_context().get_node_id()
        return replace(EngineInfo.of(self.engine, self.backend), node=f"{node[:8]} pid {os.getpid()}")

    def run(self, chunk: Chunk, measure: bool, keep_audio: bool):
        audio = render_chunk(self.engine, chunk)
        results = measure_chunk(chunk.names, audio, self.engine.sample_rate) if measure else None
        return results, (audio if keep_audio or not measure else None)


class _ActorPool:
    """Dispatcher over actors: at most `depth` chunks in flight per actor (one queued behind the
    running one hides the round trip); an actor that died is replaced by a fresh one."""

    def __init__(self, make_actor, actors: list, measure: bool, keep_audio: bool, depth: int = 2):
        self.make_actor = make_actor
        self.actors = list(actors)
        self.load = [0] * len(actors)
        self.where: dict = {}
        self.measure, self.keep_audio, self.depth = measure, keep_audio, depth

    def has_room(self) -> bool:
        return min(self.load) < self.depth

    def submit(self, chunk: Chunk):
        i = int(np.argmin(self.load))
        ref = self.actors[i].run.remote(chunk, self.measure, self.keep_audio)
        self.where[ref] = (i, self.actors[i])
        self.load[i] += 1
        return ref

    def done(self, ref, error) -> None:
        import ray

        i, actor = self.where.pop(ref)
        self.load[i] -= 1
        if isinstance(error, ray.exceptions.RayActorError) and self.actors[i] is actor:
            self.actors[i] = self.make_actor()   # the old one is gone; its other calls fail and retry too


class RayRunner:
    """Actors across a Ray cluster, each with its own engine built once from the config."""

    def __init__(self, ray, factory: Callable[[], object], backend: str | None, actors: int | None = None,
                 device: str | None = None):
        self.ray = ray
        gpus = 0 if (device or "").startswith("cpu") else cluster_gpus(ray)
        cpus = cluster_cpus(ray)
        n = int(actors) if actors else (gpus or cpus)
        if n < 1:
            raise ValueError(f"--ray-actors must be at least 1, got {n}")
        if gpus:
            options = {"num_gpus": 1, "num_cpus": 1}
            if n > gpus:   # an autoscaling cluster adds nodes for them; a fixed one never starts them
                print(f"ray: {n} actors want one GPU each and the cluster has {gpus} now; waiting for more",
                      file=sys.stderr)
        else:   # share the CPUs out (fractions when there are more actors than CPUs), so every actor starts
            options = {"num_cpus": cpus // n if n <= cpus else cpus / n}
        remote_cls = ray.remote(ClipWorker).options(max_restarts=0, max_concurrency=1, **options)
        self._make = lambda: remote_cls.remote(factory, backend)
        self.workers = n
        self._actors = [self._make() for _ in range(n)]
        try:
            infos = ray.get([a.info.remote() for a in self._actors])
        except ray.exceptions.RayError as exc:
            for a in self._actors:
                ray.kill(a)
            raise ValueError(f"--ray: a worker could not build its engine ({failure_reason(exc)})") from None
        base = {(i.backend, i.model_id, i.sae_id, i.d_sae, i.sample_rate, i.window) for i in infos}
        if len(base) > 1:
            raise ValueError(f"--ray: the workers' engines differ ({sorted(map(str, base))}); install the same "
                             "model, SAE and config on every node")
        self.info = replace(infos[0], node=None)
        self.nodes = sorted({i.node.split()[0] for i in infos if i.node})
        self.devices = sorted({str(i.device) for i in infos})   # shown on the progress bar

    def run(self, chunks: Sequence[Chunk], on_done: OnDone, measure: bool = True, keep_audio: bool = False,
            desc: str = "render") -> RunOutcome:
        from tqdm import tqdm

        pool = _ActorPool(self._make, self._actors, measure, keep_audio)
        total = sum(len(c) for c in chunks)
        where = f"ray: {self.workers} workers on {'/'.join(self.devices)}, {len(self.nodes)} node(s)"
        with tqdm(total=total, desc=f"{desc} ({where})", unit="clip") as bar:
            outcome = run_with_retries(self.ray, list(chunks), pool,
                                       lambda chunk, value: on_done(chunk, value[0], value[1]),
                                       Chunk.describe, bar, size=len)
        self._actors = pool.actors
        return outcome

    def close(self) -> None:
        for actor in self._actors:
            self.ray.kill(actor)
        self._actors = []


def check_outcome(outcome: RunOutcome, rerun_hint: str) -> None:
    """Say which batches were retried; raise, naming every clip, when some could not be finished."""
    if outcome.retried:
        print(f"ray: {len(outcome.retried)} batch(es) retried after a worker failed: {'; '.join(outcome.retried)}")
    if outcome.missing:
        parts = [f"{chunk.describe()} ({reason})" for chunk, reason in outcome.missing]
        n = sum(len(chunk) for chunk, _ in outcome.missing)
        raise ValueError(f"could not finish {n} clip(s): {'; '.join(parts)}. {rerun_hint}")


def engine_from_args(args):
    """(Engine, SynthConfig) from --config and the override flags."""
    from synth.engine_flags import config_from_flags
    from synth.engine import build_engine

    config = config_from_flags(args)
    return build_engine(config), config


@contextmanager
def open_runner(args, engine=None, config=None, engine_factory=None) -> Iterator[tuple[object, object]]:
    """(runner, config) for a job. Without --ray: `engine` (or one built from the flags) in this
    process. With --ray: actors on the cluster, each building its engine with `engine_factory`
    (default: `build_engine(config)`); the driver itself loads no model."""
    address = getattr(args, "ray", None)
    if not address:
        if engine is None:
            engine, config = engine_from_args(args)
        runner = LocalRunner(engine, config.backend, jobs=getattr(args, "jobs", None))
        yield runner, config
        return
    if config is None:
        from synth.engine_flags import config_from_flags

        config = config_from_flags(args)
    if engine is not None and engine_factory is None:
        raise ValueError("--ray builds an engine on every worker from the config; pass engine_factory, not an engine")
    with ray_session(address) as ray:
        worker_config = config
        if str(getattr(config, "device", "")).startswith("cuda:"):
            worker_config = replace(config, device="cuda")   # an actor sees only its own GPU, as cuda:0
        runner = RayRunner(ray, engine_factory or EngineFactory(worker_config), config.backend,
                           actors=getattr(args, "ray_actors", None), device=getattr(config, "device", None))
        try:
            yield runner, config
        finally:
            runner.close()
