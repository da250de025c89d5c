"""`latent-synth analysis ...`: the offline research jobs."""
from __future__ import annotations

import importlib

_GROUPS = ["analysis.sae.cli", "analysis.steering.cli", "analysis.sae.sliders", "analysis.score_model.cli"]


def register(subparsers) -> None:
    parser = subparsers.add_parser("analysis", help="offline research: corpus, SAEs, statistics, atlas")
    sub = parser.add_subparsers(dest="analysis_command", metavar="JOB")
    for module in _GROUPS:
        importlib.import_module(module).register(sub)
