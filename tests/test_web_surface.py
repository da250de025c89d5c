"""The browser surface end to end: a real `latent-synth serve --web --backend score` in a subprocess, Debian's
chromium driven by Playwright, and an OSC client beside them. One daemon and one browser for the module.
The browser tests skip, with the reason, only where chromium cannot start; the WebSocket's input checks
run with a plain client either way."""
import asyncio
import contextlib
import http.client
import json
import os
import threading
import time
import urllib.parse

import pytest
import soundfile as sf

from bridge.testing.browser import launch, web_address
from bridge.testing.osc_daemon import Daemon, jack_server, missing_jack_tools

pytestmark = pytest.mark.timeout(300)
PROMPT = "fast happy piano with drums"


@pytest.fixture(scope="module")
def jack_env():
    """The jam's audio output: a private JACK dummy server; its environment, or why there is none (the jam
    test alone depends on it: it skips where JACK is not installed and fails where it does not start)."""
    if missing_jack_tools():
        yield f"JACK tools not installed: {', '.join(missing_jack_tools())}"
        return
    with contextlib.ExitStack() as stack:
        try:
            env = stack.enter_context(jack_server())
        except RuntimeError as exc:
            yield exc
            return
        yield {k: env[k] for k in ("JACK_DEFAULT_SERVER", "JACK_NO_AUDIO_RESERVATION")}


@pytest.fixture(scope="module")
def daemon(jack_env, tmp_path_factory):
    env = jack_env if isinstance(jack_env, dict) else None
    d = Daemon(tmp_path_factory.mktemp("web"), "--backend", "score", "--web", "--web-port", "0", env=env)
    d.url, d.token = web_address(d.stdout)
    d.base = d.url.split("?")[0]
    yield d
    d.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        try:
            b = launch(p)
        except Exception as exc:  # no chromium here: say why
            pytest.skip(f"chromium cannot start: {' '.join(str(exc).split())[:300]}")
        yield b
        b.close()


@pytest.fixture
def page(browser, daemon):
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.goto(daemon.url)
    pg.wait_for_function("() => document.body.dataset.connected === 'true'")
    yield pg
    pg.close()
    assert not [e for e in errors if "CSP" in e or "Refused" in e or "TypeError" in e], errors


def osc_state(daemon):
    c = daemon.client()
    try:
        c.send("/synth/state")
        return json.loads(c.expect("/synth/state")[0])
    finally:
        c.close()


def value(page, selector):
    return page.eval_on_selector(selector, "el => el.value")


# ---------------------------------------------------------------------- the page plays
def test_the_start_up_line_and_the_page_headers(daemon):
    web_lines = [l for l in daemon.stdout if l.startswith("web:")]
    assert len(web_lines) == 1 and web_lines[0].startswith("web: http://127.0.0.1:") and "?token=" in web_lines[0]
    conn = http.client.HTTPConnection(*urllib.parse.urlsplit(daemon.base).netloc.split(":"))
    conn.request("GET", "/")
    resp = conn.getresponse()
    assert resp.status == 200
    csp = resp.getheader("Content-Security-Policy")
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and resp.getheader("X-Frame-Options") == "DENY"
    body = resp.read().decode()
    assert "<script src=\"app.js\"" in body and "http" not in body.split("<body>")[1]  # nothing from elsewhere


def test_type_a_prompt_move_a_slider_render_and_see_the_clip(page, daemon):
    page.fill("#prompt-0", PROMPT)
    page.press("#prompt-0", "Enter")
    page.fill("#cfg", "3.5")                                      # a range input: fires its input event
    page.fill("#duration", "3")
    page.press("#duration", "Enter")
    daemon.wait_for(lambda: osc_state(daemon)["duration"] == 3.0, 10)
    state = osc_state(daemon)
    assert (state["prompts"][0]["text"], state["cfg"], state["duration"]) == (PROMPT, 3.5, 3.0), state
    page.click("#render")
    card = page.wait_for_selector("#clip-list li.clip.final", timeout=120_000)
    page.wait_for_function("() => document.querySelector('#clip-list li.clip.final canvas.waveform').dataset.drawn",
                           timeout=30_000)
    page.wait_for_function("() => document.querySelector('#clip-list li.clip.final canvas.roll')?.dataset.voices",
                           timeout=30_000)
    name = card.get_attribute("data-name")
    wav = daemon.out / name
    seconds = sf.info(wav).duration
    assert seconds == pytest.approx(3.0, abs=0.01)
    page.wait_for_function("() => document.querySelector('#clip-list li.clip.final audio').duration > 0")
    assert card.eval_on_selector("audio", "a => a.duration") == pytest.approx(seconds, abs=0.01)
    assert float(card.eval_on_selector("canvas.waveform", "c => c.dataset.drawn")) == pytest.approx(seconds, abs=0.01)
    # one colour per voice with its GM instrument, as the .mid holds them
    side = json.loads(wav.with_suffix(".json").read_text())
    legend = card.eval_on_selector_all(".legend li", "items => items.map(i => i.textContent)")
    from synth.score.gm import PROGRAMS
    for voice in side["score"]["voices"]:
        if voice["notes"]:
            assert f"{voice['role']}: {PROGRAMS[voice['program']]}" in legend, legend
    colours = card.eval_on_selector_all(".legend li", "items => items.map(i => i.style.getPropertyValue('--c'))")
    assert len(set(colours)) == len(colours) >= 2
    if os.environ.get("LATENT_SYNTH_SCREENSHOT"):  # docs/web_surface.png is taken this way
        page.click("#preset-list")
        page.select_option("#preset-list", "score-sliders")
        page.click("#preset-load")
        page.wait_for_selector("#preset-sliders label:has-text('darker')")
        page.screenshot(path=os.environ["LATENT_SYNTH_SCREENSHOT"], full_page=True)


def test_load_a_preset_and_see_its_values_and_validated_effects(page, daemon):
    page.wait_for_function("() => document.querySelectorAll('#preset-list option').length > 0")
    options = page.eval_on_selector_all("#preset-list option", "os => os.map(o => o.textContent)")
    assert "score-sliders (shipped)" in options
    c = daemon.client()
    c.send("/synth/preset/load", "score-sliders")
    c.send("/synth/feature/1466", 1.25)                      # a value the page must show on that slider
    c.close()
    page.wait_for_selector("#preset-sliders label:has-text('darker (sad-piano)')")
    page.wait_for_function("() => document.querySelector('#s-synth-feature-1466')?.value === '1.25'")
    notes = page.eval_on_selector_all("#preset-sliders small", "ns => ns.map(n => n.textContent)")
    assert "spectral_centroid_mean d -4.28 at n = 100" in notes
    page.hover("#preset-sliders label[data-feature='1466']")            # /synth/feature/info on hover
    page.wait_for_function("() => document.querySelector(\"label[data-feature='1466']\").title.includes('fires on')")
    # save from the page, then morph between two presets from the page
    page.fill("#preset-save-name", "from-the-page")
    page.click("#preset-save")
    assert daemon.wait_for(lambda: (daemon.presets / "from-the-page.yaml").exists(), 10)
    page.wait_for_selector("#morph-to option[value='from-the-page']", state="attached")
    page.select_option("#morph-from", "lofi-drums")
    page.select_option("#morph-to", "warm-pad")
    page.fill("#morph-amount", "0.9")
    assert daemon.wait_for(lambda: osc_state(daemon)["name"] == "warm-pad", 10)
    # from the page: load another preset; its sliders are marked unvalidated
    page.select_option("#preset-list", "warm-pad")
    page.click("#preset-load")
    page.wait_for_selector("#preset-sliders label:has-text('brightness')")
    assert set(page.eval_on_selector_all("#preset-sliders small", "ns => ns.map(n => n.textContent)")) == {"unvalidated"}
    assert osc_state(daemon)["name"] == "warm-pad"
    assert float(value(page, "#s-synth-cfg")) == osc_state(daemon)["cfg"]


def test_two_pages_stay_in_sync_and_an_osc_change_shows(page, browser, daemon):
    other = browser.new_page()
    other.goto(daemon.url)
    other.wait_for_function("() => document.body.dataset.connected === 'true'")
    page.fill("#mix-1", "0.42")
    other.wait_for_function("() => document.querySelector('#mix-1').value === '0.42'")
    page.fill("#prompt-1", "soft strings")
    page.press("#prompt-1", "Enter")
    other.wait_for_function("() => document.querySelector('#prompt-1').value === 'soft strings'")
    page.focus("#mix-3")                                          # from the keyboard alone
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    assert daemon.wait_for(lambda: osc_state(daemon)["prompts"][3]["weight"] == pytest.approx(0.05), 10)
    other.wait_for_function("() => document.querySelector('#mix-3').value === '0.05'")
    c = daemon.client()
    c.send("/synth/steering/gain", 2.5)
    c.send("/synth/seed", 77)
    c.close()
    for pg in (page, other):
        pg.wait_for_function("() => document.querySelector('#steering-gain').value === '2.5' && "
                             "document.querySelector('#seed').value === '77'")
    other.close()


def test_a_dit_sae_slider_shows_its_value_and_its_validated_effect(page, daemon):
    c = daemon.client()
    c.send("/synth/preset/load", "score-inside")
    c.send("/synth/inside/41", 0.75)                         # a DiT SAE slider, set over OSC
    c.close()
    page.wait_for_selector("#preset-sliders label:has-text('louder (DiT 41')")
    page.wait_for_function("() => document.querySelector('#s-synth-inside-41')?.value === '0.75'")
    c = daemon.client()
    c.send("/synth/inside/251", 0.8)                         # float32 on the wire: shown as 0.8
    c.close()
    page.wait_for_function("() => document.querySelector('output[for=\"s-synth-inside-251\"]')?.textContent === '0.8'")
    assert page.eval_on_selector("#s-synth-inside-2", "e => e.value") == "0"   # the others at rest
    notes = page.eval_on_selector_all("#preset-sliders small", "ns => ns.map(n => n.textContent)")
    assert "rms_mean d +1.59 at n = 100" in notes


def test_the_arrangement_menu_sets_the_score_arrangement_and_shows_an_osc_change(page, daemon):
    page.select_option("#arrangement", "drums-only")
    assert daemon.wait_for(lambda: osc_state(daemon)["arrangement"] == "drums-only", 10)
    c = daemon.client()
    c.send("/synth/arrangement", "auto")
    c.close()
    page.wait_for_function("() => document.querySelector('#arrangement').value === 'auto'")
    assert osc_state(daemon)["arrangement"] is None
    if os.environ.get("LATENT_SYNTH_ARRANGEMENT_SHOT"):
        page.select_option("#arrangement", "solo")
        page.locator("#arrangement").scroll_into_view_if_needed()
        page.screenshot(path=os.environ["LATENT_SYNTH_ARRANGEMENT_SHOT"])
        c = daemon.client()
        c.send("/synth/arrangement", "auto")
        c.close()


def test_a_refused_value_shows_its_error(page, daemon):
    before = osc_state(daemon)
    page.fill("#steps", "5000")
    page.press("#steps", "Enter")
    page.wait_for_selector("#error:not([hidden])")
    text = page.text_content("#error")
    assert "steps" in text and "/synth/steps" in text and "outside [1, 1000]" in text, text
    assert osc_state(daemon) == before                       # nothing applied
    page.wait_for_function(f"() => document.querySelector('#steps').value === '{before['steps']}'")


def test_midi_learn_from_the_page_asks_the_daemon(page, daemon):
    page.check("#learn-mode")
    page.click("#cfg")
    page.wait_for_selector("#error:not([hidden])")
    text = page.text_content("#error")
    assert "/synth/learn" in text and "no MIDI input" in text, text          # this daemon has no --midi
    assert not page.is_checked("#learn-mode")


def test_the_jam_starts_and_its_beat_indicator_moves(page, daemon, jack_env):
    if isinstance(jack_env, str):
        pytest.skip(jack_env)
    if isinstance(jack_env, RuntimeError):
        pytest.fail(f"the JACK dummy server did not start: {jack_env}")
    page.select_option("#jam-bars", "1")
    page.fill("#jam-bpm", "150")
    page.press("#jam-bpm", "Enter")
    page.click("#jam-start")
    page.wait_for_function("() => document.querySelector('#jam-position').textContent.includes('beat')", timeout=60_000)
    seen = set()
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        seen.add(page.text_content("#jam-position"))
        time.sleep(0.05)
    beats = {t.split("beat ")[1].split(" ")[0] for t in seen if "beat" in t}
    assert len(beats) >= 3, seen                              # 1.6 s bars: every beat shows within 4 s
    assert any("bar 1/1" in t and "150" in t for t in seen), seen
    page.wait_for_selector("#clip-list li.clip.jam")
    page.wait_for_function("() => document.querySelector('#clip-list li.clip.jam p').textContent.includes('phrase')")
    assert "loop " in page.text_content("#clip-list li.clip.jam p")
    page.click("#jam-stop")
    page.wait_for_function("() => document.querySelector('#jam-position').textContent === 'stopped'")


# ---------------------------------------------------------------------- who may connect, what may be read
def handshake(daemon, query="", origin=None, host=None):
    """A WebSocket upgrade request; returns the HTTP status (101: accepted)."""
    netloc = urllib.parse.urlsplit(daemon.base).netloc
    conn = http.client.HTTPConnection(*netloc.split(":"))
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Host": host or netloc}
    if origin is not None:
        headers["Origin"] = origin
    conn.request("GET", f"/ws{query}", headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status


def test_a_connection_needs_the_token_and_the_pages_origin(daemon):
    own = daemon.base.rstrip("/")
    assert handshake(daemon, f"?token={daemon.token}", origin=own) == 101
    assert handshake(daemon, "", origin=own) == 403
    assert handshake(daemon, "?token=wrong", origin=own) == 403
    assert handshake(daemon, f"?token={daemon.token}", origin="http://evil.example") == 403
    assert handshake(daemon, f"?token={daemon.token}") == 403                      # no Origin at all
    port = own.rsplit(":", 1)[1]
    evil = f"evil.example:{port}"                                                   # DNS rebinding
    assert handshake(daemon, f"?token={daemon.token}", origin=f"http://{evil}", host=evil) == 403


def test_a_foreign_page_in_the_browser_is_refused(browser, daemon):
    pg = browser.new_page()
    pg.goto(daemon.base + "app.js")  # any page of ours, then a page from elsewhere (about:blank: origin null)
    pg.goto("about:blank")
    got = pg.evaluate("""url => new Promise(done => {
        const ws = new WebSocket(url);
        ws.onopen = () => done('open'); ws.onerror = () => done('refused'); })""",
                      daemon.base.replace("http", "ws") + f"ws?token={daemon.token}")
    pg.close()
    assert got == "refused"


def test_clip_requests_outside_the_announced_clips_are_refused(page, daemon):
    secret = daemon.out.parent / "secret.wav"
    secret.write_bytes(b"RIFF")
    (daemon.out / "link.wav").symlink_to(secret)
    token = daemon.token
    statuses = page.evaluate("""async ([names, token]) => {
        const out = [];
        for (const n of names) out.push((await fetch(`/clips/${n}?token=${token}`)).status);
        return out; }""", [["..%2Fsecret.wav", "%2E%2E/secret.wav", "%2Fetc%2Fpasswd", "link.wav", "nothing.wav"], token])
    assert statuses == [404] * 5
    conn = http.client.HTTPConnection(*urllib.parse.urlsplit(daemon.base).netloc.split(":"))
    for path in ("/clips/../secret.wav", "/clips/%2e%2e/secret.wav", "/clips/..%2f..%2fetc%2fpasswd"):
        conn.request("GET", f"{path}?token={token}")
        resp = conn.getresponse()
        resp.read()
        assert resp.status in (403, 404), path
    announced = next(daemon.out.glob("*.wav"), None)
    if announced is not None:  # an announced clip needs the token too
        conn.request("GET", f"/clips/{announced.name}")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 403


# ---------------------------------------------------------------------- bad input from the socket
def run_client(daemon, coroutine_fn):
    """Run an aiohttp client conversation on its own thread (Playwright holds this one's loop)."""
    import aiohttp

    result = {}

    async def main():
        async with aiohttp.ClientSession() as session:
            url = daemon.base.replace("http", "ws") + f"ws?token={daemon.token}"
            result["value"] = await coroutine_fn(session, url, daemon.base.rstrip("/"))

    def run():
        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            result["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join(120)
    if "error" in result:
        raise result["error"]
    return result["value"]


async def replies_until(ws, address, timeout=10.0):
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = await ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        if msg.type.name != "TEXT":
            return seen, msg
        data = json.loads(msg.data)
        seen.append(data)
        if data["address"] == address:
            return seen, data
    raise AssertionError(f"no {address} within {timeout}s: {seen[-5:]}")


def test_bad_socket_input_is_answered_and_nothing_is_half_applied(daemon):
    before = osc_state(daemon)
    bad = [
        ('{"address": "/synth/cfg", "args": [NaN]}', "/synth/cfg", "not JSON: NaN"),
        ('{"address": "/synth/cfg", "args": [1e400]}', "/synth/cfg", "not JSON: 1e400"),
        ('{"address": "/synth/cfg", "args": ["7"]}', "/synth/cfg", "expects a number"),
        ('{"address": "/synth/cfg", "args": [[7]]}', "/synth/cfg", "numbers and strings only"),
        ('{"address": "/synth/nope", "args": [1]}', "/synth/nope", "unknown address"),
        ('{"address": "/synth/preset/morph", "args": ["warm-pad", "lofi-drums", 2]}', "/synth/preset/morph", "outside"),
        ('{"address": "/synth/variation", "args": ["/etc/passwd", 0.5]}', "/synth/variation", "clips it was shown"),
        ('[1, 2]', "/web", "expects"),
        ('not json', "/web", "not JSON"),
    ]

    async def talk(session, url, origin):
        answers = []
        async with session.ws_connect(url, origin=origin) as ws:
            await replies_until(ws, "/web/hello")
            for text, _, _ in bad:
                await ws.send_str(text)
                answers.append((await replies_until(ws, "/synth/error"))[1]["args"])
        return answers

    answers = run_client(daemon, talk)
    for (text, address, words), (got_address, message) in zip(bad, answers):
        assert got_address == address and words in message, (text, got_address, message)
    assert osc_state(daemon) == before


def test_a_huge_message_and_a_flood_leave_every_transport_serving(daemon):
    async def huge(session, url, origin):
        async with session.ws_connect(url, origin=origin, max_msg_size=0) as ws:
            await replies_until(ws, "/web/hello")
            await ws.send_str('{"address": "/synth/prompt", "args": ["' + "x" * (10 * 2**20) + '"]}')
            error = (await replies_until(ws, "/synth/error"))[1]["args"]
            await ws.send_str(json.dumps({"address": "/synth/ping", "args": []}))
            await replies_until(ws, "/synth/pong")                         # the same connection serves on
            return error

    address, message = run_client(daemon, huge)
    assert address == "/synth/prompt" and "too long" in message, message
    assert not osc_state(daemon)["prompts"][0]["text"].startswith("xxx")

    async def flood(session, url, origin):
        async with session.ws_connect(url, origin=origin) as ws:
            await replies_until(ws, "/web/hello")
            for i in range(2000):  # a page may send 500 a second, 250 at once
                await ws.send_str(json.dumps({"address": "/synth/steering/gain", "args": [i % 1000 / 1000]}))
            seen, _ = await replies_until(ws, "/synth/error", timeout=20)
            errors = [m["args"] for m in seen if m["address"] == "/synth/error"]
            await asyncio.sleep(1.0)                                # the page's allowance refills
            await ws.send_str(json.dumps({"address": "/synth/ping", "args": []}))
            await replies_until(ws, "/synth/pong")
            return errors

    c = daemon.client()
    errors = run_client(daemon, flood)
    assert errors and errors[0][0] == "/web" and "too many messages" in errors[0][1]
    c.send("/synth/ping")                                     # OSC keeps serving
    c.expect("/synth/pong")
    c.close()
    gain = osc_state(daemon)["steering_gain"]
    assert 0 <= gain < 1.0                                   # whole messages applied, in order; the rest refused
