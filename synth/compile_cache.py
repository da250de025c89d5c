"""Where torch.compile keeps what it built, so a second start of the daemon skips most of the work.

torch's own caches do the work: inductor's FX graph cache (compiled graphs, keyed by the graph, the
shapes' guards, torch version and device) and its autotuning cache live under TORCHINDUCTOR_CACHE_DIR;
we point that at $LATENT_SYNTH_COMPILE_CACHE, else $XDG_CACHE_HOME/latent-synth/compile, else
~/.cache/latent-synth/compile, unless the user set TORCHINDUCTOR_CACHE_DIR already. Dynamo still
traces the model in every new process (seconds); the expensive part, inductor's code generation and
the C++/Triton builds, comes from disk.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV = "LATENT_SYNTH_COMPILE_CACHE"


def compile_cache_dir() -> Path:
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    # Importing inductor's config fills TORCHINDUCTOR_CACHE_DIR with its /tmp default: only another value is the user's.
    user = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if user and user != default_cache_dir():
        return Path(user)
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "latent-synth" / "compile"


def use_persistent_cache() -> Path:
    """Turn on inductor's on-disk caches in our folder (call before the first compiled run)."""
    import torch._inductor.config as inductor

    folder = compile_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)  # read lazily by inductor at its first compile
    inductor.fx_graph_cache = True
    inductor.autotune_local_cache = True
    return folder
