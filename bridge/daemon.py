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
import sys
import threading
import time
from pathlib import Path

from bridge.clip_renderer import PREVIEW_DIR, ClipRenderer
from bridge.controller import Controller
from bridge.events import ERROR, RENDERED, Events
from bridge.failures import RenderFailed, render_failure_message
from bridge.jam.player import JamPlayer
from bridge.midi_input import CLIENT_NAME as MIDI_CLIENT
from bridge.midi_input import MidiTranslator, open_midi_input
from bridge.midi_map import MidiMap, load_midi_map
from bridge.osc_server import AllowList, OscServer
from bridge.render_queue import RenderQueue
from bridge.status import daemon_status
from synth.atomic_io import remove_stale_temps
from synth.presets import SHIPPED_PRESETS, PresetStore

log = logging.getLogger(__name__)


def engine_d_sae(engine) -> int | None:
    return engine.d_sae


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
    def __init__(self, engine, config, out_dir, presets_dir, host="127.0.0.1", port=9000, allow=(),
                 midi_port=None, midi_virtual=None, midi_map=None, auto=False, debounce=0.25, server=None,
                 mapping: MidiMap | None = None, audio_out: str | None = None, midi_out: str | None = None):
        self.engine = engine
        self.started = time.monotonic()
        self.ready = False               # true once warmed up and rendering
        self.warmup_seconds = 0.0        # the compiled engine's first (graph-building) render
        self.events = Events()  # the daemon's announcements, to OSC clients and browser pages alike
        self.renderer = ClipRenderer(engine, config, out_dir, on_clip=self._announce)
        self.queue = RenderQueue(self.renderer, on_error=self._render_failed)
        self.controller = Controller(
            config.state(),
            render=self.queue.submit,
            presets=PresetStore(presets_dir, SHIPPED_PRESETS),
            contrast_defs=config.contrast_defs(),
            d_sae=engine_d_sae(engine),
            sae=getattr(engine, "sae_identity", None),
            auto=auto,
            debounce=debounce,
            preview_steps=int(getattr(engine, "preview_steps", 0) or 0),
            refine_after=float(config.refine_after),
            events=self.events,
        )
        self.controller.status = self.status
        self.controller.resolve = getattr(engine, "resolve", None)
        self.controller.feature_info = getattr(engine, "feature_info", None)
        self.controller.feature_effect = getattr(engine, "feature_effect", None)
        self.server = server or OscServer(None, host, port, AllowList(allow))
        self.server.controller = self.controller
        self.events.subscribe(self._to_osc)
        self.jam = JamPlayer(engine, lambda: self.controller.state, self.renderer.out_dir, announce=self._announce,
                             error=self._error, audio_out=audio_out, subtype=config.wav_subtype,
                             midi_out=self._open_midi_out(midi_out, engine))
        self.controller.jam = self.jam
        self.midi_in = None
        self.translator = None
        if midi_port or midi_virtual:
            mapping = mapping if mapping is not None else load_mapping(midi_map)
            self.translator = MidiTranslator(mapping, self.controller, midi_map)
            self.translator.clock = self.jam.clock
            # Under JACK, the jam output reads the same clock again, with exact frame times.
            self.jam.midi_port = midi_port or f"{MIDI_CLIENT}:{midi_virtual}"
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

    def _error(self, address: str, message: str) -> None:
        log.warning("%s: %s", address, message)
        self.events.publish(ERROR, [address, message])

    def _announce(self, path, seed, seconds, kind) -> None:
        self.events.publish(RENDERED, [str(path), int(seed), float(seconds), kind])

    def _to_osc(self, address: str, args) -> None:
        """OSC clients hear the clips and the errors (state changes they ask for with /synth/state)."""
        if address in (RENDERED, ERROR):
            self.server.broadcast(address, args)

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
        """A compiled engine builds its graph on its first render: do that now, not on the first note."""
        if not getattr(getattr(self.engine, "family", None), "compiled", False):
            return
        t = time.monotonic()
        try:
            self.engine.render(self.controller.state)  # the startup state: its branches, its length
        except Exception:  # a failed warm-up is a slow first note, not a dead daemon
            log.exception("warm-up render failed; the first clip will compile instead")
        self.warmup_seconds = round(time.monotonic() - t, 3)
        log.info("compiled and warmed up in %.1f s", self.warmup_seconds)

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


def start_web(args, daemon, sock):
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
    server = OscServer(None, args.host, args.osc_port, AllowList(args.allow or ()))
    web_sock = None
    try:
        if args.web:
            from bridge.web.server import listen_socket

            web_sock = listen_socket(args.web_host, args.web_port)
        engine = load_engine(config)
        daemon = Daemon(
            engine, config, out_dir, args.presets, midi_port=args.midi, midi_virtual=args.midi_virtual,
            midi_map=args.midi_map, auto=args.auto, debounce=args.debounce, server=server, mapping=mapping,
            audio_out=args.audio_out, midi_out=args.midi_out,
        )
    except BaseException:
        server.close()
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
