"""`latent-synth midi-replay FILE.mid --out DIR`: play a Standard MIDI File of CC automation through
the MIDI mapping, offline and without sleeping, rendering a clip at each note-on.

It uses the daemon's own translator and controller, so a replay exercises exactly the code path a
live controller does; only the renders run inline instead of on the coalescing worker, so every
note-on gets its clip.
"""
from __future__ import annotations

import logging

from bridge.clip_renderer import ClipRenderer
from bridge.controller import Controller
from bridge.daemon import load_engine, load_mapping
from bridge.midi_input import MidiTranslator
from synth.presets import SHIPPED_PRESETS, PresetStore

log = logging.getLogger(__name__)


def read_midi_file(path):
    import mido

    try:
        return mido.MidiFile(path)
    except FileNotFoundError:
        raise OSError(f"MIDI file not found: {path}") from None
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"{path}: not a readable Standard MIDI File ({exc})") from None


def replay(midi_file, translator: MidiTranslator) -> tuple[int, float]:
    """Feed every channel message in time order (no sleeping); returns (messages, song seconds)."""
    count, song_time = 0, 0.0
    for msg in midi_file:  # mido merges the tracks and gives delta times in seconds
        song_time += msg.time
        if msg.is_meta or msg.type == "sysex":
            continue
        count += 1
        translator.feed(msg)
    return count, song_time


def run_midi_replay(args) -> int:
    from synth.engine_flags import config_from_flags

    midi_file = read_midi_file(args.file)
    mapping = load_mapping(args.midi_map)
    config = config_from_flags(args)
    engine = load_engine(config)
    renderer = ClipRenderer(engine, config, args.out)
    controller = Controller(
        config.state(),
        render=renderer,  # inline: every note-on gets its clip
        presets=PresetStore(args.presets, SHIPPED_PRESETS),
        contrast_defs=config.contrast_defs(),
        d_sae=engine.d_sae,
        d_dit_sae=engine.dit_sae.d_sae if engine.dit_sae is not None else None,
        sae=engine.sae_identity,
    )
    translator = MidiTranslator(mapping, controller)
    count, song_time = replay(midi_file, translator)
    print(
        f"replayed {count} MIDI messages ({song_time:.2f} s of music), rendered {renderer.clips} clips into {renderer.out_dir}",
        flush=True,
    )
    return 0
