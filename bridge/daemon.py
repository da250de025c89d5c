"""`latent-synth serve`: the long-lived instrument process.

It loads the engine (backend, encoders, SAE) once, listens for OSC and MIDI, keeps one SynthState,
and renders clips into the DAW folder on a single worker thread behind a coalescing queue. A
render that fails (an exception, out of memory, NaN audio, a full disk) is answered on
/synth/error and the daemon keeps serving; temp files a killed predecessor left behind are
removed at start.
"""
from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.clip_renderer import PREVIEW_DIR, ClipRenderer
from bridge.controller import Controller
from bridge.events import ERROR, RENDERED, Events
from bridge.failures import RenderFailed, render_failure_message
from bridge.jam.player import JamPlayer
from bridge.midi_input import CLIENT_NAME as MIDI_CLIENT
from bridge.midi_input import MidiLearn, MidiTranslator, open_midi_input
from bridge.midi_map import MidiMap, load_midi_map
from bridge.osc_server import AllowList, OscServer, bind_udp
from bridge.render_queue import RenderQueue
from bridge.status import daemon_status
from synth.atomic_io import remove_stale_temps
from synth.presets import SHIPPED_PRESETS, PresetStore

if TYPE_CHECKING:
    import mido

    from bridge.midi_input import PolledInput
    from synth.config import SynthConfig
    from synth.engine import Engine

log = logging.getLogger(__name__)


def load_mapping(path) -> MidiMap:
    """The mapping file, or an empty mapping when it does not exist yet (MIDI learn creates it)."""
    if path is None:
        return MidiMap()
    if not Path(path).exists():
        log.info("MIDI mapping %s does not exist yet; starting empty (MIDI learn will create it)", path)
        return MidiMap()
    return load_midi_map(path)


def load_engine(config):
    """Build the engine once (the tiny backend comes with its untrained stand-in SAE)."""
    from synth.engine import build_engine

    log.info("loading the %s backend", config.backend)
    return build_engine(config)


def serve_compile(config):
    """`compile: null` (the default): the daemon compiles on a CUDA device, where it pays off within a few
    clips; on a CPU compiling costs minutes and gains little."""
    if config.compile is not None:
        return config
    from synth.families.loading import resolve_device

    return config.override(compile=resolve_device(config.device).type == "cuda")


class Daemon:
    """The composition of `serve`, built in dependency order: the events every transport hears, the
    render queue, the jam, MIDI learn, the controller (the one command bus), then the MIDI and OSC
    inputs that feed it."""

    def __init__(self, engine: Engine, config: SynthConfig, out_dir, presets_dir, host: str = "127.0.0.1",
                 port: int = 9000, allow=(), midi_port: str | None = None, midi_virtual: str | None = None,
                 midi_map=None, auto: bool = False, debounce: float = 0.25, sock: socket.socket | None = None,
                 mapping: MidiMap | None = None, audio_out: str | None = None, midi_out: str | None = None):
        """`sock`: the OSC socket, when the caller bound it before loading the engine (a busy port fails
        at once); else it is bound to host:port here."""
        self.engine: Engine = engine
        self.started: float = time.monotonic()
        self.ready: bool = False               # true once warmed up and rendering
        self.warmup_seconds: float = 0.0       # the first render (a compiled engine builds its graph in it)
        self.events: Events = Events()
        self.renderer: ClipRenderer = ClipRenderer(engine, config, out_dir, on_clip=self._announce)
        self.queue: RenderQueue = RenderQueue(self.renderer, on_error=self._render_failed)
        state = config.state()
        midi = bool(midi_port or midi_virtual)
        self.jam: JamPlayer = JamPlayer(
            engine, state, self.events, self.renderer.out_dir, audio_out=audio_out, subtype=config.wav_subtype,
            midi_out=self._open_midi_out(midi_out, engine),
            # Under JACK, the jam output reads the daemon's MIDI clock again, with exact frame times.
            midi_port=(midi_port or f"{MIDI_CLIENT}:{midi_virtual}") if midi else None)
        learn = MidiLearn() if midi else None
        self.controller: Controller = Controller(
            state,
            render=self.queue.submit,
            presets=PresetStore(presets_dir, SHIPPED_PRESETS),
            contrast_defs=config.contrast_defs(),
            d_sae=engine.d_sae,
            d_dit_sae=engine.dit_sae.d_sae if engine.dit_sae is not None else None,
            sae=engine.sae_identity,
            auto=auto,
            debounce=debounce,
            preview_steps=int(engine.preview_steps or 0),
            refine_after=float(config.refine_after),
            events=self.events,
            resolve=engine.resolve,
            status=self.status,
            feature_info=engine.feature_info,
            feature_effect=engine.feature_effect,
            learn=learn.arm if learn is not None else None,
            jam=self.jam,
        )
        self.translator: MidiTranslator | None = None
        self.midi_in: PolledInput | mido.ports.BaseInput | None = None
        self.server: OscServer = OscServer(self.controller, host, port, AllowList(allow), sock=sock,
                                           events=self.events)
        if midi:
            mapping = mapping if mapping is not None else load_mapping(midi_map)
            self.translator = MidiTranslator(mapping, self.controller, midi_map, learn=learn, clock=self.jam.clock)
            try:
                self.midi_in = open_midi_input(self.translator, port=midi_port, virtual=midi_virtual)
            except OSError:
                self.server.close()
                raise

    def _render_failed(self, job, exc) -> None:
        message = render_failure_message(exc, job.kind)
        # Known failures are one line; anything else is a bug worth its traceback in the log.
        log.error("%s (%s)", message, job.reason, exc_info=None if isinstance(exc, RenderFailed) else exc)
        self.events.publish(ERROR, ["/synth/render", message])

    def _open_midi_out(self, port, engine):
        if port is None:
            return None
        if not engine.family.writes_score:
            raise ValueError(f"--midi-out sends the score's notes; the {engine.kind} backend writes no score")
        from bridge.jam.midi_out import MidiOut

        return MidiOut(port)

    def _announce(self, path, seed, seconds, kind) -> None:
        self.events.publish(RENDERED, [str(path), int(seed), float(seconds), kind])

    def status(self) -> dict:
        return daemon_status(self)

    def clean_up_after_crash(self) -> list[Path]:
        """Remove the temp files a killed earlier run left in the clips and presets folders."""
        removed = []
        for folder in (self.renderer.out_dir, self.renderer.out_dir / PREVIEW_DIR, self.controller.presets.folder):
            removed += remove_stale_temps(folder)
        if removed:
            log.warning("removed %d temp file(s) an interrupted write left behind: %s",
                        len(removed), ", ".join(str(p) for p in removed))
        return removed

    def start(self) -> None:
        """Answer OSC at once (/synth/status says `ready: false` meanwhile); renders asked for during the
        warm-up wait in the queue and run after it."""
        self.clean_up_after_crash()
        self.server.start()
        self.warm_up()
        self.queue.start()
        self.ready = True

    def warm_up(self) -> None:
        """A compiled engine builds its graph on its first render: do that now, not on the first note. Any
        engine's first render also pays for lazy imports and kernel set-up, holding the interpreter for
        most of a second (a jam started then starved its audio feeder: one underrun at every start); a
        one-step, one-second render pays for it here."""
        state = self.controller.state   # compiled: the startup state's branches and length
        if not self.engine.family.compiled:
            state = state.replace(steps=1, duration=1.0, bars=None)
        t = time.monotonic()
        try:
            self.engine.render(state)
        except Exception:  # a failed warm-up is a slow first note, not a dead daemon
            log.exception("warm-up render failed; the first clip will pay for it instead")
        self.warmup_seconds = round(time.monotonic() - t, 3)
        log.info("warmed up in %.1f s%s", self.warmup_seconds, " (compiled)" if self.engine.family.compiled else "")

    def describe(self) -> str:
        host, port = self.server.address
        midi = self.midi_in.name if self.midi_in is not None else "none"
        return f"osc udp://{host}:{port}, midi {midi}, out {self.renderer.out_dir}"

    def stop(self, timeout: float | None = None) -> bool:
        """Stop taking input, let the render in flight finish (clips are written whole), close."""
        self.server.stop()
        self.jam.close()
        if self.midi_in is not None:
            try:
                self.midi_in.close()
            except Exception:
                log.exception("closing the MIDI port failed")
        finished = self.queue.stop(timeout)
        self.server.close()
        return finished


def start_web(args, daemon: Daemon, sock):
    """`--web`: the browser surface on the daemon's controller and events; prints its one `web:` line."""
    if sock is None:
        return None
    from bridge.web.server import WebServer

    web = WebServer(daemon.controller, daemon.events, daemon.renderer.out_dir, args.web_host, sock=sock)
    try:
        web.start()
    except OSError:
        daemon.stop(0)
        raise
    print(web.start_line(), flush=True)
    return web


def run_serve(args) -> int:
    from synth.engine_flags import config_from_flags

    config = serve_compile(config_from_flags(args))
    out_dir = args.out or config.out_dir
    if args.debounce < 0:
        raise ValueError(f"--debounce must be >= 0, got {args.debounce}")
    # Check the cheap things first: a bad mapping file or a busy port fails at once, not after
    # the model has loaded.
    mapping = load_mapping(args.midi_map) if (args.midi or args.midi_virtual) else None
    AllowList(args.allow or ())   # a bad --allow fails before the model loads too
    sock = bind_udp(args.host, args.osc_port)
    web_sock = None
    try:
        if args.web:
            from bridge.web.server import listen_socket

            web_sock = listen_socket(args.web_host, args.web_port)
        engine = load_engine(config)
        daemon = Daemon(
            engine, config, out_dir, args.presets, allow=args.allow or (), midi_port=args.midi,
            midi_virtual=args.midi_virtual, midi_map=args.midi_map, auto=args.auto, debounce=args.debounce, sock=sock,
            mapping=mapping, audio_out=args.audio_out, midi_out=args.midi_out,
        )
    except BaseException:
        sock.close()
        if web_sock is not None:
            web_sock.close()
        raise

    stop = threading.Event()

    def on_signal(signum, frame):
        if stop.is_set():
            log.warning("still finishing the render in flight; please wait")
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    daemon.start()
    web = start_web(args, daemon, web_sock)
    if args.jam:
        try:
            daemon.jam.start()
        except OSError as exc:  # no audio output: one line, and OSC keeps serving (/synth/jam/start retries)
            print(f"latent-synth serve: jam not started: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
    print(f"latent-synth serve: ready ({daemon.describe()})", flush=True)
    while not stop.wait(0.5):
        pass
    log.info("shutting down")
    if web is not None:
        web.close()
    finished = daemon.stop(args.shutdown_timeout)
    if not finished:
        log.error("the render in flight did not finish within %.0f s; exiting anyway", args.shutdown_timeout)
        return 1
    print("latent-synth serve: stopped", flush=True)
    sys.stdout.flush()
    return 0
