"""Score -> audio at 44.1 kHz stereo through FluidSynth (Debian `fluidsynth` + `pyfluidsynth`).

Each render gets a fresh synthesiser (FluidSynth's voices carry filter and ramp state from one note
to the next, so a reused one renders the same score a little differently each time). With dynamic
sample loading that costs ~15 ms plus ~5-10 ms per instrument, so the next one is opened in the
background after each render, with that render's instruments loaded (a jam's next splice mostly plays
the same ones); it has played nothing, so it renders as a new one would. Its reverb and chorus are off,
events fall on its 64-sample blocks and the float output has no dither, so the same score gives the
same samples.
"""
from __future__ import annotations

import ctypes
import threading

import numpy as np

from synth.score.events import CHANNEL, PAN, events, programs
from synth.score.gm import DRUM_BANK, DRUM_CHANNEL
from synth.score.reverb import add_room
from synth.score.score import Score
from synth.score.soundfont import SoundFontError, find_soundfont

SAMPLE_RATE = 44100
BLOCK = 64           # FluidSynth's internal block: events take effect on block boundaries
GAIN = 0.5
LEAD_IN = 1.5        # seconds played before a render's `start`: the room's 1.2 s tail, and the notes ringing
                     # into it (notes begun earlier are left out: they have rarely still sounded)
SURE_KEY = 24        # every GM preset sounds C1 (pitched down); where presets end varies (a contrabass at 57)

INSTALL_SYNTH = ("the score backend needs FluidSynth: apt-get install fluidsynth, and pip install pyfluidsynth "
                 "(no extras; it does not need pyaudio)")


def _load_fluidsynth():
    try:
        import fluidsynth
    except (ImportError, OSError) as exc:  # OSError: the Python binding is there, libfluidsynth is not
        raise SoundFontError(f"{INSTALL_SYNTH} ({str(exc).splitlines()[0]})") from None
    return fluidsynth


class FluidRenderer:
    def __init__(self, soundfont: str | None = None, sample_rate: int = SAMPLE_RATE):
        self._fluidsynth = _load_fluidsynth()
        self.soundfont = find_soundfont(soundfont)
        self.sample_rate = int(sample_rate)
        self._write = self._float_writer(self._fluidsynth)
        self._lock = threading.Lock()
        self._top: dict[int, int] = {}  # program -> the highest key its preset sounds
        self._spare = None              # (synth, sfid): opened ahead, nothing played on it yet
        self._spare_lock = threading.Lock()
        # FluidSynth's sample cache is shared by every synth of the process: loading a preset's samples
        # (sfload, program_select) and freeing them (delete) run one at a time, or a spare opened in the
        # background and a render's synth being deleted miscount the cache ("Unable to unload sample").
        self._samples_lock = threading.RLock()
        self._delete(self._open()[0])  # fail now, with one line, on a file FluidSynth cannot read

    def _open(self):
        with self._samples_lock:
            synth = self._fluidsynth.Synth(gain=GAIN, samplerate=float(self.sample_rate),
                                           **{"synth.reverb.active": 0, "synth.chorus.active": 0,
                                              "synth.dynamic-sample-loading": 1})
            sfid = synth.sfload(str(self.soundfont))
            if sfid < 0:
                synth.delete()
                raise SoundFontError(f"soundfont {str(self.soundfont)!r}: FluidSynth cannot read it (not a .sf2?)")
        return synth, sfid

    def _delete(self, synth) -> None:
        with self._samples_lock:
            synth.delete()

    def _select(self, synth, sfid: int, selections) -> None:
        """program_select (channel, bank, program) for each selection: loads their samples."""
        with self._samples_lock:
            for ch, bank, program in selections:
                synth.program_select(ch, sfid, bank, program)

    def _float_writer(self, fluidsynth):
        # fluid_synth_write_float: undithered float output (pyfluidsynth only wraps the dithered int16 one).
        fn = getattr(getattr(fluidsynth, "_fl", None), "fluid_synth_write_float", None)
        if fn is None:
            return None
        fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                       ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        fn.restype = ctypes.c_int
        return fn

    def _samples(self, synth, n: int) -> np.ndarray:
        """[n, 2] float32."""
        if n <= 0:
            return np.zeros((0, 2), np.float32)
        if self._write is None:
            return synth.get_samples(n).reshape(-1, 2).astype(np.float32) / 32768.0
        out = np.zeros((n, 2), np.float32)
        ptr = out.ctypes.data
        self._write(synth.synth, n, ptr, 0, 2, ptr, 1, 2)
        return out

    def render(self, score: Score, seconds: float, room: bool = True, start: float = 0.0) -> np.ndarray:
        """[2, round(seconds * sample_rate) - round(start * sample_rate)] float32: the score from `start` on
        (so N bars at B bpm are exactly round(N * 240 / B * rate) samples); notes still sounding at the end
        are cut. From a `start`, synthesis begins LEAD_IN before it on the blocks of a render from 0, so
        every event falls on the very samples it does there."""
        first = int(round(start * self.sample_rate))
        begin = max(0, first - int(LEAD_IN * self.sample_rate)) // BLOCK * BLOCK
        with self._lock:
            with self._spare_lock:
                spare, self._spare = self._spare, None
            synth, sfid = spare or self._open()
            try:
                audio = self._play(synth, sfid, score, seconds, begin)
            finally:
                self._delete(synth)
        threading.Thread(target=self._open_spare, args=(programs(score),), name="fluid-spare", daemon=True).start()
        return (add_room(audio, self.sample_rate) if room else audio)[:, first - begin:]

    def _open_spare(self, programs: dict[int, int]) -> None:
        synth, sfid = self._open()   # loads their samples now, not in the next render
        self._select(synth, sfid, [(ch, 0, program) for ch, program in programs.items()] + [(DRUM_CHANNEL, DRUM_BANK, 0)])
        with self._spare_lock:
            old, self._spare = self._spare, (synth, sfid)
        if old is not None:
            self._delete(old[0])

    def _sounds(self, program: int, key: int) -> bool:
        synth, sfid = self._open()
        try:
            self._select(synth, sfid, [(0, 0, program)])
            synth.noteon(0, key, 100)
            return bool(np.abs(self._samples(synth, 1024)).max() > 1e-4)
        finally:
            self._delete(synth)

    def top_key(self, program: int) -> int:
        """The highest key the SoundFont's preset for `program` sounds (found once, by listening: a
        binary search above C1). Keys above it are silent in FluidSynth."""
        if program not in self._top:
            lo, hi = SURE_KEY, 127
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if self._sounds(program, mid) else (lo, mid - 1)
            self._top[program] = lo
        return self._top[program]

    def _play(self, synth, sfid: int, score: Score, seconds: float, begin: int = 0) -> np.ndarray:
        n = int(round(seconds * self.sample_rate)) - begin
        spb = score.seconds_per_beat
        chosen = programs(score)
        self._select(synth, sfid, [(ch, 0, program) for ch, program in chosen.items()] + [(DRUM_CHANNEL, DRUM_BANK, 0)])
        top = {ch: self.top_key(program) for ch, program in chosen.items()}
        for role, pan in PAN.items():
            synth.cc(CHANNEL[role], 10, pan)
        chunks, done = [], 0
        for e in events(score, end_beat=seconds / spb):
            at = int(round(e.beat * spb * self.sample_rate / BLOCK)) * BLOCK - begin
            if at < 0:
                continue
            if at > done:
                chunks.append(self._samples(synth, at - done))
                done = at
            # a note above the preset's samples would be silent: play it in the highest octave that sounds
            key = e.key - 12 * -(-(e.key - top[e.channel]) // 12) if e.key > top.get(e.channel, 127) else e.key
            if e.kind == "on":
                synth.noteon(e.channel, key, e.velocity)
            else:
                synth.noteoff(e.channel, key)
        chunks.append(self._samples(synth, -(-n // BLOCK) * BLOCK - done))
        return np.concatenate(chunks)[:n].T.copy()
