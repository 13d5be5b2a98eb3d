"""Signals end a lecture as the presenter's `q` does: viewers told, terminals reset, nothing left behind.

The real `stepper serve` runs on a pseudo-terminal with TMPDIR pointed at a folder of the test's
own, so the lecture's folder (RUNDIR) can be seen to go; one student watches with the real OpenSSH
client. SIGHUP is the lecturer's terminal closing, SIGTERM a `kill`, SIGINT Ctrl+C (in presenter
mode Ctrl+C is a key the TUI reads, so only a signal sent with `kill` arrives as SIGINT).
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from stepper.tui.follow import ENDED
from tests.serve.conftest import FIRST_SCREEN, ROOT, eventually, free_port, openssh, stepper_argv

SCENARIO = str(ROOT / "scenarios" / "dropout_textbook.yaml")  # one dropout layer, 6 steps
TOTAL = 6
SIGNALS = [signal.SIGHUP, signal.SIGTERM, signal.SIGINT]


async def serve(spawn, tmp_path: Path, key_file: Path, *flags: str):
    """`stepper serve dropout_textbook.yaml --open FLAGS` with its own TMPDIR, and one OpenSSH viewer
    on its first screen. Returns the server, the viewer and the TMPDIR."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    port = free_port()
    server = spawn(stepper_argv("serve", SCENARIO, "--port", str(port), "--open", *flags,
                                "--host-key", str(tmp_path / "host_key")),
                   env={"TMPDIR": str(tmpdir)}, cwd=tmp_path)
    headless = "--headless" in flags
    if headless:
        await server.wait_for_output(b"OPEN LECTURE: anyone who can reach this port can watch", FIRST_SCREEN)
    else:
        await server.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    assert len(rundirs(tmpdir)) == 1, "the lecture's folder is in TMPDIR"
    viewer = spawn(openssh(port, key_file))
    await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    if headless:
        await server.wait_for_output(b"viewer joined: ")
    else:
        await viewer.wait_for("following")  # joined to the presenter's feed
    return server, viewer, tmpdir


def rundirs(tmpdir: Path) -> list[str]:
    return sorted(p.name for p in tmpdir.glob("stepper-serve-*"))


async def ended_cleanly(server, viewer, tmpdir: Path, goodbye: bytes) -> None:
    """What `q` does: exit 0 for both, the goodbye and a usable terminal for the student, no folder left."""
    assert await server.wait_exit() == 0, server.text()
    assert await viewer.wait_exit() == 0, viewer.text()
    assert goodbye in viewer.raw
    after = viewer.raw[viewer.raw.rindex(b"step 1/"):]
    assert b"\x1b[?1049l" in after and b"\x1b[?25h" in after  # the alternate screen left, the cursor shown
    await eventually(lambda: b"stepper serve: the lecture has ended" in server.raw, what="the server's last line")
    assert rundirs(tmpdir) == []
    for side in (server, viewer):
        assert b"Traceback" not in side.raw, side.text()


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
async def test_a_signal_ends_a_headless_lecture_like_q(keys, spawn, tmp_path, sig):
    server, viewer, tmpdir = await serve(spawn, tmp_path, keys.viewer_file, "--headless")
    server.proc.send_signal(sig)
    await ended_cleanly(server, viewer, tmpdir, b"The lecture has ended.")


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
async def test_a_signal_ends_a_presented_lecture_like_q(keys, spawn, tmp_path, sig):
    server, viewer, tmpdir = await serve(spawn, tmp_path, keys.viewer_file)
    server.proc.send_signal(sig)
    await ended_cleanly(server, viewer, tmpdir, ENDED.encode())
    assert b"\x1b[?1049l" in server.raw  # the presenter's terminal is given back too


@pytest.mark.parametrize("flags", [("--headless",), ()], ids=["headless", "presenter"])
async def test_more_signals_during_the_ending_do_not_cut_it_short(keys, spawn, tmp_path, flags):
    server, viewer, tmpdir = await serve(spawn, tmp_path, keys.viewer_file, *flags)
    server.proc.send_signal(signal.SIGTERM)
    landed = 0
    for sig in SIGNALS * 4:  # an impatient lecturer, while the viewers are told (about half a second)
        await asyncio.sleep(0.04)
        if server.proc.poll() is None:
            server.proc.send_signal(sig)
            landed += 1
    assert landed >= 2, "the lecture ended before a second signal could arrive"
    await ended_cleanly(server, viewer, tmpdir,
                        b"The lecture has ended." if flags else ENDED.encode())


@pytest.mark.parametrize("flags", [("--headless",), ()], ids=["headless", "presenter"])
async def test_the_lecturers_terminal_closing_ends_the_lecture_like_q(keys, spawn, tmp_path, flags):
    server, viewer, tmpdir = await serve(spawn, tmp_path, keys.viewer_file, *flags)
    # The terminal goes away first (writes to it fail from now on), then the kernel's SIGHUP arrives.
    asyncio.get_running_loop().remove_reader(server.master)
    os.close(server.master)
    server.master = os.open(os.devnull, os.O_RDONLY)  # for the fixture to close at the end
    server.proc.send_signal(signal.SIGHUP)
    assert await server.wait_exit() == 0  # nothing to read on a closed terminal: the status says it all
    assert await viewer.wait_exit() == 0, viewer.text()
    assert (b"The lecture has ended." if flags else ENDED.encode()) in viewer.raw
    assert b"\x1b[?1049l" in viewer.raw[viewer.raw.rindex(b"step 1/"):]
    assert b"Traceback" not in viewer.raw
    assert rundirs(tmpdir) == []
