"""A DSP stand-in for synth.engine.Engine with a known answer, for testing the analysis commands.

It honours the Engine contract (render(state, seeds).audio -> [B, 2, N], render_states) and turns the
state into one number r, the "rhythm" of the clip: +1 for a prompt containing "rhythmic", -1 for
"sustained"; steering adds 0.2 * strength * 2 in embedding mode and -0.3 * strength * 2 in
guidance mode (a deliberate sign reversal); SAE feature 0 adds 0.1 * strength (-0.1 in guidance mode). The clip is a
tone whose amplitude is square-modulated at 4 Hz with depth 0.5 + 0.4 r (+ per-seed jitter), so
rms_std rises with r.
"""
import types

import numpy as np


class DSPEngine:
    sample_rate = 22050
    model_id = "dsp-stand-in"
    device = "cpu"

    def __init__(self, sae=None):
        self.sae = sae
        self.sae_id = "random" if sae is not None else None
        self.calls = []

    @staticmethod
    def rhythm(state) -> float:
        r = 0.0
        for slot in state.prompts:
            if slot.weight > 0 and "rhythmic" in slot.text:
                r += 1.0
            if slot.weight > 0 and "sustained" in slot.text:
                r -= 1.0
        for c in state.contrasts.values():
            if "rhythmic" in c.positive:
                r += (0.4 if state.steering_mode == "embedding" else -0.6) * c.strength
        r += (0.1 if state.steering_mode == "embedding" else -0.1) * state.features.get(0, 0.0)
        return float(np.clip(r, -1, 1))

    def _clip(self, state, seed):
        rng = np.random.default_rng(seed)
        n = int(state.seconds() * self.sample_rate)
        t = np.arange(n) / self.sample_rate
        depth = np.clip(0.5 + 0.4 * self.rhythm(state) + rng.normal(0, 0.05), 0, 1)
        env = 1 - depth * (np.sin(2 * np.pi * 4 * t) > 0)
        y = 0.3 * env * np.sin(2 * np.pi * rng.uniform(300, 800) * t) + rng.normal(0, 1e-3, n)
        return np.stack([y, y]).astype(np.float32)

    def render(self, state, seeds=None, window=None):
        seeds = [state.seed] if seeds is None else list(seeds)
        self.calls.append(len(seeds))
        return types.SimpleNamespace(audio=np.stack([self._clip(state, s) for s in seeds]))   # as Engine's Rendered

    def render_states(self, states, window=None):
        self.calls.append(len(states))
        return np.stack([self._clip(s, s.seed) for s in states])
