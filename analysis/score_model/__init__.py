"""The score model's training: a generated corpus of pieces with known parameters, and the DiT trained on it.

`params` draws a piece's parameters, `compose` writes its score, `captions` (with `words`) describes
it, `corpus` writes the corpus and `tokens` encodes captions; `objective` and `training` train the
score family's DiT with the family's own conditioning, saving the weights that `synth.families.score`
loads (synth/models/score/).
"""
