"""Quiet Hugging Face loading: what diffusers and transformers print while building or loading a model."""
from __future__ import annotations

import contextlib
import warnings


@contextlib.contextmanager
def quiet():
    """Silence construction-time deprecation chatter and weight-loading bars from diffusers and
    transformers (a CLI error after loading must stay one line)."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    level, bars = dlog.get_verbosity(), tlog.is_progress_bar_enabled()
    dlog.set_verbosity_error()
    tlog.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        dlog.set_verbosity(level)
        if bars:
            tlog.enable_progress_bar()
