"""`/synth/status`: the daemon's health in one JSON object, for a patch's display or a stage tech.

    backend, model_id, device, sae_id        what is loaded
    queue_depth, rendering                   renders waiting to start (0 or 1) and whether one runs
    renders_done, renders_failed             finished and failed render jobs since start
    renders_cancelled                        pending jobs a newer request replaced before they started
    clips                                    clips written (previews included)
    last_render_seconds                      engine time of the last render, null before the first
    uptime_seconds
    ready, warmup_seconds                    false while the engine warms up (a compiled one builds its graph)
                                             before its first clip; how long that took (0 uncompiled)
    peak_memory_mb, peak_memory_of           peak GPU memory allocated ("gpu") when the engine runs
                                             on CUDA, else the process's peak resident set ("rss")
    osc_messages, midi_events                datagrams and MIDI events received (midi_events: null
                                             without a MIDI input)
    jam_repeats, jam                         phrases repeated because the next was not ready at its bar
                                             line; the jam's state (active, sync, bpm, bars, continuity,
                                             phrases, output, underruns, skipped_cycles)
The controller adds auto, preview_steps and refine_after.
"""
from __future__ import annotations

import sys
import time


def peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def peak_memory_mb(device: str) -> tuple[float | None, str]:
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            return torch.cuda.max_memory_allocated(torch.device(device)) / 2**20, "gpu"
    return peak_rss_mb(), "rss"


def daemon_status(daemon) -> dict:
    """The status of a bridge.daemon.Daemon."""
    engine, queue, renderer = daemon.engine, daemon.queue, daemon.renderer
    device = str(engine.device)
    peak, source = peak_memory_mb(device)
    return {
        "backend": engine.kind,
        "model_id": engine.model_id,
        "device": device,
        "sae_id": engine.sae_id,
        "queue_depth": queue.depth(),
        "rendering": queue.rendering(),
        "renders_done": queue.completed,
        "renders_failed": queue.failed,
        "renders_cancelled": queue.coalesced,
        "clips": renderer.clips,
        "last_render_seconds": renderer.last_render_seconds,
        "uptime_seconds": round(time.monotonic() - daemon.started, 3),
        "ready": daemon.ready,
        "warmup_seconds": daemon.warmup_seconds,
        "peak_memory_mb": None if peak is None else round(peak, 1),
        "peak_memory_of": source,
        "osc_messages": daemon.server.received,
        "midi_events": daemon.translator.events if daemon.translator is not None else None,
        **daemon.jam.status(),
    }
