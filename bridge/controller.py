"""The one command bus: every OSC message and every translated MIDI event lands in
`Controller.handle(address, args)`, which applies it to the SynthState and returns the replies.

User errors never raise out of `handle`; they come back as a `/synth/error` reply. The hot path
(numeric slider moves) is a dict lookup, a type check and a shallow state copy under a lock that is
never held across a render.
"""
from __future__ import annotations

import functools
import json
import logging
import math
import os
import threading
from typing import Callable, Mapping, Protocol, Sequence

from bridge.events import Events
from bridge.failures import os_error_advice
from bridge.render_queue import RenderJob, auto_render_job
from synth.addresses import ADDRESSES, ERROR, STATE_CHANGED, Setter, lookup, split
from synth.numbers import is_finite_number, is_number
from synth.parameters import NO_SAE, check_dit_ids, parse_index, set_feature, set_inside_feature
from synth.preset_sae import check_preset_sae, record_for
from synth.presets import Preset, PresetError, PresetStore, morph
from synth.state import ARRANGEMENTS, MODES, NUM_SLOTS, STEERING_MODES, SEED_MAX, PromptSlot, StateError, SynthState

log = logging.getLogger(__name__)

Reply = tuple  # (address, [args])
NO_REPLIES: tuple = ()
Handler = Callable[[str, str, Sequence], Sequence[Reply]]   # (address, its <slot>/<id>/<name> part, args)
MAX_BATCH = 64  # /synth/render n: at most this many clips per request
MAX_PREVIEW_STEPS = 1000


class CommandError(ValueError):
    """A refused message; becomes `/synth/error s address s message`."""


def error_reply(address: str, message: str) -> Reply:
    return (ERROR, [address, message])


def _one_number(args: Sequence) -> float:
    if len(args) != 1:
        raise CommandError(f"expects one number, got {len(args)} arguments")
    value = args[0]
    if not is_number(value):  # bools are not numbers here
        raise CommandError(f"expects a number (int or float), got {_describe(value)}")
    if not math.isfinite(value):
        raise CommandError(f"{value!r} is not a finite number")
    return value


def _whole(value: float, lo: int, hi: int, what: str) -> int:
    if value != int(value):
        raise CommandError(f"{what} must be a whole number, got {value!r}")
    value = int(value)
    if not lo <= value <= hi:
        raise CommandError(f"{what} {value} is outside [{lo}, {hi}]")
    return value


def _one_string(args: Sequence, what: str = "text") -> str:
    if len(args) != 1 or not isinstance(args[0], str):
        got = f"{len(args)} arguments" if len(args) != 1 else _describe(args[0])
        raise CommandError(f"expects one string ({what}), got {got}")
    return args[0]


def _prompt_text(args: Sequence) -> str:
    """One string; or, as Pd and Max send typed text, a list of words joined with spaces."""
    if len(args) == 1:
        return _one_string(args, "prompt text")
    if len(args) > 1 and any(isinstance(a, str) for a in args) and all(
        isinstance(a, str) or is_finite_number(a) for a in args
    ):
        return " ".join(a if isinstance(a, str) else f"{a:g}" for a in args)
    raise CommandError(f"expects the prompt text as a string, got {len(args)} arguments")


def _no_args(args: Sequence) -> None:
    if args:
        raise CommandError(f"takes no arguments, got {len(args)}")


def _describe(value) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (bytes, bytearray)):
        return "a blob"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"{type(value).__name__} {value!r}"


class JamControls(Protocol):
    """What the controller asks of jam mode (bridge.jam.player.JamPlayer); a ValueError is a refusal."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def set_bars(self, bars: int) -> None: ...
    def set_continuity(self, value: float) -> None: ...
    def set_sync(self, sync: str) -> None: ...
    def set_quantize(self, quantize: str) -> None: ...
    def position(self) -> dict | None: ...   # phrase, bar and beat sounding now (the browser's beat indicator)


class Controller:
    def __init__(
        self,
        state: SynthState,
        *,
        render: Callable[[RenderJob], None],
        presets: PresetStore,
        contrast_defs: Mapping[str, tuple[str, str]] | None = None,
        d_sae: int | None = None,
        d_dit_sae: int | None = None,
        sae: dict | None = None,
        auto: bool = False,
        debounce: float = 0.25,
        preview_steps: int = 0,
        refine_after: float = 0.5,
        events: Events | None = None,
        resolve: Callable[[SynthState], SynthState] | None = None,
        status: Callable[[], dict] | None = None,
        feature_info: Callable[[int], list[str]] | None = None,
        feature_effect: Callable[[int], str] | None = None,
        learn: Callable[[str], None] | None = None,
        jam: JamControls | None = None,
    ):
        """`render(job)` queues a render; `d_sae` None means no SAE is loaded, so
        /synth/feature/<id> is refused. `preview_steps` > 0 makes auto-render preview first and
        refine after `refine_after` seconds of stillness (see render_queue.auto_render_job). `sae` is the loaded
        SAE's identity (synth.preset_sae.loaded_sae): presets made for another SAE are refused, saved ones
        record it. Every state change is published on `events` as /synth/state/changed (the SynthState).
        The rest are what the daemon has, None where it has not: `resolve(state)` fills in the backend's
        default steps / cfg (so /synth/state shows what a render uses), `status()` the daemon's health,
        `feature_info(id)` / `feature_effect(id)` what an SAE feature fires on and does (ValueError if
        unknown), `learn(address)` arms MIDI learn (None: no MIDI input), `jam` the jam player."""
        self._lock = threading.Lock()
        self._announce_lock = threading.Lock()
        self._state: SynthState = state
        self._render: Callable[[RenderJob], None] = render
        self.presets: PresetStore = presets
        self.contrast_defs: dict[str, tuple[str, str]] = dict(contrast_defs or {})
        self.d_sae: int | None = d_sae
        self.d_dit_sae: int | None = d_dit_sae   # the DiT SAE's size (/synth/inside/<id>); None: none loaded
        self.sae: dict | None = sae
        self.auto: bool = auto
        self.debounce: float = debounce
        self.preview_steps: int = preview_steps
        self.refine_after: float = refine_after
        self.events: Events = events if events is not None else Events()
        self.resolve: Callable[[SynthState], SynthState] | None = resolve
        self.status: Callable[[], dict] | None = status
        self.feature_info: Callable[[int], list[str]] | None = feature_info
        self.feature_effect: Callable[[int], str] | None = feature_effect
        self.learn: Callable[[str], None] | None = learn
        self.jam: JamControls | None = jam
        self.current_preset: Preset | None = None
        self.changes: int = 0
        # The address table's handlers, bound once: a numeric entry's handler carries its setter.
        self._dispatch: dict[str, Handler] = {
            entry.pattern: (functools.partial(self._numeric, entry.setter) if entry.setter is not None
                            else getattr(self, f"_{entry.handler}"))
            for entry in ADDRESSES if entry.handler is not None}

    # ------------------------------------------------------------------ state access
    @property
    def state(self) -> SynthState:
        return self._state  # states are replaced, never mutated, so this snapshot is safe to read

    def set_state(self, state: SynthState, reason: str) -> None:
        with self._lock:
            self._state = state
            self.changes += 1
        self._changed(state, reason)

    def _changed(self, state: SynthState, reason: str) -> None:
        """After every change of the state: announce it, and auto-render."""
        self._announce(state)
        if self.auto:
            self._render(auto_render_job(state, reason, preview_steps=self.preview_steps,
                                         refine_after=self.refine_after, debounce=self.debounce))

    def _announce(self, state: SynthState) -> None:
        # Changes from two threads (OSC, MIDI) finish in any order: the last state announced is the
        # current one, so a listener that keeps the newest (the jam) never keeps a superseded state.
        with self._announce_lock:
            if state is self._state:
                self.events.publish(STATE_CHANGED, (state,))

    def _update(self, change: Callable[[SynthState], SynthState], reason: str) -> Sequence[Reply]:
        """Apply `change` to the current state atomically, then announce it."""
        with self._lock:
            self._state = state = change(self._state)
            self.changes += 1
        self._changed(state, reason)
        return NO_REPLIES

    # ------------------------------------------------------------------ the bus
    def handle(self, address: str, args: Sequence = ()) -> Sequence[Reply]:
        """Apply one message through the address table; return replies (errors included). Never raises
        for bad input."""
        try:
            found = split(address)
            handler = self._dispatch.get(found[0].pattern) if found is not None else None
            if handler is None:
                raise CommandError("unknown address")
            return handler(address, found[1], args)
        except (CommandError, StateError, PresetError) as exc:
            return (error_reply(address, str(exc)),)
        except OSError as exc:  # e.g. the presets folder is not writable
            return (error_reply(address, " ".join(str(exc).split())),)
        except Exception as exc:  # a bug must not go unanswered or stop the server
            log.exception("internal error handling %s %r", address, args)
            return (error_reply(address, f"internal error: {type(exc).__name__}: {exc}"),)

    def _numeric(self, setter: Setter, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        value = _one_number(args)
        self._check_feature_id(setter, part)
        return self._update(lambda s: setter(s, part, value, self.contrast_defs, self.d_sae), address)

    def _check_feature_id(self, setter: Setter, part: str) -> None:
        if self.d_sae is None and setter is set_feature:
            raise CommandError(NO_SAE)
        if setter is set_inside_feature:
            check_dit_ids([parse_index(part, "inside feature")], self.d_dit_sae)

    def _prompt(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        slot = 0 if address == "/synth/prompt" else parse_index(part, "slot", NUM_SLOTS - 1)
        text = _prompt_text(args)

        def change(state: SynthState) -> SynthState:
            prompts = list(state.prompts)
            prompts[slot] = PromptSlot(text, prompts[slot].weight)
            return state.replace(prompts=prompts)

        return self._update(change, address)

    def _features_clear(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        _no_args(args)
        return self._update(lambda s: s.replace(features={}), address)

    def _mode(self, address: str, args: Sequence, field: str, choices: Sequence[str] = MODES) -> Sequence[Reply]:
        mode = _one_string(args, "mode")
        if mode not in choices:
            raise CommandError(f"{mode!r} is not one of {', '.join(choices)}")
        return self._update(lambda s: s.replace(**{field: mode}), address)

    def _steering_mode(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        return self._mode(address, args, "steering_mode", STEERING_MODES)

    def _mix_mode(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        return self._mode(address, args, "mix_mode")

    def _arrangement(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        value = _one_string(args, "arrangement")
        if value != "auto" and value not in ARRANGEMENTS:
            raise CommandError(f"{value!r} is not one of {', '.join(ARRANGEMENTS)} or auto")
        return self._update(lambda s: s.replace(arrangement=None if value == "auto" else value), address)

    def _auto(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        self.auto = bool(_whole(_one_number(args), 0, 1, "auto"))
        log.info("auto-render %s", "on" if self.auto else "off")
        return NO_REPLIES

    def _render_now(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        n = 1 if not args else _whole(_one_number(args), 1, MAX_BATCH, "clip count")
        state = self._state
        if state.seed + n - 1 > SEED_MAX:
            raise CommandError(f"seeds {state.seed}..{state.seed + n - 1} pass the largest seed {SEED_MAX}")
        self._render(RenderJob(state, list(range(state.seed, state.seed + n)), 0.0, address))
        return NO_REPLIES

    def _variation(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        if len(args) != 2 or not isinstance(args[0], str):
            raise CommandError("expects a clip's path and a strength (s f)")
        strength = _one_number(args[1:])
        if not 0.0 < strength <= 1.0:
            raise CommandError(f"strength {strength!r} is outside (0, 1]")
        path = os.path.expanduser(args[0])
        if not os.path.isfile(path):
            raise CommandError(f"no such file: {path}")
        state = self._state
        self._render(RenderJob(state, [state.seed], 0.0, address, init=(path, float(strength))))
        return NO_REPLIES

    # ------------------------------------------------------------------ jam mode
    def _jam_player(self) -> JamControls:
        if self.jam is None:
            raise CommandError("jam mode needs the daemon (latent-synth serve)")
        return self.jam

    def _jam_start(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        _no_args(args)
        jam = self._jam_player()
        try:
            jam.start()
        except OSError as exc:   # no audio output: JACK not running, device missing
            raise CommandError(" ".join(str(exc).split())) from None
        return NO_REPLIES

    def _jam_stop(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        _no_args(args)
        self._jam_player().stop()
        return NO_REPLIES

    @staticmethod
    def _refused(setting: Callable[[], None]) -> None:
        """Run a jam setting; the player's ValueError becomes the one-line /synth/error."""
        try:
            setting()
        except ValueError as exc:
            raise CommandError(str(exc)) from None

    def _jam_bars(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        bars = _whole(_one_number(args), 1, 8, "bars")
        jam = self._jam_player()
        self._refused(lambda: jam.set_bars(bars))
        return NO_REPLIES

    def _jam_continuity(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        value = _one_number(args)
        jam = self._jam_player()
        self._refused(lambda: jam.set_continuity(value))
        return NO_REPLIES

    def _jam_quantize(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        quantize = _one_string(args, "quantize")
        jam = self._jam_player()
        self._refused(lambda: jam.set_quantize(quantize))
        return NO_REPLIES

    def _jam_sync(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        sync = _one_string(args, "sync source")
        jam = self._jam_player()
        self._refused(lambda: jam.set_sync(sync))
        if sync == "midi-clock" and self.learn is None:
            return (error_reply(address, "midi-clock is set, but there is no MIDI input to hear the clock on "
                                         "(start serve with --midi PORT or --midi-virtual NAME)"),)
        return NO_REPLIES

    def _preview_steps(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        self.preview_steps = _whole(_one_number(args), 0, MAX_PREVIEW_STEPS, "preview steps")
        log.info("auto-render previews %s", f"at {self.preview_steps} steps" if self.preview_steps else "off")
        return NO_REPLIES

    # ------------------------------------------------------------------ presets
    def _checked(self, state: SynthState, where: str) -> SynthState:
        if state.inside_features:
            check_dit_ids(state.inside_features, self.d_dit_sae, where)
        if self.d_sae is not None:
            return state.replace().validate(self.d_sae)
        if state.features:
            raise CommandError(f"{where} uses SAE features {sorted(state.features)}, but {NO_SAE}")
        return state

    def _preset_save(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        name = _one_string(args, "preset name")
        state = self._state.replace(name=name)
        keep = self.current_preset if self.current_preset and self.current_preset.name == name else None
        preset = Preset(
            name=name,
            state=state,
            sliders=list(keep.sliders) if keep else [],
            description=keep.description if keep else "",
            sae=keep.sae if keep else None,
        )
        preset.sae = record_for(preset, self.sae)
        try:
            path = self.presets.save(preset)
        except OSError as exc:  # a full disk or a read-only folder: the file on disk is as it was
            raise CommandError(os_error_advice(exc, f"save preset {name!r} in {self.presets.folder}")
                               + "; nothing on disk was changed") from None
        with self._lock:
            self._state = state
            self.current_preset = preset
        self._announce(state)   # its name changed: no render
        log.info("saved preset %s to %s", name, path)
        return NO_REPLIES

    def _preset_load(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        name = _one_string(args, "preset name")
        preset = self.presets.load(name)
        check_preset_sae(preset, self.sae)
        state = self._checked(preset.state, f"preset {name!r}")
        if state.name != preset.name:  # clips are named after the preset
            state = state.replace(name=preset.name)
        with self._lock:
            self._state = state
            self.current_preset = preset
            self.changes += 1
        log.info("loaded preset %s", name)
        self._changed(state, address)
        return NO_REPLIES

    def _preset_morph(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        if len(args) != 3 or not isinstance(args[0], str) or not isinstance(args[1], str):
            raise CommandError("expects two preset names and an amount (s s f)")
        amount = _one_number(args[2:])
        if not 0.0 <= amount <= 1.0:
            raise CommandError(f"amount {amount!r} is outside [0, 1]")
        a, b = self.presets.load(args[0]), self.presets.load(args[1])
        for p in (a, b):
            check_preset_sae(p, self.sae)
        state = self._checked(morph(a.state, b.state, amount), "the morph")
        self.set_state(state, address)
        return NO_REPLIES

    def _preset_list(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        _no_args(args)
        sources = self.presets.sources()
        # names first (what clients load by); then, in the same order, where each comes from
        return (("/synth/preset/list", list(sources)), ("/synth/preset/sources", list(sources.values())))

    # ------------------------------------------------------------------ queries and control
    def _state_query(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        _no_args(args)
        state = self.resolve(self._state) if self.resolve is not None else self._state
        return (("/synth/state", [json.dumps(state.to_dict())]),)

    def _status_query(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        _no_args(args)
        status = self.status() if self.status is not None else {}
        status.update(auto=self.auto, preview_steps=self.preview_steps, refine_after=self.refine_after)
        return (("/synth/status", [json.dumps(status, separators=(",", ":"))]),)

    def _learn(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        target = _one_string(args, "address")
        entry = lookup(target)
        if entry is None or entry.midi_range is None:
            raise CommandError(f"{target!r} cannot be mapped to a MIDI CC")
        if entry.setter is not None:  # check the concrete address (feature id, slot, contrast name)
            part = split(target)[1]
            self._check_feature_id(entry.setter, part)
            entry.setter(self._state, part, entry.midi_range[0], self.contrast_defs, self.d_sae)
        if self.learn is None:
            raise CommandError("no MIDI input (start serve with --midi PORT or --midi-virtual NAME)")
        self.learn(target)
        log.info("MIDI learn: the next CC maps to %s", target)
        return NO_REPLIES

    def _feature_info(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        fid = _whole(_one_number(args), 0, 10**9, "feature id")
        if self.feature_info is None:
            raise CommandError(NO_SAE)
        try:
            prompts = self.feature_info(fid)
            effect = self.feature_effect(fid) if self.feature_effect is not None else "not measured"
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        return (("/synth/feature/info", [fid, " | ".join(prompts), effect]),)

    def _ping(self, address: str, part: str, args: Sequence) -> Sequence[Reply]:
        return (("/synth/pong", []),)
