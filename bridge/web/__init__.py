"""The browser control surface: `latent-synth serve --web` serves a page whose every control goes through
`Controller.handle`, the same command bus as OSC and MIDI, and which shows what the daemon announces."""
