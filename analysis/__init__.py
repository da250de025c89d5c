"""`latent-synth analysis ...`: the offline research jobs, one package per subject.

- `analysis.sae`: text prompts -> encoder activations -> sparse autoencoders and their studies;
- `analysis.steering`: renders through the Engine, measured, to say whether steering changes the sound;
- `analysis.score_model`: the score backend's generated corpus and its training.

Beside them sit the helpers they share: `plots` (figures, tables, artefact writers), `stats` and
`ray_cluster` (the `--ray` runner); `cli` registers each package's commands.
"""
