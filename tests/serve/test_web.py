"""The lecture in a browser (`stepper serve ... --web`): real Chromium pages, driven by Playwright.

Pages follow a presenter driven by Textual's Pilot through the real `present`, as the SSH tests do;
what a page shows is read from `document.body.innerText` (xterm.js's DOM renderer and its screen
reader rows), as a browser or a screen reader would read it. The access, bounds and `stepper web`
tests need no browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from stepper.serve.screen import rung_for

from tests.serve.conftest import (FIRST_SCREEN, ROOT, SCENARIO, TOTAL, WAIT, Viewer, app_text, eventually,
                                  free_port, run_presenter, stepper_argv)

CHROMIUM = "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                    reason="Debian's Chromium is not installed (apt-get install chromium; .ci/run does)")
TOKEN = "lecture-token-for-tests"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows"]
PAGES = 20  # pages at once in the load test


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        await chromium.close()


def web_lecture(start_lecture, **options):
    return start_lecture(web_port=0, web_token=TOKEN, **options)


def link(lecture, token: str | None = TOKEN, path: str = "/") -> str:
    query = f"?token={token}" if token is not None else ""
    return f"http://127.0.0.1:{lecture.web.port}{path}{query}"


async def page_text(page) -> str:
    return await page.evaluate("document.body.innerText")


async def wait_text(page, text: str, timeout: float = WAIT) -> str:
    """Poll the page's text until it shows ``text`` (CSP forbids Playwright's wait_for_function)."""
    deadline = time.monotonic() + timeout
    while True:
        shown = await page_text(page)
        if text in shown:
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {text!r} on the page:\n{shown}")
        await asyncio.sleep(0.05)


async def open_page(browser, url: str, size: tuple[int, int] = (1280, 720), script: str | None = None):
    context = await browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = await context.new_page()
    if script:
        await page.add_init_script(script)
    await page.goto(url)
    return page


# Test instrumentation: each page notes when bytes naming a step first arrive on its WebSocket.
ARRIVALS = """
window.__arrivals = {};
const NativeSocket = window.WebSocket;
window.WebSocket = class extends NativeSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (event) => {
      if (typeof event.data === "string") return;
      const match = new TextDecoder().decode(event.data).match(/step (\\d+)\\/\\d+/);
      if (match && !(match[1] in window.__arrivals)) window.__arrivals[match[1]] = Date.now();
    });
  }
};
"""


async def following_page(browser, lecture, size: tuple[int, int] = (1280, 720)):
    """A page with the lecture's link, once it shows the first step."""
    page = await open_page(browser, link(lecture), size)
    await wait_text(page, f"step 1/{TOTAL}", FIRST_SCREEN)
    return page


def server_tasks(lecture) -> int:
    return lecture.inspect(lambda: len(asyncio.all_tasks(lecture.loop)))


def web_tasks(lecture) -> list[str]:
    """Tasks on the server's loop that serve pages: aiohttp's, and the web followers' writers."""
    def look():
        names = [(t.get_coro().cr_code.co_filename, t.get_coro().__qualname__) for t in asyncio.all_tasks(lecture.loop)]
        return [name for path, name in names if "aiohttp" in path or path.endswith("browser.py")]

    return lecture.inspect(look)


# --- following ---------------------------------------------------------------------------------------


@needs_chromium
async def test_web_a_page_with_the_token_follows_the_presenter(start_lecture, browser):
    lecture = web_lecture(start_lecture)

    async def lecture_script(app, pilot):
        page = await open_page(browser, link(lecture))
        text = await wait_text(page, f"step 1/{TOTAL}", FIRST_SCREEN)
        [window] = lecture.inspect(lambda: [viewer.size for viewer in lecture.viewers])
        columns, rows = rung_for(*window)  # 120x40 for 1280x720 with DejaVu Sans Mono
        assert "2-D convolution" in text and f"Following the presenter ({columns}x{rows})" in text
        await eventually(lambda: app.viewers == (1, 0), what="the presenter's count of the page")
        await eventually(lambda: "1 following" in app_text(app), what="the count on the presenter's header")
        [(name, view, mode, _)] = lecture.roster()
        assert (name, view, mode) == ("web 127.0.0.1", f"{columns}x{rows} truecolor web", "following")
        await pilot.press("right")
        await wait_text(page, f"step 2/{TOTAL}")
        await pilot.press("right")
        text = await wait_text(page, f"step 3/{TOTAL} · window · following")
        assert "y[0,0,2]" in text  # the formula of the presenter's step, as text the browser can read
        await page.context.close()
        await eventually(lambda: app.viewers == (0, 0), what="the page to be gone from the count")

    await run_presenter(lecture, lecture_script)


@needs_chromium
async def test_web_the_page_follows_its_window_to_another_class(start_lecture, browser):
    lecture = web_lecture(start_lecture)

    async def lecture_script(app, pilot):
        page = await open_page(browser, link(lecture), size=(844, 390))  # a phone in landscape
        text = await wait_text(page, f"step 1/{TOTAL}", FIRST_SCREEN)
        assert "Following the presenter (60x18)" in text
        fits = await page.evaluate("""() => {
            const screen = document.querySelector('.xterm-screen').getBoundingClientRect();
            return screen.bottom <= innerHeight + 1 && screen.right <= innerWidth + 1;
        }""")
        assert fits, "the whole 60x18 screen shows in a phone's landscape window"
        await page.set_viewport_size({"width": 1600, "height": 1000})
        await wait_text(page, "Following the presenter (160x48)")
        await pilot.press("right")
        await wait_text(page, f"step 2/{TOTAL}")
        assert [view for _, view, _, _ in lecture.roster()] == ["160x48 truecolor web"]
        await page.set_viewport_size({"width": 380, "height": 700})  # a phone upright: too narrow
        await wait_text(page, "too small to follow the lecture")
        await page.set_viewport_size({"width": 1024, "height": 600})
        await wait_text(page, "Following the presenter (100x30)")
        await wait_text(page, f"step 2/{TOTAL}")

    await run_presenter(lecture, lecture_script)


@needs_chromium
async def test_web_a_page_keys_do_not_move_the_presenter(start_lecture, browser):
    lecture = web_lecture(start_lecture)

    async def lecture_script(app, pilot):
        page = await following_page(browser, lecture)
        await page.click("#terminal")
        for key in ("l", "ArrowRight", "End", "Tab", "Space", "g", "5", "Enter", "r", "e", "Control+c"):
            await page.keyboard.press(key)
        await wait_text(page, "Following the presenter: q leaves")  # the hint over the bottom row
        await page.keyboard.press("f")
        await wait_text(page, "exploring on your own needs an SSH client")
        await asyncio.sleep(0.5)
        assert app.position == 0 and f"step 1/{TOTAL}" in app_text(app)
        assert f"step 1/{TOTAL}" in await page_text(page) and app.viewers == (1, 0)
        await pilot.press("right")
        await wait_text(page, f"step 2/{TOTAL}")
        await page.keyboard.press("q")  # leaves the lecture, not the presenter
        await wait_text(page, "You have left the lecture.")
        await eventually(lambda: app.viewers == (0, 0), what="the page to leave")
        assert app.position == 1

    await run_presenter(lecture, lecture_script)


@needs_chromium
async def test_web_the_class_poll_works_from_the_page(start_lecture, browser):
    lecture = web_lecture(start_lecture)

    async def lecture_script(app, pilot):
        page = await following_page(browser, lecture)
        await pilot.press("right", "right")
        await wait_text(page, f"step 3/{TOTAL}")
        value = app.step_value(2)
        await pilot.press("p")
        await wait_text(page, "Predict the hidden value")
        await page.click("#terminal")
        await page.keyboard.type(f"{value:g}")
        await page.keyboard.press("Enter")
        await eventually(lambda: "1 of 1 answered" in app_text(app), what="the page's answer on the panel")
        await pilot.press("p")  # reveal
        await wait_text(page, "right!")

    await run_presenter(lecture, lecture_script)


@needs_chromium
async def test_web_pages_count_towards_max_viewers_and_hear_the_end(start_lecture, keys, browser):
    lecture = web_lecture(start_lecture, max_viewers=2)
    pages = []

    async def lecture_script(app, pilot):
        viewer = await Viewer.connect(lecture.port, keys.viewer)
        await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
        pages.append(await following_page(browser, lecture))
        await eventually(lambda: app.viewers == (2, 0), what="an SSH viewer and a page")
        late = await open_page(browser, link(lecture))
        await wait_text(late, "Sorry, this lecture is full (2 viewers)")
        assert app.viewers == (2, 0)
        await viewer.close()

    await run_presenter(lecture, lecture_script)  # q: the lecture ends for everyone
    await wait_text(pages[0], "The lecture has ended. Thank you for following!")


@needs_chromium
async def test_web_twenty_pages_hold_and_closing_them_frees_everything(start_lecture, browser):
    lecture = web_lecture(start_lecture)
    latencies: list[float] = []  # from the presenter's key to the step in each page's text
    arrivals: list[float] = []  # ... to its bytes on each page's WebSocket

    async def lecture_script(app, pilot):
        before = server_tasks(lecture)
        started = time.monotonic()
        pages = await asyncio.gather(*(open_page(browser, link(lecture), script=ARRIVALS) for _ in range(PAGES)))
        for page in pages:
            await wait_text(page, f"step 1/{TOTAL}", FIRST_SCREEN)
        joined = time.monotonic() - started
        await eventually(lambda: app.viewers == (PAGES, 0), what=f"{PAGES} pages on the presenter's count")
        # Each page notes when a step first shows in its text, by the same clock as the key press.
        watch = """(step) => new Promise((resolve) => {
            const seen = () => document.body.innerText.includes(step);
            if (seen()) return resolve(Date.now());
            const observer = new MutationObserver(() => {
                if (seen()) { observer.disconnect(); resolve(Date.now()); }
            });
            observer.observe(document.body, { subtree: true, childList: true, characterData: true });
        })"""
        for k in range(2, 8):  # the first step is not timed: a renderer's first move pays one-off costs
            waits = [asyncio.ensure_future(page.evaluate(watch, f"step {k}/{TOTAL}")) for page in pages]
            await asyncio.sleep(0.3)  # every observer in place
            pressed = time.time() * 1000
            await pilot.press("right")
            shown = await asyncio.wait_for(asyncio.gather(*waits), WAIT)
            if k == 2:
                continue
            latencies.extend((t - pressed) / 1000 for t in shown)
            for page in pages:
                arrived = await page.evaluate(f"window.__arrivals[{k}]")
                arrivals.append((arrived - pressed) / 1000)
            await asyncio.sleep(0.3)
        for page in pages:
            assert f"step 7/{TOTAL}" in await page_text(page)
        assert len(lecture.renderers) == 1  # all twenty share one screen
        for page in pages:
            await page.context.close()
        await eventually(lambda: app.viewers == (0, 0), what="the closed pages to leave the count")
        await eventually(lambda: lecture.inspect(lambda: not lecture.web.sockets and not lecture.viewers),
                         what="no page left on the server")
        await eventually(lambda: not web_tasks(lecture), what="the pages' tasks to end")
        assert server_tasks(lecture) <= before + 2  # the shared screen's: its process and its feed
        report = (f"{PAGES} pages: joined and drawn in {joined:.1f} s; over {len(latencies)} page-steps, "
                  f"from the key to the step in the page's text: {figures(latencies)}; "
                  f"to its bytes on the page's WebSocket: {figures(arrivals)}")
        print(report)
        Path(os.environ.get("STEPPER_WEB_REPORT", os.devnull)).write_text(report + "\n")

    await run_presenter(lecture, lecture_script)
    assert len(latencies) == 5 * PAGES


async def last_words(ws) -> str:
    """Read a raw client's WebSocket until the server closes it; the reason the page was given."""
    told = ""
    deadline = time.monotonic() + WAIT
    while True:
        message = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
        if message.type == aiohttp.WSMsgType.TEXT:
            told = json.loads(message.data).get("end", told)
        elif message.type != aiohttp.WSMsgType.BINARY:
            return told


def figures(seconds: list[float]) -> str:
    p95 = statistics.quantiles(seconds, n=20)[18]
    return (f"median {statistics.median(seconds) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"max {max(seconds) * 1000:.0f} ms, best {min(seconds) * 1000:.0f} ms")


# --- access and bounds (no browser needed) -------------------------------------------------------------


async def test_web_without_the_token_the_page_and_socket_are_refused(start_lecture):
    lecture = web_lecture(start_lecture)
    async with aiohttp.ClientSession() as http:
        for token in (None, "", "wrong", TOKEN + "x", TOKEN.upper()):
            async with http.get(link(lecture, token)) as response:
                assert response.status == 403, token
                assert "token" in await response.text()
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(link(lecture, token, "/ws"))
            assert refused.value.status == 403
        async with http.get(link(lecture)) as response:
            assert response.status == 200 and "assets/xterm.js" in await response.text()
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
            assert response.headers["Referrer-Policy"] == "no-referrer"
    assert lecture.inspect(lambda: len(lecture.viewers)) == 0


async def test_web_serves_its_own_assets_and_no_other_file(start_lecture):
    lecture = web_lecture(start_lecture)
    base = f"http://127.0.0.1:{lecture.web.port}"
    async with aiohttp.ClientSession() as http:
        for name in ("xterm.js", "xterm.css", "addon-fit.js", "page.js", "page.css", "LICENSE-xterm.txt"):
            async with http.get(f"{base}/assets/{name}") as response:
                assert response.status == 200, name
                assert (await response.read()) == (ROOT / "stepper" / "serve" / "web" / name).read_bytes()
        probes = ["/assets/", "/assets", "/assets/../browser.py", "/assets/%2e%2e/browser.py",
                  "/assets/..%2fbrowser.py", "/assets/..%2F..%2Fpyproject.toml", "/assets/index.html",
                  "/assets/xterm.js.map", "/../pyproject.toml", "/%2e%2e/pyproject.toml", "/web/xterm.js",
                  "/static/", "/stepper/serve/web/xterm.js", "/etc/passwd", "/assets/%00", "/assets/.",
                  f"/assets/{'a' * 300}", "//etc/passwd", f"/..%2f..%2f..%2fetc%2fpasswd?token={TOKEN}"]
        for path in probes:
            async with http.get(base + path, allow_redirects=False) as response:
                body = await response.read()
                assert response.status in (403, 404), (path, response.status)
                assert b"root:" not in body and b"import" not in body and b"[project]" not in body, path
    # The same through a raw socket, where no client tidies the path first.
    for path in ("/assets/../browser.py", "/assets/..\\browser.py", "/../../../../etc/passwd"):
        reader, writer = await asyncio.open_connection("127.0.0.1", lecture.web.port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = await reader.read()
        writer.close()
        assert answer.split(b" ")[1] in (b"400", b"403", b"404"), (path, answer[:80])
        assert b"root:" not in answer and b"import" not in answer


async def test_web_page_messages_are_bounded_and_only_size_and_keys_count(start_lecture):
    lecture = web_lecture(start_lecture)

    async def lecture_script(app, pilot):
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(link(lecture, path="/ws"))
            for junk in ("not json", "[1, 2]", '{"size": "huge"}', '{"size": [1e9, 2]}', '{"keys": 5}',
                         '{"explore": true}', '{"size": [100, 30, 1]}', '{"step": 5}'):
                await ws.send_str(junk)
            await ws.send_bytes(b"\x1b[C" * 100)  # binary frames are not keys: ignored
            await ws.send_str(json.dumps({"size": [100, 30], "keys": "lll"}))
            screen = bytearray()
            deadline = time.monotonic() + FIRST_SCREEN
            while f"step 1/{TOTAL}".encode() not in screen and time.monotonic() < deadline:
                message = await ws.receive(timeout=FIRST_SCREEN)
                if message.type == aiohttp.WSMsgType.BINARY:
                    screen += message.data
            assert f"step 1/{TOTAL}".encode() in screen and app.position == 0
            # A flood: most messages are dropped, and past the limit the page is disconnected.
            with contextlib.suppress(ConnectionError):  # the server may hang up before the last one
                for _ in range(2000):
                    await ws.send_str('{"keys": "l"}')
            told = await last_words(ws)
            assert "Too many messages from this page" in told and app.position == 0
            await eventually(lambda: app.viewers == (0, 0), what="the flooding page to leave")
            # One message above the size limit closes the socket at once (1009: message too big).
            ws = await http.ws_connect(link(lecture, path="/ws"))
            await ws.send_str(json.dumps({"keys": "x" * 10_000}))
            message = await ws.receive(timeout=WAIT)
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
            assert ws.close_code == 1009
            await eventually(lambda: app.viewers == (0, 0), what="the page to leave")
        assert any("flooding" in line for line in start_lecture.logs)

    await run_presenter(lecture, lecture_script)


# --- the command line --------------------------------------------------------------------------------


@pytest.mark.parametrize("flags, message", [
    (["--web", "0"], "--web 0: choose a port from 1 to 65535"),
    (["--web", "8080", "--headless"], "--web needs a presenter to follow"),
    (["--web-host", "0.0.0.0"], "--web-host and --web-token go with --web PORT"),
    (["--web", "8080", "--web-token", "short"], "--web-token: 8 to 128 letters"),
    (["--web", "8080", "--web-token", "has spaces in it"], "--web-token: 8 to 128 letters"),
])
def test_web_bad_flags_exit_2_with_one_line(flags, message, tmp_path):
    import subprocess

    result = subprocess.run(stepper_argv("serve", SCENARIO, "--port", "2222", "--open", *flags),
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("stepper serve: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and not list(tmp_path.iterdir())


@needs_chromium
async def test_web_the_whole_command_prints_the_link_and_a_page_follows(spawn, browser, tmp_path):
    port, web = free_port(), free_port()
    presenter = spawn(stepper_argv("serve", SCENARIO, "--port", str(port), "--open", "--web", str(web),
                                   "--host-key", str(tmp_path / "host_key")), size=(100, 30), cwd=tmp_path)
    await presenter.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    banner = presenter.raw.decode(errors="replace")
    start = banner.index(f"http://localhost:{web}/?token=")
    url = banner[start:].split()[0]
    assert len(url.split("token=")[1]) >= 20  # random: secrets.token_urlsafe
    page = await open_page(browser, url)
    await wait_text(page, f"step 1/{TOTAL}", FIRST_SCREEN)
    presenter.send(b"l")
    await wait_text(page, f"step 2/{TOTAL}")
    refused = await open_page(browser, url.split("?")[0])
    assert "403" in await page_text(refused)
    presenter.send(b"q")
    assert await presenter.wait_exit() == 0
    await wait_text(page, "The lecture has ended. Thank you for following!")


async def test_web_stepper_web_serves_the_tui_to_a_browser(spawn):
    port = free_port()
    server = spawn([sys.executable, "-m", "stepper", "web", SCENARIO, "--port", str(port)])
    async with aiohttp.ClientSession() as http:
        async def page() -> int:
            try:
                async with http.get(f"http://127.0.0.1:{port}/") as response:
                    return response.status
            except aiohttp.ClientConnectionError:
                return 0

        deadline = time.monotonic() + WAIT
        while await page() != 200:
            assert time.monotonic() < deadline and server.proc.poll() is None, server.text()
            await asyncio.sleep(0.2)
        ws = await http.ws_connect(f"http://127.0.0.1:{port}/ws?width=100&height=30")
        await ws.send_str(json.dumps(["resize", {"width": 100, "height": 30}]))
        screen = bytearray()

        async def read_until(text: bytes) -> None:
            deadline = time.monotonic() + FIRST_SCREEN
            while text not in screen:
                message = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
                if message.type == aiohttp.WSMsgType.BINARY:
                    screen.extend(message.data)
                elif message.type != aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"the app closed before {text!r}: {bytes(screen[-500:])!r}")

        await read_until(f"step 1/{TOTAL}".encode())
        await ws.send_str(json.dumps(["stdin", "l"]))  # every tab steps on its own
        await read_until(f"step 2/{TOTAL}".encode())
        await ws.close()


def test_web_a_port_in_use_is_one_line_and_starts_nothing(keys):
    import socket

    from stepper.serve.keys import ServeError
    from stepper.serve.lecture import Config, Lecture

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        lecture = Lecture(Config(scenario_path=SCENARIO, host_key=keys.host, open=True, web_port=port))
        with pytest.raises(ServeError, match=f"--web: cannot listen on 127.0.0.1:{port}: Address already in use"):
            lecture.start()
    assert not os.path.exists(lecture.rundir) and not lecture.thread.is_alive()


async def test_web_connections_past_the_cap_are_closed_at_once(start_lecture):
    lecture = web_lecture(start_lecture, max_viewers=1)
    cap = lecture.config.web_connections  # 104 for one viewer
    held = [await asyncio.open_connection("127.0.0.1", lecture.web.port) for _ in range(cap)]
    await eventually(lambda: lecture.inspect(lambda: len(lecture.web.runner.server.connections)) == cap,
                     what="the idle connections to be counted")
    reader, writer = await asyncio.open_connection("127.0.0.1", lecture.web.port)
    assert await asyncio.wait_for(reader.read(), WAIT) == b""  # closed at once, nothing said
    writer.close()
    for _, held_writer in held[:10]:
        held_writer.close()
    await eventually(lambda: lecture.inspect(lambda: len(lecture.web.runner.server.connections)) < cap,
                     what="closed connections to be freed")
    async with aiohttp.ClientSession() as http, http.get(link(lecture)) as response:
        assert response.status == 200
    for _, held_writer in held[10:]:
        held_writer.close()


def test_web_the_page_asks_only_for_assets_that_are_served_and_shipped():
    import re
    from importlib import resources

    from stepper.serve.browser import ASSETS

    web = resources.files("stepper.serve") / "web"
    asked = set(re.findall(r'(?:href|src)="assets/([^"]+)"', (web / "index.html").read_text()))
    assert asked and asked <= set(ASSETS)
    assert all((web / name).is_file() for name in ASSETS)  # package data, in the wheel with the code
