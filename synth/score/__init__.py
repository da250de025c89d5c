"""The score model's symbolic side: a Score, its control-curve latent, its MIDI file and its sound.

- `score`: the Score dataclass (tempo, key, melody / harmony / bass voices, drums);
- `layout`: the latent's documented channel layout and frame rate;
- `curves`: Score <-> raw control curves; `normalisation`: curves <-> the model's unit-variance latent;
- `midi`: Score -> Standard MIDI File bytes; `fluid`: Score -> 44.1 kHz stereo through a GM SoundFont;
- `summary`: the sidecar's `score` object.
"""
