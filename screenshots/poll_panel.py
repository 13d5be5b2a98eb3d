"""Make screenshots/poll-panel.png: the presenter's screen after a class poll's reveal.

    uv run python screenshots/poll_panel.py

A real lecture on this machine (loopback only, an open lecture with a throwaway host key): the
presenter's app driven by Textual's Pilot, six students connected over SSH who answer a question
about a step of conv_edges.yaml, then the reveal. Textual saves the presenter's screen as SVG and
rsvg-convert turns it into the PNG the README shows (the SVG itself would not be what
`screenshots/make.sh` writes, which tests/test_export.py checks).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stepper.scenario import load  # noqa: E402
from stepper.serve.lecture import Config, Lecture  # noqa: E402
from stepper.serve.presenter import present  # noqa: E402
from stepper.tui import create_app  # noqa: E402

SCENARIO = ROOT / "scenarios" / "conv_edges.yaml"
ANSWERS = ("-9", "-9", "-8.5", "0", "9", "-27")  # what six students predict for step 5's output


async def until(check, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit("the lecture did not get there in time")
        await asyncio.sleep(0.05)


async def main() -> None:
    lecture = Lecture(Config(scenario_path=str(SCENARIO), host_key=asyncssh.generate_private_key("ssh-ed25519"),
                             open=True))
    lecture.start()
    app = create_app(load(str(SCENARIO)))
    out = Path(tempfile.mkdtemp(prefix="poll-panel-"))

    async def drive(link) -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            link.ready()
            students = []
            for i, _ in enumerate(ANSWERS):
                conn = await asyncssh.connect("127.0.0.1", lecture.port, known_hosts=None, username=f"student{i}")
                chan, _ = await conn.create_session(asyncssh.SSHClientSession, term_type="xterm-256color",
                                                    term_size=(80, 24), encoding=None)
                students.append((conn, chan))
            await until(lambda: lecture.inspect(lecture.counts)[0] == len(ANSWERS))
            await pilot.press("right", "right", "right", "right")
            await pilot.press("p")
            await until(lambda: (lecture.poll_summary() or {}).get("followers") == len(ANSWERS))
            await asyncio.sleep(1)
            for (conn, chan), answer in zip(students, ANSWERS):
                chan.write(f"{answer}\r".encode())
            await until(lambda: lecture.poll_summary()["answered"] == len(ANSWERS))
            await pilot.press("p")  # the reveal
            await until(lambda: lecture.poll_summary()["value"] is not None)
            await asyncio.sleep(1)
            await pilot.pause()
            app.save_screenshot(filename="poll-panel.svg", path=str(out))
            for conn, _ in students:
                conn.close()
            await pilot.press("q")

    await present(app, lecture, run=drive)
    subprocess.run(["rsvg-convert", "-w", "1000", str(out / "poll-panel.svg"), "-o",
                    str(ROOT / "screenshots" / "poll-panel.png")], check=True)
    print(ROOT / "screenshots" / "poll-panel.png")


if __name__ == "__main__":
    asyncio.run(main())
