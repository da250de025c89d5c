"""`serve --web`: an aiohttp application on its own thread and event loop, beside the OSC server.

Routes: `/` the page (index.html, app.js, style.css from the package), `/ws?token=` the WebSocket,
`/clips/NAME?token=` an announced clip's WAV, sidecar or score, `/roll/NAME.mid?token=` its piano roll.
Every control a page sends goes through `Controller.handle`, the command bus OSC and MIDI use.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from pathlib import Path

from aiohttp import WSMsgType, web

from bridge.controller import error_reply
from bridge.events import Events
from bridge.web.clips import ClipRefused, ClipRegistry
from bridge.web.hub import Hub, Page, encode
from bridge.web.messages import MAX_FRAME, MAX_MESSAGE, BadMessage, FloodGuard, RateLimit, parse_message
from bridge.web.piano_roll import piano_roll
from bridge.web.security import add_headers, host_ok, is_loopback, new_token, origin_ok, token_ok

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
PAGE_FILES = {"/": "index.html", "/app.js": "app.js", "/style.css": "style.css"}
RATE, BURST = 500.0, 250.0  # messages a page may send a second (a hand on a slider sends at most ~120)
REFUSAL_EVERY = 0.25  # seconds: refused floods are reported at most this often, with their count


def listen_socket(host: str, port: int) -> socket.socket:
    """The surface's listening socket, bound now: a busy port fails before the model loads."""
    try:
        return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        raise OSError(f"cannot listen on http {host}:{port}: {why}") from None


class WebServer:
    def __init__(self, controller, events: Events, out_dir, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None, sock: socket.socket | None = None):
        self.controller = controller
        self.events = events
        self.host = host
        self.port = port
        self.sock = sock  # a socket listen_socket() bound already; None: bind host and port at start()
        self.token = token or new_token()
        self.clips = ClipRegistry(out_dir)
        self.loop = asyncio.new_event_loop()
        self.hub = Hub(controller, self.clips, self.loop)
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._unsubscribe = None

    # ------------------------------------------------------------------ lifecycle (any thread)
    def start(self) -> str:
        """Listen, subscribe to the daemon's events, and return the page's address (with its token)."""
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self._listen())
            except BaseException as exc:  # a busy port: reported by start()
                failure.append(exc)
                started.set()
                return
            started.set()
            self.loop.run_forever()

        self._thread = threading.Thread(target=run, name="web-server", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        self._unsubscribe = self.events.subscribe(self.hub.on_event)
        return self.url

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/?token={self.token}"

    def start_line(self) -> str:
        line = f"web: {self.url}"
        if not is_loopback(self.host):
            line += f" (listening on the network at {self.host}: the token is required, keep the address private)"
        return line

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._thread is None or not self.loop.is_running():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    async def _listen(self) -> None:
        app = web.Application(client_max_size=MAX_MESSAGE)
        app.on_response_prepare.append(add_headers)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/clips/{name:.+}", self._clip)
        app.router.add_get("/roll/{name:.+}", self._roll)
        for route in PAGE_FILES:
            app.router.add_get(route, self._page_file)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        if self.sock is None:
            self.sock = listen_socket(self.host, self.port)
        await web.SockSite(self._runner, self.sock).start()
        self.port = self.sock.getsockname()[1]

    async def _shutdown(self) -> None:
        self.hub.close()
        for page in tuple(self.hub.pages):
            await page.ws.close(code=1001, message=b"the daemon is stopping")
        await self._runner.cleanup()

    # ------------------------------------------------------------------ HTTP
    def _check(self, request: web.Request, token: bool = True) -> None:
        if not host_ok(request, self.host):
            raise web.HTTPForbidden(text=f"host {request.host!r} is not this daemon's\n")
        if token and not token_ok(request, self.token):
            raise web.HTTPForbidden(text="a token is required: open the address serve --web printed\n")

    async def _page_file(self, request: web.Request) -> web.StreamResponse:
        self._check(request, token=False)  # the page holds no secret; it reads the token from its address
        return web.FileResponse(STATIC / PAGE_FILES[request.path])

    def _clip_path(self, request: web.Request, suffixes=(".wav", ".json", ".mid")) -> Path:
        self._check(request)
        try:
            return self.clips.path(request.match_info["name"], suffixes)
        except ClipRefused as exc:
            raise web.HTTPNotFound(text=f"{exc}\n") from None

    async def _clip(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(self._clip_path(request))

    async def _roll(self, request: web.Request) -> web.StreamResponse:
        path = self._clip_path(request, (".mid",))
        try:
            roll = await self.loop.run_in_executor(None, piano_roll, path)
        except (OSError, ValueError, EOFError) as exc:
            raise web.HTTPUnprocessableEntity(text=f"cannot read {path.name}: {exc}\n") from None
        return web.json_response(roll)

    # ------------------------------------------------------------------ the WebSocket
    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        self._check(request)
        if not origin_ok(request):
            raise web.HTTPForbidden(text=f"origin {request.headers.get('Origin')!r} is not this page's\n")
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, heartbeat=20.0)
        await ws.prepare(request)
        page = Page(ws)
        writer = asyncio.ensure_future(page.write())
        page.send(encode("/web/hello", self.hub.hello()))
        self.hub.add(page)
        guard = FloodGuard(RateLimit(RATE, BURST, time.monotonic), REFUSAL_EVERY, lambda n: page.send(encode(
            *error_reply("/web", f"too many messages: {n} refused (a page may send {RATE:.0f} a second)")
        )), self.loop.call_later)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    if not guard.allow():
                        continue
                    for reply in self._handle(msg.data):
                        page.send(encode(*reply))
                elif msg.type == WSMsgType.BINARY:
                    page.send(encode(*error_reply("/web", "binary messages are not understood; send JSON text")))
                elif msg.type == WSMsgType.ERROR:
                    log.warning("a page's WebSocket failed: %s", ws.exception())
        finally:
            guard.close()
            self.hub.remove(page)
            writer.cancel()
        return ws

    def _handle(self, text: str):
        """One message from a page -> the replies for that page (errors included)."""
        try:
            address, args = parse_message(text)
            if address == "/synth/variation" and args and isinstance(args[0], str):
                args = [str(self.clips.path(args[0], (".wav", ".mid"))), *args[1:]]
        except BadMessage as exc:
            return (error_reply(exc.address, str(exc)),)
        except ClipRefused as exc:
            return (error_reply("/synth/variation", f"{exc}: a page varies the clips it was shown"),)
        replies = self.controller.handle(address, args)
        for r_address, r_args in replies:
            if r_address == "/synth/error":
                log.warning("refused %s from a page: %s", r_args[0], r_args[1])
        return replies
