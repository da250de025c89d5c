"""Jam mode: phrases in time on an audio output: player, sequencer and grids, clocks, outputs, MIDI out."""
