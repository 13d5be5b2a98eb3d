"""The lecture server: asyncssh on its own thread and event loop, one viewer session per connection.

Followers share renderers: one viewer process per view class (stepper.serve.screen), started
when the first follower of that class arrives; explorers each have a process of their own. With
``web_port`` the same loop serves browser pages too (stepper.serve.browser), followers like the
SSH ones.

The server runs apart from the presenter's TUI so that neither can hold up the other: a burst of
SSH work never delays the presenter's keys, and a slow repaint on the presenter's screen never
delays the viewers' bytes. The two meet in three thread-safe calls: ``publish`` (a presenter
move), ``on_viewers`` (the viewer count changed) and ``stop``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncssh

from stepper.serve.feed import Feed
from stepper.serve.keys import AuthorizedKeys, ServeError
from stepper.serve.poll import Question
from stepper.serve.process import ViewerProcess, viewer_command
from stepper.serve.screen import Renderer, renderer_env
from stepper.serve.follower import Follower
from stepper.serve.session import ViewerSession, printable

# Ciphers offered: AES-GCM first, whose encryption is one call per packet (every follower's frame is
# encrypted for it alone, hundreds per presenter step); without ChaCha20-Poly1305, which OpenSSH
# clients would otherwise pick and which costs about half as much again. AES-CTR for older clients.
CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr")
RESTART_LIMIT = 3  # a renderer process that ends by itself is started again this often, then not


@dataclass(frozen=True)
class Config:
    """Everything the server needs to know; the defaults are the command line's."""

    scenario_path: str
    host_key: asyncssh.SSHKey
    authorized_keys: str | None = None  # an OpenSSH authorized_keys file; None with open=True
    open: bool = False  # anyone may connect, without a key
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port (see Lecture.port)
    max_viewers: int = 500  # followers and explorers together
    max_explorers: int = 20  # students with a process of their own (f); the rest share renderers
    presenter: bool = True  # a presenter publishes positions; False for --headless
    login_timeout: float = 30.0  # seconds to authenticate, and then to open a session
    idle_timeout: float = 3600.0  # seconds with no byte either way before a viewer is dropped; 0 never
    stall_timeout: float = 60.0  # seconds a client may refuse its screen before it is dropped
    keepalive_interval: float = 15.0  # seconds of silence before asking the client if it is there
    keepalive_count_max: int = 4  # unanswered keepalives before a client is dropped
    outbound_limit: int = 256 * 1024  # bytes queued for a client before its screen stops being read
    check_interval: float = 5.0  # seconds between a session's stall and idle checks
    end_grace: float = 3.0  # seconds viewers get to say goodbye themselves when the lecture ends
    poll_names: bool = False  # the presenter's poll panel shows who answered what
    poll_log: str | None = None  # a JSON Lines file each poll question and its anonymous answers go to
    web_port: int | None = None  # browser pages follow on this port too (0: any free port); None: no web
    web_host: str = "127.0.0.1"
    web_token: str | None = None  # the token the page's link carries; None: a random one

    @property
    def max_connections(self) -> int:
        """Open connections (viewing, or still logging in) beyond which new ones are turned away."""
        return self.max_viewers + max(20, self.max_viewers // 5)

    @property
    def web_connections(self) -> int:
        """Open connections to the web page beyond which new ones are closed at once: a browser
        opens a few at a time for the page's files, then keeps the WebSocket's."""
        return 4 * self.max_viewers + 100


NO_FORWARDING = "stepper serve forwards nothing: it shows the lecture only"


class Gate(asyncssh.SSHServer):
    """One per connection: public-key authentication (or none, when open), then one viewer session."""

    def __init__(self, lecture: Lecture) -> None:
        self.lecture = lecture
        self.conn: asyncssh.SSHServerConnection | None = None
        self.username = "?"
        self.comment: str | None = None  # the comment of the key that logged in: who it is, for the roster
        self.session: ViewerSession | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        if not self.lecture.connection_opened(self):
            conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS, "too many connections: try again later")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.lecture.connection_closed(self)

    def begin_auth(self, username: str) -> bool:
        self.username = username
        return not self.lecture.config.open  # open: no authentication at all

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        """A key in the authorized_keys file, allowed from this address and not expired."""
        if self.lecture.keys is None:
            return False
        peer = self.conn.get_extra_info("peername") if self.conn else None
        allowed, comment = self.lecture.keys.allows(key, "", peer[0] if peer else "")
        if allowed:  # asyncssh asks again for the signed attempt: the last answer is the key that logs in
            self.comment = comment
        return allowed

    def public_key_auth_supported(self) -> bool:
        return not self.lecture.config.open

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def auth_completed(self) -> None:
        # An authenticated connection that never opens its session is not kept for ever.
        self.timer = self.lecture.loop.call_later(self.lecture.config.login_timeout, self.no_session)

    def no_session(self) -> None:
        if self.session is None and self.conn is not None:
            self.conn.close()

    # No forwarding of any kind: a viewer gets the stepper screen and nothing else.
    def connection_requested(self, dest_host, dest_port, orig_host, orig_port):
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, NO_FORWARDING)

    def server_requested(self, listen_host, listen_port) -> bool:
        return False

    def unix_connection_requested(self, dest_path):
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, NO_FORWARDING)

    def unix_server_requested(self, listen_path) -> bool:
        return False

    def tun_requested(self, unit):
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, NO_FORWARDING)

    def tap_requested(self, unit):
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, NO_FORWARDING)

    def session_requested(self) -> ViewerSession | bool:
        if self.session is not None:
            return False  # one screen per connection
        peer = self.conn.get_extra_info("peername") if self.conn else None
        host = peer[0] if peer else "?"
        name = printable(self.comment or self.username)
        self.session = ViewerSession(self.lecture, f"{printable(self.username)}@{host}", name)
        return self.session


class Lecture:
    """An SSH lecture server running on a thread of its own until ``stop``."""

    def __init__(self, config: Config, log: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.keys = AuthorizedKeys(config.authorized_keys) if config.authorized_keys and not config.open else None
        self._log = log
        self.on_viewers: Callable[[int, int], None] | None = None  # (following, exploring), server's thread
        self.viewers: set[Follower] = set()  # admitted: following or exploring, over SSH or the web
        self.renderers: dict[tuple[int, int], Renderer] = {}
        self.question: Question | None = None  # the class poll's latest question
        self.sessions: set[Follower] = set()
        self.gates: set[Gate] = set()
        self.rundir = tempfile.mkdtemp(prefix="stepper-serve-")  # mode 0700: the feed and viewer homes
        # Viewers load a copy taken now: editing the file mid-lecture cannot put them out of step.
        self.scenario_path = os.path.join(self.rundir, os.path.basename(config.scenario_path))
        shutil.copyfile(config.scenario_path, self.scenario_path)
        self.feed_path = os.path.join(self.rundir, "feed.sock") if config.presenter else None
        self.feed = Feed(self.feed_path) if self.feed_path else None
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._on_loop_error)
        self.server: asyncssh.SSHAcceptor | None = None
        self.web = None  # stepper.serve.browser.WebServer, with web_port
        self.thread = threading.Thread(target=self.loop.run_forever, name="stepper-serve", daemon=True)
        self.port = config.port
        self.stopped = False

    # --- starting and stopping (called from the presenter's thread) -----------------------------

    def start(self) -> None:
        """Listen; raise ServeError with one clear line if that is not possible."""
        self.thread.start()
        try:
            self._call(self._start(), timeout=30)
        except OSError as e:
            self._shutdown_thread()
            shutil.rmtree(self.rundir, ignore_errors=True)
            raise ServeError(f"cannot listen on {self.config.host}:{self.config.port}: {reason(e)}") from None
        except BaseException:
            self._shutdown_thread()
            shutil.rmtree(self.rundir, ignore_errors=True)
            raise

    async def _start(self) -> None:
        if self.feed:
            await self.feed.start()
        self.server = await asyncssh.create_server(
            lambda: Gate(self), self.config.host, self.config.port,
            server_host_keys=[self.config.host_key], encoding=None, line_editor=False,
            agent_forwarding=False, x11_forwarding=False, allow_scp=False, sftp_factory=None,
            login_timeout=self.config.login_timeout, keepalive_interval=self.config.keepalive_interval,
            keepalive_count_max=self.config.keepalive_count_max, window=256 * 1024,
            server_version="stepper", encryption_algs=CIPHERS)
        self.port = self.server.sockets[0].getsockname()[1]
        if self.config.web_port is not None:
            from stepper.serve.browser import WebServer, new_token

            config = self.config
            self.web = WebServer(self, config.web_host, config.web_port, config.web_token or new_token())
            try:
                await self.web.start()
            except OSError as e:
                self.server.close()
                await self.web.runner.cleanup()
                raise ServeError(f"--web: cannot listen on {config.web_host}:{config.web_port}: {reason(e)}") from None

    def publish(self, state: str) -> None:
        """The presenter moved or drew a sample (thread-safe): following viewers do the same."""
        if self.feed and not self.stopped:
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                self.loop.call_soon_threadsafe(self.feed.publish, state)

    def stop(self) -> None:
        """End the lecture: viewers are told and given a moment to leave; the rest are ended."""
        if self.stopped:
            return
        self.stopped = True
        if self.thread.is_alive():
            with contextlib.suppress(Exception):
                self._call(self._stop(), timeout=self.config.end_grace + 15)
            self._shutdown_thread()
        shutil.rmtree(self.rundir, ignore_errors=True)

    async def _stop(self) -> None:
        if self.server is not None:
            self.server.close()  # no new connections
        if self.web is not None:
            await self.web.close()
        for session in [s for s in self.viewers if s.mode == "following"]:
            session.end("The lecture has ended. Thank you for following!")
        if self.feed:
            self.feed.end()  # explorers' processes say goodbye and exit by themselves
            deadline = time.monotonic() + self.config.end_grace
            while any(s.process for s in self.viewers) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        for session in list(self.sessions):
            session.end("The lecture has ended.")
        for renderer in self.renderers.values():
            renderer.close()
            renderer.process.kill()
        deadline = time.monotonic() + 5
        while (self.viewers or any(g.session and not g.session.released for g in self.gates)
               or any(r.process.running for r in self.renderers.values())) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for gate in list(self.gates):
            if gate.conn is not None:
                gate.conn.abort()
        if self.web is not None:
            await self.web.stop()
        if self.feed:
            self.feed.close()
        await asyncio.sleep(0)

    def _call(self, coro, timeout: float):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _shutdown_thread(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            with contextlib.suppress(Exception):
                self.loop.close()

    # --- bookkeeping (on the server's thread) ----------------------------------------------------

    def connection_opened(self, gate: Gate) -> bool:
        if len(self.gates) >= self.config.max_connections or self.stopped:
            return False
        self.gates.add(gate)
        return True

    def connection_closed(self, gate: Gate) -> None:
        self.gates.discard(gate)

    def admit(self, session: Follower) -> bool:
        """A session wants a screen: yes while there is room."""
        self.sessions.add(session)
        if len(self.viewers) >= self.config.max_viewers or self.stopped:
            self.log(f"turned away (lecture full): {session.label}")
            return False
        self.viewers.add(session)
        return True

    def may_explore(self, session: Follower) -> bool:
        """A follower asks for a process of their own: yes while fewer than max_explorers have one."""
        exploring = sum(1 for s in self.viewers if s.mode == "exploring" and s is not session)
        return not self.stopped and exploring < self.config.max_explorers

    def leave(self, session: Follower) -> None:
        self.sessions.discard(session)
        if session in self.viewers:
            self.viewers.discard(session)
            self.log(f"viewer left: {session.label}")
            self.changed()

    def counts(self) -> tuple[int, int]:
        """How many follow the presenter and how many explore."""
        exploring = sum(1 for s in self.viewers if s.mode == "exploring")
        return len(self.viewers) - exploring, exploring

    def changed(self) -> None:
        """Someone joined, left, or went from following to exploring or back: tell the presenter."""
        if self.on_viewers is not None:
            with contextlib.suppress(Exception):
                self.on_viewers(*self.counts())

    def roster(self) -> list[tuple[str, str, str, float]]:
        """Who is watching (thread-safe): name, view class, following or exploring, connected since."""
        def look():
            return sorted((s.name, s.view_class, s.mode, s.since) for s in self.viewers)

        return self.inspect(look)

    # --- the class poll (stepper.serve.poll) -----------------------------------------------------

    def ask(self, number: int, step: int, value: float, what: str) -> None:
        """The presenter asks (thread-safe): every follower predicts the value of ``step``."""
        self.loop.call_soon_threadsafe(self._ask, Question(number, step, value, what))

    def _ask(self, question: Question) -> None:
        self.question = question
        for session in list(self.viewers):
            if session.mode == "following":
                session.ask(question)

    def reveal(self) -> None:
        """The presenter reveals (thread-safe): everyone sees the value and how they did."""
        self.loop.call_soon_threadsafe(self._reveal)

    def _reveal(self) -> None:
        question = self.question
        if question is None or question.revealed:
            return
        question.revealed = True
        for session in list(self.viewers):
            session.reveal(question)
        if self.config.poll_log:
            try:
                with open(self.config.poll_log, "a", encoding="utf-8") as f:
                    f.write(question.record(self.counts()[0]) + "\n")
            except OSError as e:
                self.log(f"could not write the poll log: {e.strerror or e}")

    def open_question(self) -> Question | None:
        """The question a follower joining now is asked too (on the server's thread)."""
        return self.question if self.question and not self.question.revealed else None

    def poll_summary(self) -> dict | None:
        """What the presenter's poll panel shows (thread-safe)."""
        def look():
            if self.question is None:
                return None
            return self.question.summary(self.counts()[0], self.config.poll_names)

        return self.inspect(look)

    # --- shared renderers (on the server's thread) -----------------------------------------------

    def renderer(self, size: tuple[int, int]) -> Renderer:
        """The shared screen of one size, its renderer process started with the first follower."""
        renderer = self.renderers.get(size)
        if renderer is None:
            renderer = self.renderers[size] = Renderer(size, self._renderer_process, self.loop)
        return renderer

    def _renderer_process(self, renderer: Renderer) -> ViewerProcess:
        process = ViewerProcess(self.loop, self.rundir, renderer.feed)
        self.loop.create_task(self._run_renderer(renderer, process))
        return process

    async def _run_renderer(self, renderer: Renderer, process: ViewerProcess) -> None:
        """Run a renderer process for as long as the lecture lasts; start it again if it ends early."""
        columns, lines = renderer.size
        for attempt in range(RESTART_LIMIT + 1):
            if attempt:
                process = renderer.process = ViewerProcess(self.loop, self.rundir, renderer.feed)
            if self.stopped:
                return
            try:
                await process.start(viewer_command(self.scenario_path, self.feed_path, "shared"),
                                    renderer_env(), renderer.size)
            except OSError as e:
                self.log(f"could not start the {columns}x{lines} screen: {e.strerror or e}")
                return
            status = await process.wait()
            if self.stopped:
                return
            self.log(f"the {columns}x{lines} screen ended (status {status}); starting it again")
            await asyncio.sleep(0.5 * (attempt + 1))

    def inspect(self, look: Callable[[], object]) -> object:
        """Run ``look`` on the server's thread and return what it returns (for tests and the benchmark)."""
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(look())
            except Exception as e:  # handed to the caller
                future.set_exception(e)

        self.loop.call_soon_threadsafe(run)
        return future.result(10)

    def viewer_pids(self) -> list[int]:
        """Process ids of the running viewer processes: explorers' and the shared renderers'."""
        def look():
            processes = [s.process for s in self.viewers if s.process] + [r.process for r in self.renderers.values()]
            return [p.proc.pid for p in processes if p.running]

        return self.inspect(look)

    def log(self, line: str) -> None:
        if self._log is not None:
            with contextlib.suppress(Exception):
                self._log(line)

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        # Never a traceback on the presenter's screen: one line in the server's log instead.
        error = context.get("exception")
        self.log(f"server error: {context.get('message')}{f': {error!r}' if error else ''}")


def reason(e: OSError) -> str:
    """Why a socket could not listen, in a few words."""
    return os.strerror(e.errno) if e.errno and e.errno > 0 else (e.strerror or str(e))


def quiet_logs() -> None:
    """asyncssh and aiohttp log through `logging`; with nobody listening, Python would print to the
    presenter's TTY."""
    for name in ("asyncssh", "aiohttp"):
        logger = logging.getLogger(name)
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
