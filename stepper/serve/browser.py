"""The lecture in a browser: `stepper serve ... --web PORT`, a page and a WebSocket per student.

A page is one more follower of the shared renderers (stepper.serve.follower): the server sends it
the rows of its view class's grid, in true colour, exactly as an SSH follower of that class gets
them, and xterm.js (from its npm package, vendored in stepper/serve/web/ with its licence) draws
them in the browser with its DOM renderer, so the text is the page's own, for the browser and for
screen readers. The page renders nothing of the lecture itself and starts no process: a browser
viewer costs what an SSH follower costs. It runs on the lecture server's loop, next to asyncssh.

The page measures its window in character cells (xterm.js's fit addon, at a base font size) and
sends that size; the server puts it in the class of the largest size that fits and tells it which
(``{"view": [columns, rows]}``); the page sizes its terminal to the class and scales the font to
fill the window, so a phone in landscape shows 60x18 and a large monitor 200x60.

Access: the page and its WebSocket need the lecture's token (``?token=``), random unless
``--web-token`` fixes it; without it both answer 403. Only the page's own assets are served, from
a fixed list read into memory at start: no path reaches the file system. From the page, the
server takes text messages of at most ``MESSAGE_LIMIT`` bytes, at most ``MESSAGES`` a second
(bursts of ``MESSAGE_BURST``), and reads only the window size and keys (which pass ``KeyFilter``
like an SSH follower's: `q` leaves, and the poll's input line takes a number); everything else is
ignored. Exploring is not offered in the browser.
"""

from __future__ import annotations

import asyncio
import collections
import gzip
import json
import secrets
import time
from importlib import resources
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from stepper.serve.follower import Follower
from stepper.serve.input import Bucket
from stepper.serve.process import clamp_size
from stepper.serve.session import printable

if TYPE_CHECKING:
    from stepper.serve.lecture import Lecture

MESSAGE_LIMIT = 4096  # bytes of one message from a page; a longer one closes its WebSocket (1009)
MESSAGES, MESSAGE_BURST = 30.0, 60  # messages a second from one page, and at once
FLOOD = 600  # messages dropped by the rate limit before the page is disconnected
KEYS_LIMIT = 256  # characters of keys in one message
HEARTBEAT = 15.0  # seconds between pings; a page that does not answer one is gone
HANG_UP_AFTER = 3.0  # seconds a page gets to close by itself after it was told the lecture ended for it
KEEPALIVE = 15.0  # seconds an idle HTTP connection (the page's and its assets') stays open

# The page's own files, and nothing else: name -> content type.
ASSETS = {
    "page.js": "text/javascript", "page.css": "text/css",
    "xterm.js": "text/javascript", "xterm.css": "text/css", "addon-fit.js": "text/javascript",
    "LICENSE-xterm.txt": "text/plain", "LICENSE-addon-fit.txt": "text/plain",
}
SECURITY = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
# xterm.js's DOM renderer writes its own <style> elements: styles may be inline, scripts may not.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'")
FORBIDDEN = ("403: this page needs the lecture's link with its token (…/?token=…); "
             "ask the lecturer for the link they were given when the lecture started.")


def new_token() -> str:
    return secrets.token_urlsafe(16)


class WebFollower(Follower):
    """One browser page following the presenter over a WebSocket."""

    kind = "web"
    hint = "Following the presenter: q leaves. (Exploring on your own needs an SSH client.)"
    smallest = ("{w}x{h} is too small to follow the lecture: make the window larger, or turn the "
                "phone sideways (at least 60x18 characters).")
    leave_keys = (b"q", b"Q")  # not Ctrl+C: in a browser that is the key for copying text

    def __init__(self, lecture: Lecture, ws: web.WebSocketResponse, transport, peer: str) -> None:
        super().__init__(lecture, f"web@{peer}", f"web {peer}")
        self.ws = ws
        self.transport = transport
        self.depth = "truecolor"
        self.messages = Bucket(MESSAGES, MESSAGE_BURST)
        self.dropped = 0
        self.outbox: collections.deque[bytes | str] = collections.deque()
        self.queued = 0  # bytes in the outbox
        self.writer: asyncio.Task | None = None
        self.closing = False

    def join(self) -> bool:
        """Take a place in the lecture, or say it is full; the screen follows the page's first size."""
        if not self.lecture.admit(self):
            self.mode = "ended"
            self.post(json.dumps({"end": f"Sorry, this lecture is full ({self.lecture.config.max_viewers} "
                                         "viewers). Try again in a little while."}))
            self.closing = True
            self.release()
            return False
        self.lecture.log(f"viewer joined: {self.label} (web)")
        self.later("check", self.lecture.config.check_interval, self.check)
        self.later("start", self.lecture.config.login_timeout, self.never_started)
        return True

    def never_started(self) -> None:
        if self.mode == "starting":
            self.end("The page did not say its size in time: reload it.")

    # --- from the page ---------------------------------------------------------------------------

    def message(self, text: str) -> None:
        """One text message from the page: its window size in cells, or keys; anything else is ignored."""
        self.last_activity = time.monotonic()
        if not self.messages.take():
            self.dropped += 1
            if self.dropped > FLOOD:
                self.lecture.log(f"viewer flooding, disconnected: {self.label}")
                self.end("Too many messages from this page: disconnected.")
            return
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict) or self.mode == "ended":
            return
        size = message.get("size")
        if isinstance(size, list) and len(size) == 2 and all(type(n) is int for n in size):
            if self.mode == "starting":
                self.size = clamp_size(*size)
                self.follow()
            elif clamp_size(*size) != self.size:  # the same size again needs no new screen
                self.resized(*size)
        keys = message.get("keys")
        if isinstance(keys, str) and len(keys) <= KEYS_LIMIT:
            self.take_input(keys.encode("utf-8", "replace"))

    def want_to_explore(self) -> None:
        self.notice("In the browser you follow the presenter: exploring on your own needs an SSH client.")

    # --- to the page -----------------------------------------------------------------------------

    def show_view(self, rung: tuple[int, int] | None) -> None:
        self.post(json.dumps({"view": list(rung) if rung else None, "window": list(self.size)}))

    def note(self, rung: tuple[int, int]) -> bytes:
        return b""  # the page scales its terminal to the class: there is no room below it

    def send(self, data: bytes) -> None:
        self.post(data)

    def post(self, item: bytes | str) -> None:
        """Queue a frame for the page (bytes: the terminal's; text: a control message), in order."""
        if self.closed or self.closing:
            return
        self.last_activity = time.monotonic()
        self.outbox.append(item)
        self.queued += len(item)
        if self.queued > self.lecture.config.outbound_limit and not self.paused:
            self.paused = True  # the page is not taking its screen: frames are skipped until it does
            self.stalled_since = time.monotonic()
        if self.writer is None:
            self.writer = self.loop.create_task(self.write())

    async def write(self) -> None:
        """Send what is queued; when the page has taken it all, it gets the rows that changed meanwhile."""
        try:
            while self.outbox:
                item = self.outbox.popleft()
                while isinstance(item, bytes) and self.outbox and isinstance(self.outbox[0], bytes):
                    item += self.outbox.popleft()
                self.queued -= len(item)
                await (self.ws.send_bytes(item) if isinstance(item, bytes) else self.ws.send_str(item))
            if self.closing:
                await self.ws.close()
        except (ConnectionError, RuntimeError):  # the page has gone
            self.outbox.clear()
            self.queued = 0
        finally:
            self.writer = None
        if self.paused and not self.closed:
            self.paused = False
            self.stalled_since = None
            self.frame_ready()

    # --- ending ----------------------------------------------------------------------------------

    def end(self, message: str) -> None:
        """End this viewer from the server's side: the page shows why, and the socket closes."""
        if self.mode == "ended":
            return
        self.stop_following()
        self.mode = "ended"
        self.prompt = None
        self.post(json.dumps({"end": message}))
        self.closing = True
        self.loop.call_later(HANG_UP_AFTER, self.hang_up)
        self.release()

    def hang_up(self) -> None:
        if not self.closed and self.transport is not None:
            self.transport.abort()

    def connection_lost(self) -> None:
        self.closed = True
        self.release()


class HangUp(asyncio.Protocol):
    """What a connection past the web server's cap gets: closed as soon as it is open."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class WebServer:
    """The page, its assets and its WebSocket, on the lecture server's loop."""

    def __init__(self, lecture: Lecture, host: str, port: int, token: str) -> None:
        self.lecture = lecture
        self.host = host
        self.port = port
        self.token = token
        self.assets = {name: self.load(name) for name in ASSETS}
        self.page_html = (resources.files("stepper.serve") / "web" / "index.html").read_bytes()
        self.sockets: set[WebFollower] = set()
        self.listener: asyncio.Server | None = None
        self.max_connections = lecture.config.web_connections
        app = web.Application()
        app.add_routes([web.get("/", self.page), web.get("/ws", self.socket),
                        web.get("/assets/{name}", self.asset)])
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0, keepalive_timeout=KEEPALIVE)

    @staticmethod
    def load(name: str) -> tuple[bytes, bytes]:
        """An asset's bytes, and the same gzipped (xterm.js is a fifth of its size so)."""
        data = (resources.files("stepper.serve") / "web" / name).read_bytes()
        return data, gzip.compress(data, 9, mtime=0)

    async def start(self) -> None:
        await self.runner.setup()
        server = self.runner.server  # aiohttp's protocol factory: one handler per connection

        def connection() -> asyncio.Protocol:
            """A connection past the cap is closed at once: no file descriptors hoarded."""
            if len(server.connections) >= self.max_connections:
                return HangUp()
            return server()

        self.listener = await asyncio.get_running_loop().create_server(connection, self.host, self.port)
        self.port = self.listener.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """No new pages; those open stay until the lecture has said goodbye."""
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    async def stop(self) -> None:
        """Every page is told the lecture has ended (by Lecture._stop); close what is left and stop."""
        deadline = time.monotonic() + self.lecture.config.end_grace
        while any(not f.closed for f in self.sockets) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for follower in list(self.sockets):
            follower.hang_up()
        await self.close()
        await self.runner.cleanup()

    def url(self, host: str) -> str:
        """The link students open."""
        return f"http://{host}:{self.port}/?token={self.token}"

    def allowed(self, request: web.Request) -> bool:
        given = request.query.get("token", "")
        return secrets.compare_digest(given.encode("utf-8", "replace"), self.token.encode())

    # --- routes ----------------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        if not self.allowed(request):
            return web.Response(status=403, text=FORBIDDEN, headers=SECURITY)
        return web.Response(body=self.page_html, content_type="text/html", charset="utf-8",
                            headers={**SECURITY, "Content-Security-Policy": PAGE_POLICY,
                                     "Cache-Control": "no-store"})

    async def asset(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in ASSETS:
            raise web.HTTPNotFound()
        plain, zipped = self.assets[name]
        headers = {**SECURITY, "Cache-Control": "max-age=3600", "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            plain, headers["Content-Encoding"] = zipped, "gzip"
        return web.Response(body=plain, content_type=ASSETS[name], headers=headers)

    async def socket(self, request: web.Request) -> web.StreamResponse:
        if not self.allowed(request):
            return web.Response(status=403, text=FORBIDDEN, headers=SECURITY)
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=MESSAGE_LIMIT, compress=False,
                                   writer_limit=64 * 1024)
        await ws.prepare(request)
        follower = WebFollower(self.lecture, ws, request.transport, printable(request.remote or "?"))
        self.sockets.add(follower)
        try:
            if follower.join():
                async for message in ws:
                    if message.type == WSMsgType.TEXT:
                        follower.message(message.data)
                    elif message.type == WSMsgType.ERROR:
                        break
            elif follower.writer is not None:
                await follower.writer
        finally:
            follower.connection_lost()
            self.sockets.discard(follower)
        return ws
