"""Benchmark `stepper serve`: many viewers following one presenter, measured from outside.

    uv run python benchmarks/serve_bench.py [--viewers 50] [--steps 20] [--scenario FILE]

The real `stepper serve` runs with its presenter TUI on a pseudo-terminal that this script owns;
VIEWERS asyncssh clients connect with pseudo-terminals of their own (100x30, xterm-256color). The
script then presses the presenter's `l` STEPS times; for each press it records, per viewer, the
time from writing the key to the moment that viewer's output contains the new "step K/N" header
(its repaint), and waits for every viewer before the next press. Memory is read from /proc: the
resident set (VmRSS) and proportional set (Pss, shared pages split between the processes that
share them) of every viewer process, and the server's own growth.

Everything runs on this machine: the clients' decryption competes with the server and the
viewers for the same cores (this script runs at the viewers' lower priority once the server is
up), so the numbers are an upper bound on what students see over a LAN.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import platform
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


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        asyncio.get_running_loop().add_reader(self.master, self.readable)

    def readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except (BlockingIOError, OSError):
            return
        self.output += data
        del self.output[:-200_000]

    def press(self, key: bytes) -> None:
        os.write(self.master, key)

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
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class Watcher(asyncssh.SSHClientSession):
    """One viewer: notes when each "step K/" first appears in its output."""

    def __init__(self, total: int) -> None:
        self.tail = b""
        self.seen: dict[int, float] = {}
        self.pattern = re.compile(rb"step (\d+)/%d" % total)
        self.closed = False

    def data_received(self, data: bytes, datatype) -> None:
        now = time.perf_counter()
        text = self.tail + data
        for match in self.pattern.finditer(text):
            self.seen.setdefault(int(match.group(1)), now)
        self.tail = text[-64:]

    def connection_lost(self, exc) -> None:
        self.closed = True


async def wait_until(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


async def bench(args: argparse.Namespace) -> dict:
    from stepper.scenario import load

    total = len(load(args.scenario).pipeline)
    if args.steps >= total:
        raise SystemExit(f"--steps {args.steps}: the scenario has {total} steps, so at most {total - 1} moves forward")
    work = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    key = asyncssh.generate_private_key("ssh-ed25519")
    (work / "authorized_keys").write_bytes(key.export_public_key())
    port = free_port()
    presenter = Presenter([sys.executable, "-m", "stepper", "serve", str(args.scenario), "--port", str(port),
                           "--authorized-keys", str(work / "authorized_keys"), "--host-key", str(work / "host_key"),
                           "--max-viewers", str(args.viewers)])
    conns = []
    try:
        if not await wait_until(lambda: b"0 viewers" in presenter.output, 120):
            raise SystemExit("the presenter did not start:\n" + presenter.output.decode(errors="replace")[-2000:])
        server_pid = presenter.python_pid()
        os.nice(5)  # the clients stand in for remote machines: they yield to the server as the viewers do
        server_before = status_kb(server_pid, "VmRSS")

        started = time.perf_counter()
        watchers: list[Watcher] = []
        for _ in range(args.viewers):
            conn = await asyncssh.connect("127.0.0.1", port, known_hosts=None, username="bench",
                                          client_keys=[key], agent_path=None)
            watcher = Watcher(total)
            await conn.create_session(lambda w=watcher: w, term_type="xterm-256color", term_size=(100, 30),
                                      encoding=None)
            conns.append(conn)
            watchers.append(watcher)
        if not await wait_until(lambda: all(1 in w.seen for w in watchers), 600):
            raise SystemExit(f"only {sum(1 in w.seen for w in watchers)} of {args.viewers} viewers drew a screen")
        joined = time.perf_counter() - started
        await asyncio.sleep(2)  # let the start-up settle before timing steps
        viewers = [pid for pid in children(server_pid) if b"stepper.serve.child" in cmdline(pid)]
        idle_before, idle_started = sum(map(cpu_seconds, viewers)), time.perf_counter()
        await asyncio.sleep(5)
        idle_cpu = (sum(map(cpu_seconds, viewers)) - idle_before) / (time.perf_counter() - idle_started)
        server_cpu_before = cpu_seconds(server_pid)
        viewers_cpu_before = sum(map(cpu_seconds, viewers))

        latencies: list[float] = []
        per_step_worst: list[float] = []
        missed = 0
        for k in range(2, args.steps + 2):
            pressed = time.perf_counter()
            presenter.press(b"l")
            await wait_until(lambda k=k: all(k in w.seen for w in watchers), 60)
            step = [w.seen[k] - pressed for w in watchers if k in w.seen]
            missed += args.viewers - len(step)
            latencies += step
            per_step_worst.append(max(step) if step else float("nan"))
            await asyncio.sleep(args.gap)

        server_cpu = (cpu_seconds(server_pid) - server_cpu_before) / args.steps
        viewers_cpu = (sum(map(cpu_seconds, viewers)) - viewers_cpu_before) / args.steps / len(viewers)
        rss = [status_kb(pid, "VmRSS") for pid in viewers]
        pss = [status_kb(pid, "Pss", "smaps_rollup") for pid in viewers]
        server_after = status_kb(server_pid, "VmRSS")
        return {
            "viewers": args.viewers, "steps": args.steps, "total_steps": total, "joined_s": joined,
            "median_ms": statistics.median(latencies) * 1000, "p90_ms": quantile(latencies, 0.9) * 1000,
            "worst_ms": max(latencies) * 1000, "best_ms": min(latencies) * 1000,
            "median_worst_per_step_ms": statistics.median(per_step_worst) * 1000, "missed": missed,
            "viewer_processes": len(viewers), "idle_cpu": idle_cpu, "server_cpu_ms": server_cpu * 1000,
            "viewer_cpu_ms": viewers_cpu * 1000,
            "rss_median_mb": statistics.median(rss) / 1024, "rss_max_mb": max(rss) / 1024,
            "pss_median_mb": statistics.median(pss) / 1024,
            "server_rss_before_mb": server_before / 1024, "server_rss_after_mb": server_after / 1024,
            "server_per_viewer_kb": (server_after - server_before) / args.viewers,
        }
    finally:
        for conn in conns:
            conn.abort()
        presenter.press(b"q")
        await wait_until(lambda: presenter.proc.poll() is not None, 30)
        presenter.stop()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def report(r: dict, args: argparse.Namespace) -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
               platform.processor())
    return "\n".join([
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"scenario {Path(args.scenario).name} ({r['total_steps']} steps), 100x30 xterm-256color viewers.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| viewers connected | {r['viewers']} ({r['viewer_processes']} viewer processes) |",
        f"| time for all viewers to join and draw | {r['joined_s']:.1f} s |",
        f"| presenter steps timed | {r['steps']} ({r['steps'] * r['viewers']} repaints, {r['missed']} missed) |",
        f"| follow latency, median | {r['median_ms']:.0f} ms |",
        f"| follow latency, 90th percentile | {r['p90_ms']:.0f} ms |",
        f"| follow latency, worst | {r['worst_ms']:.0f} ms |",
        f"| follow latency, best | {r['best_ms']:.0f} ms |",
        f"| last viewer's repaint per step, median | {r['median_worst_per_step_ms']:.0f} ms |",
        f"| CPU while nobody moves: all viewer processes together | {r['idle_cpu'] * 100:.1f} % of one core |",
        f"| CPU per presenter step: server process (SSH, pumping) | {r['server_cpu_ms']:.0f} ms |",
        f"| CPU per presenter step: one viewer process (its repaint) | {r['viewer_cpu_ms']:.0f} ms |",
        f"| viewer process RSS, median (max) | {r['rss_median_mb']:.0f} MB ({r['rss_max_mb']:.0f} MB) |",
        f"| viewer process PSS, median | {r['pss_median_mb']:.0f} MB |",
        f"| server process RSS, before and after | {r['server_rss_before_mb']:.0f} MB, "
        f"{r['server_rss_after_mb']:.0f} MB ({r['server_per_viewer_kb']:.0f} kB per viewer) |",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between presenter steps")
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "conv_edges.yaml"))
    args = parser.parse_args()
    print(report(asyncio.run(bench(args)), args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
