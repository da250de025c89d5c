"""The score model's training: a corpus of pieces with known parameters, and the DiT trained on it.

Two sources feed the corpus: `params` draws a procedural piece's parameters and `compose` writes its
score; `music21_source` reads real melodies, harmony and bass from music21's corpus (cached) and
`music21_pieces` turns them into pieces. `captions` (with `words`) describes each piece, `corpus` writes
the mix and `tokens` encodes captions; `objective` and `training` train the score family's DiT with the
family's own conditioning, saving the weights that `synth.families.score` loads (synth/models/score/).
`melody_stats` measures melodies (stepwise share, in-key share) for the quality bench.
"""
