"""Benchmark `stepper serve` as a lecture hall: many followers sharing renderers, a few explorers.

    uv run python benchmarks/serve_bench.py [--followers 50,150,300] [--explorers 10] [--steps 20]
                                            [--scenario FILE] [--json FILE]

For each follower count in turn, a fresh `stepper serve` runs with its presenter TUI on a
pseudo-terminal that this script owns (100x30, xterm-256color). FOLLOWERS asyncssh clients connect
with a spread of windows and terminals like a lecture hall's (35% 80x24, 10% 90x28, 25% 100x30,
10% 132x43, 10% 120x40, 5% 160x48, 5% 200x60; 75% xterm-256color, 15% of those also sending
COLORTERM=truecolor in the session's environment, 10% plain xterm), at most --batch logging in at
once. Followers share one renderer process per view class. Then EXPLORERS clients connect, press
`f` and wait until their header says "exploring": each has a process of its own, and during the
timed steps each presses `l` about once a second (`h` on the way back from the last step), so they
cost what real explorers cost.

The script then presses the presenter's `l` STEPS times, --gap seconds apart, each once every
follower has caught up; per press it records, for every follower, the time from writing the key to
the moment that follower's output contains the new "step K/N" header. CPU is read from /proc for
the serve process, the shared renderers together and the explorers' processes together; memory is
the proportional set size (Pss, shared pages split between the processes that share them) of the
server's whole process tree, before the followers connect and after.

The clients run in --workers processes of their own (each with its own asyncio loop, at nice +5:
they stand in for the students' machines and yield to the server), and report time.monotonic()
stamps, which on Linux are one clock for every process. This script's own process (the
presenter's terminal) stays at normal priority: it only writes keys and reads the presenter's
screen. Everything runs on this machine, so the clients' SSH decryption competes with the server
for the same cores: the numbers are an upper bound on what students see over a LAN.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import multiprocessing
import os
import platform
import random
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import asyncssh

ROOT = Path(__file__).resolve().parent.parent

# (columns, rows, percent) of the followers' windows, and (TERM, session environment, percent).
WINDOWS = ((80, 24, 35), (90, 28, 10), (100, 30, 25), (132, 43, 10), (120, 40, 10), (160, 48, 5), (200, 60, 5))
TERMINALS = (("xterm-256color", {}, 75), ("xterm-256color", {"COLORTERM": "truecolor"}, 15), ("xterm", {}, 10))
DEPTH = {("xterm-256color", ""): "256", ("xterm-256color", "truecolor"): "truecolor", ("xterm", ""): "16"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kb(pid: int, field: str, path: str = "status") -> int:
    """A ``field: N kB`` line from /proc/PID/status (or smaps_rollup), in kB; 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/{path}") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int, task: int | None = None) -> float:
    """User plus system CPU time a process (or one of its threads) has used so far."""
    try:
        with open(f"/proc/{pid}/task/{task}/stat" if task else f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """Busy and total jiffies of the whole machine so far (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def children(pid: int) -> list[int]:
    """A process's children, whichever of its threads started them."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(p) for p in f.read().split()]
        except OSError:
            pass
    return found


def descendants(pid: int) -> list[int]:
    """A process's children, their children, and so on."""
    found, todo = [], children(pid)
    while todo:
        kid = todo.pop()
        found.append(kid)
        todo += children(kid)
    return found


def with_role(pids: list[int], role: str) -> list[int]:
    """The viewer processes among ``pids`` started with ``--role ROLE`` (shared: the renderers)."""
    return [pid for pid in pids if b"stepper.serve.child" in cmdline(pid) and b"--role\0%s\0" % role.encode()
            in cmdline(pid) + b"\0"]


def pss_kb(pids: list[int]) -> int:
    return sum(status_kb(pid, "Pss", "smaps_rollup") for pid in pids)


def spread(n: int, table, rng: random.Random) -> list:
    """``n`` items in the table's proportions (the last column, in percent), shuffled."""
    shares = [(row[:-1], n * row[-1] / 100) for row in table]
    counts = [int(share) for _, share in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: shares[i][1] - counts[i], reverse=True)
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    items = [item for (item, _), count in zip(shares, counts) for _ in range(count)]
    rng.shuffle(items)
    return items


def clients(followers: int, explorers: int, seed: int) -> list[dict]:
    """Every client's window and terminal; explorers are spread like followers."""
    rng = random.Random(seed)
    specs = []
    for kind, n in (("follower", followers), ("explorer", explorers)):
        for (w, h), (term, env) in zip(spread(n, WINDOWS, rng), spread(n, TERMINALS, rng)):
            specs.append({"id": len(specs), "kind": kind, "size": (w, h), "term": term, "env": env,
                          "depth": DEPTH[term, env.get("COLORTERM", "")]})
    # One follower of each window and terminal keeps what it received, to check its screen at the end.
    kinds = set()
    for spec in specs:
        kind = (spec["size"], spec["term"], spec["depth"])
        if spec["kind"] == "follower" and kind not in kinds:
            kinds.add(kind)
            spec["sample"] = True
    return specs


def check_screens(screens: dict[int, list[str]], specs: list[dict], step: int, total: int) -> list[str]:
    """The sampled followers' screens after the steps: at the presenter's step, and alike within a view class.

    Returns what is wrong, one line per problem.
    """
    from stepper.serve.screen import rung_for

    problems, classes = [], {}
    for i, lines in screens.items():
        w, h = specs[i]["size"]
        rw, rh = rung_for(w, h)
        shown = [line[:rw] for line in lines[:rh]]
        if not any(f"step {step}/{total}" in line for line in shown):
            problems.append(f"follower {i} ({w}x{h} {specs[i]['depth']}) does not show step {step}/{total}: "
                            f"{next((line.strip() for line in shown if 'step ' in line), shown[0].strip())!r}")
        classes.setdefault((rw, rh), []).append((i, shown))
    for (rw, rh), members in classes.items():
        first, reference = members[0]
        for i, shown in members[1:]:
            differ = [y for y in range(rh) if shown[y] != reference[y]]
            if differ:
                problems.append(f"followers {first} and {i} ({rw}x{rh}) differ in rows {differ[:8]}")
    return problems


class Presenter:
    """`stepper serve` with its presenter TUI on a pseudo-terminal of ours."""

    def __init__(self, argv: list[str], size=(100, 30)) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        env = {**os.environ, "TERM": "xterm-256color"}
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True, cwd=tempfile.gettempdir())
        os.close(slave)
        os.set_blocking(self.master, False)
        self.output = bytearray()
        self.log = bytearray()  # everything the presenter's terminal received, for a look afterwards
        asyncio.get_running_loop().add_reader(self.master, self.readable)

    def readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except (BlockingIOError, OSError):
            return
        self.output += data
        self.log += data
        del self.output[:-200_000]
        del self.log[:-4_000_000]

    def press(self, key: bytes) -> None:
        os.write(self.master, key)

    def counts(self) -> tuple[int, int] | None:
        """The header's latest "N following · M exploring" (M 0 when absent)."""
        found = None
        for match in re.finditer(rb"(\d+) following(?: \xc2\xb7 (\d+) exploring)?", self.output[-20_000:]):
            found = int(match.group(1)), int(match.group(2) or 0)
        return found

    def python_pid(self) -> int:
        """The serve process itself (a wrapper such as `uv run` may stand between)."""
        pid = self.proc.pid
        for _ in range(4):
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"-m\0stepper\0serve" in f.read():
                    return pid
            kids = children(pid)
            if not kids:
                break
            pid = kids[0]
        return self.proc.pid

    def stop(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        os.close(self.master)


class Watcher(asyncssh.SSHClientSession):
    """One follower: notes when each "step K/" first appears in its output, and what it received."""

    def __init__(self, total: int) -> None:
        self.tail = b""
        self.seen: dict[int, float] = {}
        self.pattern = re.compile(rb"step (\d+)/%d" % total)
        self.closed = False
        self.received = 0
        self.colours: set[str] = set()  # the colour escapes seen: truecolor, 256
        self.kept: bytearray | None = None  # everything received, for a sampled follower's screen
        self.chan: asyncssh.SSHClientChannel | None = None

    def connection_made(self, chan) -> None:
        self.chan = chan

    def data_received(self, data: bytes, datatype) -> None:
        now = time.monotonic()
        self.received += len(data)
        if self.kept is not None:
            self.kept += data
        text = self.tail + data
        for match in self.pattern.finditer(text):
            self.seen.setdefault(int(match.group(1)), now)
        if b"8;2;" in text:
            self.colours.add("truecolor")
        if b"8;5;" in text:
            self.colours.add("256")
        self.tail = text[-64:]
        self.more(text)

    def more(self, text: bytes) -> None:
        pass

    def connection_lost(self, exc) -> None:
        self.closed = True

    @property
    def depth(self) -> str:
        return "truecolor" if "truecolor" in self.colours else "256" if "256" in self.colours else "16"


class Explorer(Watcher):
    """One explorer: knows when its header says "exploring", and how long its own steps take."""

    def __init__(self, total: int) -> None:
        super().__init__(total)
        self.total = total
        self.exploring: float | None = None
        self.current = 0  # the step its screen shows last
        self.expected: tuple[int, float] | None = None  # (step, pressed at) awaited
        self.latencies: list[float] = []
        self.unanswered = 0

    def more(self, text: bytes) -> None:
        now = time.monotonic()
        if self.exploring is None and b"exploring" in text:
            self.exploring = now
        for match in self.pattern.finditer(text):
            self.current = int(match.group(1))
            if self.expected and self.current == self.expected[0]:
                self.latencies.append(now - self.expected[1])
                self.expected = None

    def key(self) -> bytes:
        """`l`, or `h` at the last step; note what the screen should show next."""
        if self.expected:
            self.unanswered += 1
        forward = self.current < self.total
        self.expected = (self.current + (1 if forward else -1), time.monotonic())
        return b"l" if forward else b"h"


async def wait_until(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


# --- the client worker processes -------------------------------------------------------------------


class Worker:
    """In a worker process: the asyncssh clients it was handed, run on its own loop."""

    def __init__(self, conn, port: int, key: bytes, total: int) -> None:
        self.conn = conn
        self.port = port
        self.key = asyncssh.import_private_key(key)
        self.total = total
        self.watchers: dict[int, Watcher] = {}
        self.connections: list[asyncssh.SSHClientConnection] = []
        self.errors: dict[int, str] = {}
        self.sizes: dict[int, tuple[int, int]] = {}
        self.pressing: list[asyncio.Task] = []
        self.done = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.conn.fileno(), self.readable)
        await self.done.wait()
        for conn in self.connections:
            conn.abort()
        await asyncio.sleep(0.2)

    def readable(self) -> None:
        try:
            while self.conn.poll():
                asyncio.get_running_loop().create_task(self.handle(*self.conn.recv()))
        except EOFError:  # the bench has gone
            asyncio.get_running_loop().remove_reader(self.conn.fileno())
            self.done.set()

    async def handle(self, command: str, *args) -> None:
        reply = await getattr(self, "do_" + command)(*args)
        self.conn.send(reply)

    async def join(self, spec: dict, gate: asyncio.Semaphore) -> dict:
        made = {"id": spec["id"]}
        watcher = (Explorer if spec["kind"] == "explorer" else Watcher)(self.total)
        try:
            async with gate:
                conn = await asyncio.wait_for(asyncssh.connect(
                    "127.0.0.1", self.port, known_hosts=None, username=f"student{spec['id']}",
                    client_keys=[self.key], agent_path=None), 120)
                self.connections.append(conn)
                await conn.create_session(lambda: watcher, term_type=spec["term"], term_size=spec["size"],
                                          env=spec["env"] or (), encoding=None)
                self.watchers[spec["id"]] = watcher
                if spec.get("sample"):
                    watcher.kept = bytearray()
                made["connected"] = time.monotonic()
        except (OSError, asyncssh.Error, TimeoutError) as e:
            self.errors[spec["id"]] = made["error"] = f"{type(e).__name__}: {e}"
            return made
        if await wait_until(lambda: watcher.seen or watcher.closed, 600) and watcher.seen:
            made["drawn"] = min(watcher.seen.values())
        if isinstance(watcher, Explorer) and "drawn" in made:
            await asyncio.sleep(0.3)
            watcher.chan.write(b"f")
            if await wait_until(lambda: watcher.exploring or watcher.closed, 120) and watcher.exploring:
                made["exploring"] = watcher.exploring
        made["closed"] = watcher.closed
        return made

    async def do_connect(self, specs: list[dict], batch: int) -> list[dict]:
        gate = asyncio.Semaphore(batch)
        self.sizes.update({spec["id"]: spec["size"] for spec in specs})
        return list(await asyncio.gather(*(self.join(spec, gate) for spec in specs)))

    async def do_await(self, k: int, timeout: float) -> dict[int, float | None]:
        """When each follower showed "step K/", once every follower has (or the time is up)."""
        followers = {i: w for i, w in self.watchers.items() if not isinstance(w, Explorer)}
        await wait_until(lambda: all(k in w.seen or w.closed for w in followers.values()), timeout)
        return {i: w.seen.get(k) for i, w in followers.items()}

    async def do_received(self) -> dict[int, int]:
        return {i: w.received for i, w in self.watchers.items()}

    async def do_explore(self, on: bool) -> int:
        if on:
            explorers = [w for w in self.watchers.values() if isinstance(w, Explorer) and w.exploring]
            self.pressing = [asyncio.get_running_loop().create_task(self.press(w)) for w in explorers]
        else:
            for task in self.pressing:
                task.cancel()
            self.pressing = []
        return len(self.pressing)

    async def press(self, explorer: Explorer) -> None:
        await asyncio.sleep(random.random())  # explorers do not press in step with one another
        while not explorer.closed:
            explorer.chan.write(explorer.key())
            await asyncio.sleep(0.9 + 0.2 * random.random())

    async def do_report(self) -> dict:
        import pyte

        screens = {}
        for i, w in self.watchers.items():
            if w.kept is not None:  # the sampled follower's terminal, as it shows now
                screen = pyte.Screen(*self.sizes[i])
                pyte.ByteStream(screen).feed(bytes(w.kept))
                screens[i] = screen.display
        return {"errors": self.errors, "screens": screens,
                "clients": {i: {"closed": w.closed, "depth": w.depth, "received": w.received,
                                **({"latencies": w.latencies, "unanswered": w.unanswered,
                                    "exploring": w.exploring is not None} if isinstance(w, Explorer) else {})}
                            for i, w in self.watchers.items()}}

    async def do_close(self) -> bool:
        self.done.set()
        return True


def worker_main(conn, port: int, key: bytes, total: int) -> None:
    os.nice(5)  # the clients stand in for the students' machines: they yield to the server
    asyncio.run(Worker(conn, port, key, total).run())


class WorkerHandle:
    """The bench's side of one worker process: a request, then its reply."""

    def __init__(self, port: int, key: bytes, total: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=worker_main, args=(theirs, port, key, total), daemon=True)
        self.process.start()
        theirs.close()
        self.replies: asyncio.Queue = asyncio.Queue()
        asyncio.get_running_loop().add_reader(self.conn.fileno(), self.readable)

    def readable(self) -> None:
        try:
            while self.conn.poll():
                self.replies.put_nowait(self.conn.recv())
        except EOFError:
            asyncio.get_running_loop().remove_reader(self.conn.fileno())
            self.replies.put_nowait(EOFError("the worker process ended"))

    async def ask(self, *request, timeout: float = 900):
        self.conn.send(request)
        reply = await asyncio.wait_for(self.replies.get(), timeout)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.conn.fileno())
        if self.process.is_alive():
            try:
                self.conn.send(("close",))
            except OSError:
                pass
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


async def ask_all(workers: list[WorkerHandle], requests: list[tuple], timeout: float = 900) -> list:
    return list(await asyncio.gather(*(w.ask(*r, timeout=timeout) for w, r in zip(workers, requests))))


# --- one follower count --------------------------------------------------------------------------


def tree_memory(server_pid: int) -> dict[str, float]:
    """PSS of the serve process and its descendants, in MB: all, and by kind."""
    kids = descendants(server_pid)
    renderers, explorers = with_role(kids, "shared"), with_role(kids, "explorer")
    others = [pid for pid in kids if pid not in renderers and pid not in explorers]
    serve, r, e, o = (pss_kb(p) / 1024 for p in ([server_pid], renderers, explorers, others))
    return {"total": serve + r + e + o, "serve": serve, "renderers": r, "explorers": e, "others": o,
            "renderer_count": len(renderers), "explorer_count": len(explorers)}


async def bench(args: argparse.Namespace, followers: int, total: int) -> dict:
    specs = clients(followers, args.explorers, args.seed)
    work = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    key = asyncssh.generate_private_key("ssh-ed25519")
    (work / "authorized_keys").write_bytes(key.export_public_key())
    port = free_port()
    presenter = Presenter([sys.executable, "-m", "stepper", "serve", str(args.scenario), "--port", str(port),
                           "--authorized-keys", str(work / "authorized_keys"), "--host-key", str(work / "host_key"),
                           "--max-viewers", str(max(500, followers + args.explorers)),
                           "--max-explorers", str(max(20, args.explorers))])
    workers: list[WorkerHandle] = []
    result: dict = {"followers": followers, "explorers": args.explorers, "steps": args.steps, "notes": []}
    note = result["notes"].append
    began = time.monotonic()
    try:
        if not await wait_until(lambda: b"0 following" in presenter.output, 120):
            raise SystemExit("the presenter did not start:\n" + presenter.output.decode(errors="replace")[-2000:])
        server_pid = presenter.python_pid()
        workers = [WorkerHandle(port, key.export_private_key(), total) for _ in range(args.workers)]
        await asyncio.sleep(2)  # the workers import asyncssh; the presenter settles
        result["pss_before"] = tree_memory(server_pid)

        # Followers, at most --batch logging in at once (spread over the workers).
        mine = [[s for s in specs if s["kind"] == "follower" and s["id"] % args.workers == n]
                for n in range(args.workers)]
        share = max(1, args.batch // args.workers)
        started = time.monotonic()
        joined = [j for reply in await ask_all(workers, [("connect", m, share) for m in mine]) for j in reply]
        drawn = [j["drawn"] for j in joined if "drawn" in j]
        result["joined_s"] = (max(drawn) - started) if drawn else float("nan")
        result["connect_errors"] = {j["id"]: j["error"] for j in joined if "error" in j}
        result["not_drawn"] = sum("connected" in j and "drawn" not in j for j in joined)
        result["drawn"] = len(drawn)
        if len(drawn) < followers:
            note(f"{followers - len(drawn)} of {followers} followers never drew a screen")
        await wait_until(lambda: presenter.counts() == (len(drawn), 0), 20)
        result["presenter_after_followers"] = presenter.counts()
        await asyncio.sleep(1)
        result["pss_followers"] = tree_memory(server_pid)

        # Explorers: connect, follow, press f, wait for "exploring".
        mine = [[s for s in specs if s["kind"] == "explorer" and s["id"] % args.workers == n]
                for n in range(args.workers)]
        explored = [j for reply in await ask_all(workers, [("connect", m, share) for m in mine]) for j in reply]
        result["explorers_exploring"] = sum("exploring" in j for j in explored)
        result["connect_errors"].update({j["id"]: j["error"] for j in explored if "error" in j})
        if result["explorers_exploring"] < args.explorers:
            note(f"only {result['explorers_exploring']} of {args.explorers} explorers reached 'exploring'")
        await wait_until(lambda: presenter.counts() == (len(drawn), result["explorers_exploring"]), 20)
        result["presenter_after_explorers"] = presenter.counts()
        await asyncio.sleep(2)  # let the explorers' processes settle before measuring
        result["pss_explorers"] = tree_memory(server_pid)

        kids = descendants(server_pid)
        renderers, explorers = with_role(kids, "shared"), with_role(kids, "explorer")
        result["renderer_processes"] = len(renderers)
        result["explorer_processes"] = len(explorers)
        groups = {"serve": [server_pid], "renderers": renderers, "explorers": explorers,
                  "clients": [w.process.pid for w in workers]}

        def cpu() -> dict[str, float]:
            return {name: sum(map(cpu_seconds, pids)) for name, pids in groups.items()}

        def presenter_thread() -> float:  # the serve process's main thread: the presenter's TUI
            return cpu_seconds(server_pid, server_pid)

        idle_cpu, idle_started = cpu(), time.monotonic()
        await asyncio.sleep(args.idle)
        idle_time = time.monotonic() - idle_started
        result["idle_cpu_pct"] = {name: (value - idle_cpu[name]) / idle_time * 100 for name, value in cpu().items()}

        # The timed steps.
        received_before = {k: v for r in await ask_all(workers, [("received",)] * len(workers)) for k, v in r.items()}
        pressing = sum(await ask_all(workers, [("explore", True)] * len(workers)))
        cpu_before, busy_before, timed_started = cpu(), machine_busy(), time.monotonic()
        presenter_before = presenter_thread()
        bench_before = sum(os.times()[:2])
        per_follower: dict[int, list[float | None]] = {}
        pressed_at: list[float] = []
        per_step = []
        latencies: list[float] = []
        missed = 0
        for k in range(2, args.steps + 2):
            pressed = time.monotonic()
            presenter.press(b"l")
            seen = {i: t for r in await ask_all(workers, [("await", k, 60)] * len(workers)) for i, t in r.items()}
            pressed_at.append(pressed)
            for i, t in seen.items():
                per_follower.setdefault(i, []).append(t)
            step = [t - pressed for t in seen.values() if t is not None]
            missed += len(seen) - len(step)
            latencies += step
            per_step.append({"step": k, "median_ms": statistics.median(step) * 1000 if step else None,
                             "min_ms": min(step) * 1000 if step else None,
                             "max_ms": max(step) * 1000 if step else None, "missed": len(seen) - len(step)})
            await asyncio.sleep(args.gap)
        timed = time.monotonic() - timed_started
        cpu_after, busy_after, bench_after = cpu(), machine_busy(), sum(os.times()[:2])
        presenter_cpu = presenter_thread() - presenter_before
        await ask_all(workers, [("explore", False)] * len(workers))
        received_after = {k: v for r in await ask_all(workers, [("received",)] * len(workers)) for k, v in r.items()}
        report_ = await ask_all(workers, [("report",)] * len(workers))
        states = {int(i): c for r in report_ for i, c in r["clients"].items()}
        screens = {int(i): lines for r in report_ for i, lines in r["screens"].items()}
        result["screens_checked"] = len(screens)
        result["screens"] = {i: {"size": specs[i]["size"], "depth": specs[i]["depth"], "lines": lines}
                             for i, lines in screens.items()}
        result["screen_problems"] = check_screens(screens, specs, args.steps + 1, total)
        for problem in result["screen_problems"]:
            note(problem)

        follower_ids = [s["id"] for s in specs if s["kind"] == "follower" and s["id"] in received_before]
        per_follower_bytes = [(received_after[i] - received_before[i]) / args.steps for i in follower_ids]
        by_depth: dict[str, list[float]] = {}
        for i, b in zip(follower_ids, per_follower_bytes):
            by_depth.setdefault(specs[i]["depth"], []).append(b)
        explorer_latencies = [t for c in states.values() for t in c.get("latencies", [])]
        cpu_ms = {name: (cpu_after[name] - cpu_before[name]) / args.steps * 1000 for name in cpu_after}
        result.update({
            "timed_s": timed, "latencies_ms": [t * 1000 for t in latencies], "per_step": per_step,
            "missed": missed, "repaints": len(latencies),
            "median_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
            "p95_ms": quantile(latencies, 0.95) * 1000 if latencies else float("nan"),
            "max_ms": max(latencies) * 1000 if latencies else float("nan"),
            "best_ms": min(latencies) * 1000 if latencies else float("nan"),
            "median_first_per_step_ms": statistics.median(s["min_ms"] for s in per_step if s["min_ms"] is not None)
            if any(s["min_ms"] is not None for s in per_step) else float("nan"),
            "median_last_per_step_ms": statistics.median(s["max_ms"] for s in per_step if s["max_ms"] is not None)
            if any(s["max_ms"] is not None for s in per_step) else float("nan"),
            "cpu_per_step_ms": cpu_ms,
            "presenter_thread_cpu_per_step_ms": presenter_cpu / args.steps * 1000,
            "server_cpu_per_step_ms": cpu_ms["serve"] + cpu_ms["renderers"],
            "all_cpu_per_step_ms": cpu_ms["serve"] + cpu_ms["renderers"] + cpu_ms["explorers"],
            "machine_busy_pct": (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1]) * 100,
            # CPU that neither the server's tree, the clients nor this script used: other work on the machine
            "others_cpu_pct": ((busy_after[0] - busy_before[0]) / os.sysconf("SC_CLK_TCK")
                               - sum(cpu_after[n] - cpu_before[n] for n in cpu_after)
                               - (bench_after - bench_before)) / timed * 100,
            "latencies_by_follower_ms": {i: [(seen_k - p) * 1000 if seen_k is not None else None
                                             for seen_k, p in zip(per_follower[i], pressed_at)]
                                         for i in per_follower},
            "bytes_per_step_median": statistics.median(per_follower_bytes) if per_follower_bytes else float("nan"),
            "bytes_per_step_by_depth": {d: statistics.median(v) for d, v in sorted(by_depth.items())},
            "explorers_pressing": pressing, "explorer_presses_answered": len(explorer_latencies),
            "explorer_presses_unanswered": sum(c.get("unanswered", 0) for c in states.values()),
            "explorer_median_ms": statistics.median(explorer_latencies) * 1000 if explorer_latencies else float("nan"),
            "explorer_p95_ms": quantile(explorer_latencies, 0.95) * 1000 if explorer_latencies else float("nan"),
            "dropped": sum(c["closed"] for c in states.values()),
            "dropped_ids": [i for i, c in states.items() if c["closed"]],
            "depth_mismatches": [(i, specs[i]["depth"], c["depth"]) for i, c in states.items()
                                 if specs[i]["depth"] != c["depth"]],
            "presenter_at_end": presenter.counts(),
            "server_alive": presenter.proc.poll() is None,
            "renderers_at_end": len(with_role(descendants(server_pid), "shared")),
        })
        joined_mem = result["pss_followers"]["total"] - result["pss_before"]["total"]
        result["pss_per_follower_mb"] = joined_mem / followers
        result["serve_pss_per_follower_kb"] = (result["pss_followers"]["serve"] - result["pss_before"]["serve"]) \
            * 1024 / followers
        if result["dropped"]:
            note(f"{result['dropped']} clients' connections closed during the run: ids {result['dropped_ids'][:20]}")
        if missed:
            note(f"{missed} repaints never arrived within 60 s")
        if result["renderers_at_end"] != result["renderer_processes"]:
            note(f"renderer processes: {result['renderer_processes']} before the steps, "
                 f"{result['renderers_at_end']} after")
        return result
    finally:
        result["wall_s"] = time.monotonic() - began
        for worker in workers:
            worker.close()
        presenter.press(b"q")
        await wait_until(lambda: presenter.proc.poll() is not None, 30)
        log = work / "presenter.log"
        log.write_bytes(bytes(presenter.log))
        result["presenter_log"] = str(log)
        result["presenter_exit"] = presenter.proc.poll()
        presenter.stop()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


# --- the report ----------------------------------------------------------------------------------


def report(results: list[dict], args: argparse.Namespace, total: int) -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
               platform.processor())
    windows = ", ".join(f"{p}% {w}x{h}" for w, h, p in WINDOWS)

    def row(name: str, cell) -> str:
        return f"| {name} | " + " | ".join(cell(r) for r in results) + " |"

    def mb(value: float) -> str:
        return f"{value:.0f} MB"

    lines = [
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, scenario "
        f"{Path(args.scenario).name} ({total} steps). Followers' windows {windows}; 75% xterm-256color, "
        f"15% xterm-256color + COLORTERM=truecolor, 10% xterm. A fresh server for each follower count; "
        f"clients in {args.workers} worker processes at nice +5, at most {args.batch} logging in at once.",
        "",
        "| measure | " + " | ".join(f"{r['followers']} followers" for r in results) + " |",
        "| --- |" + " --- |" * len(results),
        row("followers drawing / connect errors / dropped during run",
            lambda r: f"{r['drawn']} / {len(r['connect_errors'])} / {r['dropped']}"),
        row("explorers exploring (pressing `l` during the steps)",
            lambda r: f"{r['explorers_exploring']} ({r['explorers_pressing']})"),
        row("presenter header at the end", lambda r: "{} following · {} exploring".format(*r["presenter_at_end"])
            if r.get("presenter_at_end") else "?"),
        row("renderer processes (view classes)", lambda r: str(r["renderer_processes"])),
        row("time for all followers to join and draw", lambda r: f"{r['joined_s']:.1f} s"),
        row("presenter steps timed (repaints, missed)", lambda r: f"{r['steps']} ({r['repaints']}, {r['missed']})"),
        row("follow latency, median", lambda r: f"{r['median_ms']:.0f} ms"),
        row("follow latency, 95th percentile", lambda r: f"{r['p95_ms']:.0f} ms"),
        row("follow latency, max", lambda r: f"{r['max_ms']:.0f} ms"),
        row("follow latency, best", lambda r: f"{r['best_ms']:.0f} ms"),
        row("first follower's repaint per step, median", lambda r: f"{r['median_first_per_step_ms']:.0f} ms"),
        row("last follower's repaint per step, median", lambda r: f"{r['median_last_per_step_ms']:.0f} ms"),
        row("explorer's own step (`l`), median / p95 (unanswered)",
            lambda r: f"{r['explorer_median_ms']:.0f} / {r['explorer_p95_ms']:.0f} ms "
                      f"({r['explorer_presses_unanswered']} of {r['explorer_presses_answered'] + r['explorer_presses_unanswered']})"),
        row("CPU per presenter step: serve process", lambda r: f"{r['cpu_per_step_ms']['serve']:.0f} ms"),
        row("... of which its main thread (the presenter's TUI) / the other threads (SSH, screens)",
            lambda r: f"{r['presenter_thread_cpu_per_step_ms']:.0f} / "
                      f"{r['cpu_per_step_ms']['serve'] - r['presenter_thread_cpu_per_step_ms']:.0f} ms"),
        row("CPU per presenter step: renderers together", lambda r: f"{r['cpu_per_step_ms']['renderers']:.0f} ms"),
        row("CPU per presenter step: explorers together", lambda r: f"{r['cpu_per_step_ms']['explorers']:.0f} ms"),
        row("CPU per presenter step: sum", lambda r: f"{r['all_cpu_per_step_ms']:.0f} ms"),
        row("CPU per presenter step: the clients (not the server)", lambda r: f"{r['cpu_per_step_ms']['clients']:.0f} ms"),
        row("machine busy during the steps (of both cores)", lambda r: f"{r['machine_busy_pct']:.0f} %"),
        row("... of which other work on the machine (not server, clients, bench)",
            lambda r: f"{r['others_cpu_pct']:.0f} % of a core"),
        row("CPU while nobody moves: serve / renderers / explorers",
            lambda r: "{serve:.1f} / {renderers:.1f} / {explorers:.1f} % of a core".format(**r["idle_cpu_pct"])),
        row("PSS, server's process tree: before followers", lambda r: mb(r["pss_before"]["total"])),
        row("PSS, server's process tree: with the followers",
            lambda r: f"{mb(r['pss_followers']['total'])} (serve {mb(r['pss_followers']['serve'])}, "
                      f"renderers {mb(r['pss_followers']['renderers'])})"),
        row("PSS, server's process tree: with the explorers too",
            lambda r: f"{mb(r['pss_explorers']['total'])} (explorers {mb(r['pss_explorers']['explorers'])})"),
        row("PSS per added follower (tree, renderers included)", lambda r: f"{r['pss_per_follower_mb'] * 1024:.0f} kB"),
        row("PSS per added follower (serve process alone)", lambda r: f"{r['serve_pss_per_follower_kb']:.0f} kB"),
        row("bytes received per follower per step, median", lambda r: f"{r['bytes_per_step_median']:,.0f}"),
        row("... by colour depth", lambda r: ", ".join(f"{d} {v:,.0f}" for d, v in r["bytes_per_step_by_depth"].items())),
        row("followers whose colours were not their depth's", lambda r: str(len(r["depth_mismatches"]))),
        row("sampled followers' final screens: checked / wrong",
            lambda r: f"{r['screens_checked']} / {len(r['screen_problems'])}"),
        row("wall time for this count", lambda r: f"{r['wall_s']:.0f} s"),
    ]
    if len(results) > 1:
        slopes = []
        for a, b in zip(results, results[1:]):
            added = b["followers"] - a["followers"]
            if added > 0:
                slope = (b["pss_followers"]["total"] - a["pss_followers"]["total"]) * 1024 / added
                slopes.append(f"{a['followers']}→{b['followers']}: {slope:.0f} kB")
        lines += ["", "PSS per follower between counts (the tree with followers, renderers already running): "
                  + "; ".join(slopes)]
    lines += ["", targets(results)]
    notes = [f"- {r['followers']} followers: {n}" for r in results for n in r["notes"]]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)


def targets(results: list[dict]) -> str:
    by = {r["followers"]: r for r in results}
    large, small = by.get(300, results[-1]), by.get(50, results[0])

    def verdict(ok: bool) -> str:
        return "yes" if ok else "**no**"

    rows = ["| target | measured | met |", "| --- | --- | --- |"]
    rows.append(f"| {large['followers']} followers: p95 <= 150 ms | {large['p95_ms']:.0f} ms | "
                f"{verdict(large['p95_ms'] <= 150)} |")
    rows.append(f"| {small['followers']} followers: median < 100 ms | {small['median_ms']:.0f} ms | "
                f"{verdict(small['median_ms'] < 100)} |")
    for r in results:
        rows.append(f"| {r['followers']} followers: PSS per added follower <= 1 MB (tree) | "
                    f"{r['pss_per_follower_mb'] * 1024:.0f} kB | {verdict(r['pss_per_follower_mb'] <= 1)} |")
    rows.append(f"| ... the marginal cost, once the renderers run: serve process's growth per follower, "
                f"{large['followers']} followers | {large['serve_pss_per_follower_kb']:.0f} kB | "
                f"{verdict(large['serve_pss_per_follower_kb'] <= 1024)} |")
    if large is not small:
        slope = (large["pss_followers"]["total"] - small["pss_followers"]["total"]) * 1024 \
            / (large["followers"] - small["followers"])
        rows.append(f"| ... the tree's growth per follower from {small['followers']} to {large['followers']} "
                    f"followers (two servers) | {slope:.0f} kB | {verdict(slope <= 1024)} |")
    ratio = large["server_cpu_per_step_ms"] / max(small["server_cpu_per_step_ms"], 1e-9)
    ratio_all = large["all_cpu_per_step_ms"] / max(small["all_cpu_per_step_ms"], 1e-9)
    rows.append(f"| server CPU per step (serve + renderers), {large['followers']} vs {small['followers']} "
                f"followers <= 2x | {large['server_cpu_per_step_ms']:.0f} / {small['server_cpu_per_step_ms']:.0f} ms "
                f"= {ratio:.2f}x | {verdict(ratio <= 2)} |")
    rows.append(f"| ... with the explorers included (for information) | {large['all_cpu_per_step_ms']:.0f} / "
                f"{small['all_cpu_per_step_ms']:.0f} ms = {ratio_all:.2f}x | {verdict(ratio_all <= 2)} |")
    return "\n".join(rows)


async def run_all(args: argparse.Namespace) -> tuple[list[dict], int]:
    from stepper.scenario import load

    total = len(load(args.scenario).pipeline)
    if args.steps >= total:
        raise SystemExit(f"--steps {args.steps}: the scenario has {total} steps, so at most {total - 1} moves forward")
    results = []
    for followers in args.followers:
        print(f"serve_bench: {followers} followers, {args.explorers} explorers ...", file=sys.stderr, flush=True)
        results.append(await bench(args, followers, total))
        r = results[-1]
        print(f"serve_bench: {followers} followers: median {r['median_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, "
              f"max {r['max_ms']:.0f} ms, {r['wall_s']:.0f} s", file=sys.stderr, flush=True)
        await asyncio.sleep(3)  # the last server's processes are gone before the next one starts
    return results, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--followers", default="50,150,300", help="follower counts, one fresh server each")
    parser.add_argument("--explorers", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between presenter steps")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of CPU measured while nobody moves")
    parser.add_argument("--batch", type=int, default=25, help="clients logging in at once")
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "conv_edges.yaml"))
    parser.add_argument("--json", default=None, metavar="FILE", help="write the raw results here")
    args = parser.parse_args()
    args.followers = [int(n) for n in args.followers.split(",")]
    started = time.monotonic()
    results, total = asyncio.run(run_all(args))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": {k: v for k, v in vars(args).items()}, "total_steps": total,
                                               "wall_s": time.monotonic() - started, "results": results}, indent=1))
    print(report(results, args, total))
    print(f"\n(the whole run took {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
