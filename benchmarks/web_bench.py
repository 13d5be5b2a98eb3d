"""Benchmark the lecture's web followers (`stepper serve --web`) without browsers: the server's part.

    uv run python benchmarks/web_bench.py [--pages 20,300] [--steps 20] [--workers 2]

For each count, a lecture of conv_edges.yaml runs in this process with its web server (the
presenter's position is published directly, as the presenter's app does on each key). PAGES
WebSocket clients, in --workers processes of their own at nice +5 (they stand in for the students'
browsers), join with the lecture's token and a spread of window sizes (as serve_bench's hall:
35% 80x24, 10% 90x28, 25% 100x30, 10% 132x43, 10% 120x40, 5% 160x48, 5% 200x60) and read
their frames. Each step is published once every page has the previous one; the first step is not
timed (a renderer's first move pays one-off costs). Follow latency is the time from the publish to
the moment a client's bytes contain the new "step K/N" header, by time.monotonic() (one clock for
every process on Linux). CPU is this process's (the lecture server's thread: feed, pyte, encoding,
WebSocket frames) and the renderer processes'.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

import aiohttp
import asyncssh

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.serve_bench import WINDOWS, cpu_seconds  # noqa: E402
from stepper.serve.lecture import Config, Lecture  # noqa: E402

SCENARIO = ROOT / "scenarios" / "conv_edges.yaml"
TOTAL = 36


def sizes(pages: int) -> list[tuple[int, int]]:
    out = [(w, h) for w, h, percent in WINDOWS for _ in range(round(pages * percent / 100))]
    return (out + [(100, 30)] * pages)[:pages]


async def client(url: str, size: tuple[int, int], seen: dict[int, float], ready: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.send_json({"size": list(size)})
        tail = b""
        async for message in ws:
            if message.type != aiohttp.WSMsgType.BINARY:
                continue
            now = time.monotonic()
            text = tail + message.data
            for k in range(1, TOTAL + 1):
                if k not in seen and f"step {k}/{TOTAL}".encode() in text:
                    seen[k] = now
                    if k == 1:
                        ready.set()
            tail = text[-32:]


def worker(url: str, window_sizes: list[tuple[int, int]], pipe) -> None:
    """In a process of its own: the clients, until told to stop; then every client's arrival times."""
    os.nice(5)

    async def main() -> None:
        seen = [{} for _ in window_sizes]
        readies = [asyncio.Event() for _ in window_sizes]
        tasks = [asyncio.create_task(client(url, size, s, r)) for size, s, r in zip(window_sizes, seen, readies)]
        await asyncio.gather(*(r.wait() for r in readies))
        pipe.send("ready")
        loop = asyncio.get_running_loop()
        while True:
            k = await loop.run_in_executor(None, pipe.recv)
            if k == "stop":
                break
            while not all(k in s for s in seen):
                await asyncio.sleep(0.005)
            pipe.send([s[k] for s in seen])
        for task in tasks:
            task.cancel()

    asyncio.run(main())


def bench(pages: int, steps: int, workers: int) -> dict:
    config = Config(scenario_path=str(SCENARIO), host_key=asyncssh.generate_private_key("ssh-ed25519"),
                    open=True, web_port=0, max_viewers=max(500, pages))
    lecture = Lecture(config)
    lecture.start()
    try:
        url = lecture.web.url("127.0.0.1").replace("http://", "ws://").replace("/?", "/ws?")
        everyone = sizes(pages)
        pipes, procs = [], []
        started = time.monotonic()
        for i in range(workers):
            mine, theirs = multiprocessing.Pipe()
            proc = multiprocessing.Process(target=worker, args=(url, everyone[i::workers], theirs))
            proc.start()
            pipes.append(mine)
            procs.append(proc)
        for pipe in pipes:
            assert pipe.recv() == "ready"
        joined = time.monotonic() - started
        renderers = [r.process.proc.pid for r in lecture.renderers.values() if r.process.running]
        latencies, firsts, lasts = [], [], []
        for k in range(2, steps + 3):
            published = time.monotonic()
            lecture.publish(str(k - 1))
            for pipe in pipes:
                pipe.send(k)
            arrivals = [t - published for pipe in pipes for t in pipe.recv()]
            time.sleep(0.3)
            if k == 2:  # untimed: a renderer's first move pays one-off costs (about half a second)
                cpu_server, cpu_renderers = time.process_time(), sum(cpu_seconds(p) for p in renderers)
                continue
            latencies += arrivals
            firsts.append(min(arrivals))
            lasts.append(max(arrivals))
        cpu_server = (time.process_time() - cpu_server) / steps
        cpu_renderers = (sum(cpu_seconds(p) for p in renderers) - cpu_renderers) / steps
        counts = lecture.inspect(lecture.counts)
        for pipe in pipes:
            pipe.send("stop")
        for proc in procs:
            proc.join(30)
    finally:
        lecture.stop()
    p95 = statistics.quantiles(latencies, n=20)[18]
    return {"pages": pages, "following": counts[0], "renderers": len(renderers), "joined_s": joined,
            "median_ms": statistics.median(latencies) * 1000, "p95_ms": p95 * 1000,
            "max_ms": max(latencies) * 1000, "first_ms": statistics.median(firsts) * 1000,
            "last_ms": statistics.median(lasts) * 1000, "server_cpu_ms": cpu_server * 1000,
            "renderers_cpu_ms": cpu_renderers * 1000,
            "per_step_ms": [(round(a * 1000), round(b * 1000)) for a, b in zip(firsts, lasts)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default="20,300")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    for pages in (int(n) for n in args.pages.split(",")):
        result = bench(pages, args.steps, args.workers)
        print(f"{result['pages']} pages ({result['following']} following, {result['renderers']} renderers): "
              f"joined in {result['joined_s']:.1f} s; follow latency median {result['median_ms']:.0f} ms, "
              f"p95 {result['p95_ms']:.0f} ms, max {result['max_ms']:.0f} ms; first page per step "
              f"{result['first_ms']:.0f} ms, last {result['last_ms']:.0f} ms (medians); CPU per step: "
              f"server {result['server_cpu_ms']:.0f} ms, renderers {result['renderers_cpu_ms']:.0f} ms",
              flush=True)
        print(f"  per step, first and last page (ms): {result['per_step_ms']}", flush=True)


if __name__ == "__main__":
    main()
