"""Steering validation: does a contrast, a feature slider or a preset really change the sound?

Clips come from the Engine (`clip_runner`, in batches, in-process or on Ray), are measured by
`acoustic_features` (cached per render in `feature_cache`) and compared with `analysis.stats`
(`compare`); `validate` and `validate_preset` write retention tables and store results in presets,
`sonify` writes grids of clips to listen to (with their scores on the score backend: `sonify_scores`),
and `report` gathers run folders into one Markdown document.
"""
