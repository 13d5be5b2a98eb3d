"""A hostile student: bad bytes, floods and half-open sessions cost little and break nothing."""

from __future__ import annotations

import asyncio
import random

import asyncssh

from stepper.serve.input import BURST, KeyFilter
from tests.serve.conftest import FIRST_SCREEN, TOTAL, WAIT, Viewer, eventually, first_screens, run_presenter

SEQUENCES = [b"\xe9", b"\x1b[M\xff\xff\xff", b"\x1b[M \xff\xff", b"\x1b[99999999999999999999u",
             b"\x1b[1114112;1u", b"\x1b[<0;99999999999999999999;5M", b"\x1b[<35;300;200M", b"\x1b]0;title\x07",
             b"\x1bP+q544e\x1b\\", b"\x1b[200~pasted\x1b[201~", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x1b\x1b\x1b",
             b"\x1b[", b"\x1bO", b"\x9b31m", b"\x00", b"\x7f", b"\x1b[1;5C", b"\xed\xa0\x80"]


def hostile_input(rng: random.Random, count: int) -> list[bytes]:
    """Random bytes, known troublemakers, and escape sequences with random parameters and finals."""
    chunks = []
    for _ in range(count):
        kind = rng.randrange(4)
        if kind == 0:
            chunks.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 24))))
        elif kind == 1:
            chunks.append(rng.choice(SEQUENCES))
        elif kind == 2:
            params = ";".join(str(rng.choice([0, 1, 255, 65536, 10 ** rng.randrange(1, 25)]))
                              for _ in range(rng.randrange(5)))
            chunks.append(b"\x1b[" + rng.choice([b"", b"<", b"?", b">"]) + params.encode()
                          + bytes([rng.randrange(0x40, 0x7f)]))
        else:
            chunks.append(b"\x1b[M" + bytes(rng.randrange(256) for _ in range(3)))
    return [chunk.translate(None, b"qQfF\x03\x04\x11") for chunk in chunks]  # keys that leave or change mode


def test_hostile_the_key_filter_passes_whole_keys_and_drops_the_rest():
    now = [0.0]
    keys = KeyFilter(clock=lambda: now[0])
    assert keys.keys(b"l\x1b[C\xe4\xbd\xa0") == [b"l", b"\x1b[C", "你".encode()]
    assert keys.keys(b"\xe9\x1b[M\xff\xff\xff\x1b[99999999999999999999u\x1b[1114112;1u") == []
    assert keys.keys(b"\x1b[") == [] and keys.keys(b"D") == [b"\x1b[D"]  # a key split over two packets
    assert keys.keys(b"\xe4") == [] and keys.keys(b"\xbd\xa0") == ["你".encode()]
    assert keys.keys(b"\x1b") == [] and keys.flush() == [b"\x1b"]  # Escape, once nothing follows
    flood = keys.keys(b"x" * 100_000)
    assert len(flood) <= BURST  # a person's burst at most, however much arrives
    now[0] += 1.0
    assert 50 <= len(keys.keys(b"x" * 1000)) <= 70  # then about RATE a second
    for chunk in hostile_input(random.Random(7), 5000):
        for key in keys.keys(chunk):
            key.decode("utf-8")  # whatever passes is whole UTF-8
            assert len(key) <= 48


async def test_hostile_a_session_that_never_asks_for_a_screen_is_closed(start_lecture, keys):
    """No pty-req, no shell: the session is closed at the login timeout and its slot freed."""
    lecture = start_lecture(login_timeout=1, max_viewers=1, presenter=False)
    conn = await asyncssh.connect("127.0.0.1", lecture.port, known_hosts=None, username="idle",
                                  client_keys=[keys.viewer], agent_path=None)
    chan = asyncssh.SSHClientChannel(conn, asyncio.get_running_loop(), "strict", None, "strict", 65536, 32768)
    await chan._open(b"session")  # a bare session channel, and then silence
    await asyncio.wait_for(conn.wait_closed(), WAIT)
    assert any("session never started" in line for line in start_lecture.logs)
    viewer = await Viewer.connect(lecture.port, keys.viewer)  # the one place is free for a real student
    await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    await viewer.close()


async def test_hostile_bytes_reach_no_screen_as_a_traceback(start_lecture, keys):
    """Thousands of random byte strings and escape sequences to a follower and an explorer."""
    lecture = start_lecture()

    async def lecture_script(app, pilot):
        follower, explorer = await first_screens(lecture.port, keys.viewer, 2)
        await explorer.explore()
        rng = random.Random(2026)
        for chunk in hostile_input(rng, 3000):
            follower.send(chunk)
            explorer.send(chunk)
        await asyncio.sleep(3)
        await pilot.press("right")
        await follower.wait_for(f"step 2/{TOTAL} · window · following")
        explorer.send(b"\x1b\x1b")  # close whatever the noise opened (a palette, a prompt)
        await asyncio.sleep(1)
        explorer.send(b"\x1b[H")  # Home: the explorer still steps
        await explorer.wait_for(f"step 1/{TOTAL} · window · exploring")
        explorer.send(b"l")
        await explorer.wait_for(f"step 2/{TOTAL} · window · exploring")
        for viewer in (follower, explorer):
            assert b"Traceback" not in viewer.raw and b"site-packages" not in viewer.raw
            assert not viewer.closed.is_set()
            await viewer.close()

    await run_presenter(lecture, lecture_script)


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


async def test_hostile_a_keystroke_flood_costs_a_bounded_amount(start_lecture, keys):
    """`yes x | ssh -tt ...` for several seconds: the explorer's process hardly grows, and still steps."""
    lecture = start_lecture()

    async def lecture_script(app, pilot):
        [viewer] = await first_screens(lecture.port, keys.viewer, 1)
        [shared] = lecture.viewer_pids()
        await viewer.explore()
        await asyncio.sleep(1)
        [own] = set(lecture.viewer_pids()) - {shared}
        before = rss_kb(own)
        peak = before
        sent = 0
        for _ in range(80):  # 80 x 64 kB of an unbound key: 5 MB, as fast as SSH takes it
            viewer.send(b"x" * 65536)
            sent += 65536
            await asyncio.sleep(0.05)
            peak = max(peak, rss_kb(own))
        grown_mb = (peak - before) / 1024
        assert grown_mb < 20, f"the explorer grew by {grown_mb:.1f} MB during a {sent // 1024} kB flood"
        viewer.send(b"l")
        await viewer.wait_for(f"step 2/{TOTAL} · window · exploring", WAIT)
        await viewer.close()

    await run_presenter(lecture, lecture_script)


async def test_hostile_a_resize_storm_costs_one_redraw(start_lecture, keys):
    """Hundreds of window changes in a burst: the follower is sent its new screen once, not per change."""
    lecture = start_lecture()

    async def lecture_script(app, pilot):
        [viewer] = await first_screens(lecture.port, keys.viewer, 1)
        await asyncio.sleep(0.5)
        before = len(viewer.raw)
        rng = random.Random(5)
        for _ in range(500):
            viewer.chan.change_terminal_size(rng.randrange(1, 400), rng.randrange(1, 200))
        viewer.resize(120, 40)
        await eventually(lambda: "leave the lecture" in viewer.screen.display[39], FIRST_SCREEN,
                         "the 120x40 screen after the storm")
        await asyncio.sleep(1)
        assert len(viewer.raw) - before < 5 * 120 * 40 * 20, "the storm was answered by many redraws"
        await pilot.press("right")
        await viewer.wait_for(f"step 2/{TOTAL} · window · following")
        await viewer.close()

    await run_presenter(lecture, lecture_script)
