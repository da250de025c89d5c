"""The SAE pipeline: from captions to sparse autoencoders over a text encoder, and what they learnt.

Data flows corpus -> encode -> activations -> trainer (sweep, stability, ray_training) -> codes, then
the studies that read an SAE with its activations: atlas, geometry, probes; `sliders` runs the whole
chain, screens each candidate's measured effect on a backend (effects, effect_screen, slider_steps) and
writes a playable preset whose sliders are named by what they do; `levers` holds the side-effect
levers. Captions come from shared/corpora plus the generated probing sets (`probe_prompts`); encoders
come from `synth.encoders`; the SAE files it writes are what `synth.sae` loads at play time.
"""
