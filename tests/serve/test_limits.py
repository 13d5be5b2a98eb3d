"""Limits and refusals: a full lecture, no shell or forwarding, timeouts, and clients that misbehave."""

from __future__ import annotations

import asyncio
import os

import asyncssh
import pytest

from tests.serve.conftest import (FIRST_SCREEN, TOTAL, WAIT, Viewer, eventually, first_screens, processes_under,
                                  run_presenter)


async def test_limits_the_viewer_past_max_viewers_is_told_the_lecture_is_full(start_lecture, keys):
    lecture = start_lecture(max_viewers=1, presenter=False)
    first = await Viewer.connect(lecture.port, keys.viewer)
    await first.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    second = await Viewer.connect(lecture.port, keys.viewer)
    await second.wait_closed()
    assert second.exit_status == 1
    assert b"Sorry, this lecture is full (1 viewers). Try again in a little while." in second.raw
    await first.close()
    await eventually(lambda: not lecture.viewers, what="the first viewer to leave")
    third = await Viewer.connect(lecture.port, keys.viewer)  # a seat is free again
    await third.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    await third.close()


async def test_limits_no_command_no_sftp_no_forwarding(start_lecture, keys):
    lecture = start_lecture(presenter=False)
    async with asyncssh.connect("127.0.0.1", lecture.port, known_hosts=None, username="student",
                                client_keys=[keys.viewer], agent_path=None) as conn:
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.create_session(asyncssh.SSHClientSession, "cat /etc/passwd")
    async with asyncssh.connect("127.0.0.1", lecture.port, known_hosts=None, username="student",
                                client_keys=[keys.viewer], agent_path=None) as conn:
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.start_sftp_client()
    async with asyncssh.connect("127.0.0.1", lecture.port, known_hosts=None, username="student",
                                client_keys=[keys.viewer], agent_path=None) as conn:
        with pytest.raises(asyncssh.ChannelOpenError, match="forwards nothing"):
            await conn.open_connection("127.0.0.1", lecture.port)
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.open_unix_connection("/run/anything.sock")
        with pytest.raises(asyncssh.ChannelListenError):
            await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", 9)
    assert processes_under(lecture.rundir) == []


async def test_limits_no_agent_forwarding(start_lecture, keys, tmp_path):
    lecture = start_lecture(presenter=False)
    agent = await asyncio.create_subprocess_exec("ssh-agent", "-D", "-a", str(tmp_path / "agent.sock"),
                                                 stdout=asyncio.subprocess.DEVNULL)
    try:
        await eventually(lambda: (tmp_path / "agent.sock").exists(), what="ssh-agent")
        async with asyncssh.connect("127.0.0.1", lecture.port, known_hosts=None, username="student",
                                    client_keys=[keys.viewer], agent_path=str(tmp_path / "agent.sock"),
                                    agent_forwarding=True) as conn:
            chan, _ = await conn.create_session(asyncssh.SSHClientSession, term_type="xterm", encoding=None)
            await eventually(lambda: lecture.viewer_pids(), FIRST_SCREEN, "a viewer process")
            assert lecture.inspect(lambda: [s.chan.get_agent_path() for s in lecture.viewers]) == [None]
            for pid in lecture.viewer_pids():
                with open(f"/proc/{pid}/environ", "rb") as f:
                    assert b"SSH_AUTH_SOCK" not in f.read()
            chan.close()
    finally:
        agent.kill()
        await agent.wait()


async def test_limits_a_session_without_a_terminal_is_told_to_use_ssh_t(start_lecture, keys):
    lecture = start_lecture(presenter=False)
    async with asyncssh.connect("127.0.0.1", lecture.port, known_hosts=None, username="student",
                                client_keys=[keys.viewer], agent_path=None) as conn:
        result = await conn.run(term_type=None, timeout=WAIT)
    assert result.exit_status == 1
    assert "needs a terminal: connect with `ssh -t`" in result.stdout
    assert not lecture.viewers


async def test_limits_an_abrupt_disconnect_leaves_no_process_behind(start_lecture, keys):
    lecture = start_lecture()

    async def lecture_script(app, pilot):
        follower, explorer = await first_screens(lecture.port, keys.viewer, 2)
        [shared] = lecture.viewer_pids()
        await explorer.explore()
        [own] = set(lecture.viewer_pids()) - {shared}
        assert sorted(processes_under(lecture.rundir)) == sorted([shared, own])
        for viewer in (follower, explorer):
            viewer.conn.abort()  # the laptop lid closes: no goodbye, the TCP connection just drops
        await eventually(lambda: app.viewers == (0, 0), what="the viewer count to drop")
        await eventually(lambda: not os.path.exists(f"/proc/{own}"), what="the explorer's process to be reaped")
        assert processes_under(lecture.rundir) == [shared]  # the shared screen waits for the next follower
        assert len([entry for entry in os.listdir(lecture.rundir) if entry.startswith("viewer-")]) == 1

    await run_presenter(lecture, lecture_script)


async def test_limits_a_stalled_client_stalls_neither_the_presenter_nor_other_viewers(start_lecture, keys):
    lecture = start_lecture(outbound_limit=2048, stall_timeout=2, check_interval=0.5)

    async def lecture_script(app, pilot):
        stalled = await Viewer.connect(lecture.port, keys.viewer, window=4096)
        healthy = await Viewer.connect(lecture.port, keys.viewer)
        for viewer in (stalled, healthy):
            await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
        stalled.chan.pause_reading()  # stops taking data: its SSH window closes, the server's queue fills
        for step in range(2, 12):
            await pilot.press("right")
            await healthy.wait_for(f"step {step}/{TOTAL}")
        assert app.position == 10
        await eventually(lambda: app.viewers == (1, 0), what="the stalled viewer to be dropped")
        assert "viewer stalled, disconnected: student@127.0.0.1" in start_lecture.logs
        await pilot.press("right")
        await healthy.wait_for(f"step 12/{TOTAL}")
        stalled.conn.abort()
        await healthy.close()

    await run_presenter(lecture, lecture_script)


async def test_limits_garbage_bytes_do_not_disturb_the_lecture(start_lecture, keys):
    lecture = start_lecture()

    async def lecture_script(app, pilot):
        viewer = await Viewer.connect(lecture.port, keys.viewer)
        await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
        reader, writer = await asyncio.open_connection("127.0.0.1", lecture.port)
        writer.write(os.urandom(64 * 1024))  # not SSH at all
        noise = await asyncio.open_connection("127.0.0.1", lecture.port)
        noise[1].write(b"SSH-2.0-noise\r\n" + b"\xff" * 4096)  # a version line, then nonsense
        await pilot.press("right")
        await viewer.wait_for(f"step 2/{TOTAL}")
        for stream in (reader, noise[0]):
            await asyncio.wait_for(stream.read(), WAIT)  # the server hangs up on both
        viewer.send(os.urandom(4096).replace(b"q", b"").replace(b"\x11", b""))  # garbage keys: its own screen only
        await pilot.press("right")
        assert app.position == 2
        writer.close()
        noise[1].close()
        await viewer.close()

    await run_presenter(lecture, lecture_script)


async def test_limits_a_silent_connection_is_dropped_at_the_login_timeout(start_lecture):
    lecture = start_lecture(login_timeout=1)
    reader, writer = await asyncio.open_connection("127.0.0.1", lecture.port)
    assert (await reader.readline()).startswith(b"SSH-2.0-")
    await asyncio.wait_for(reader.read(), WAIT)  # says nothing more, and is hung up on
    writer.close()


async def test_limits_an_idle_viewer_is_dropped(start_lecture, keys):
    lecture = start_lecture(presenter=False, idle_timeout=2, check_interval=0.5)
    viewer = await Viewer.connect(lecture.port, keys.viewer)
    await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    await viewer.wait_closed()
    assert b"Nothing happened for 2 seconds: disconnected." in viewer.raw
    await eventually(lambda: not lecture.viewers, what="the idle viewer to be gone")


async def test_limits_a_client_chosen_name_cannot_write_escapes_into_the_log(start_lecture, keys):
    lecture = start_lecture(presenter=False)
    viewer = await Viewer.connect(lecture.port, keys.viewer, username="é" * 40, term="xterm\x1b[31m")
    await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    await viewer.close()
    await eventually(lambda: any("viewer left" in line for line in start_lecture.logs), what="the log")
    assert start_lecture.logs[0] == f"viewer joined: {'?' * 32}...@127.0.0.1 (xterm?[31m, 100x30)"
    assert not any("\x1b" in line for line in start_lecture.logs)


async def test_limits_connections_beyond_max_viewers_plus_20_are_turned_away(start_lecture):
    lecture = start_lecture(max_viewers=1, presenter=False, login_timeout=600)  # only the cap can hang up
    held = []
    for _ in range(lecture.config.max_connections):  # people still logging in: allowed, up to a point
        reader, writer = await asyncio.open_connection("127.0.0.1", lecture.port)
        assert (await reader.readline()).startswith(b"SSH-2.0-")
        held.append((reader, writer))
    reader, writer = await asyncio.open_connection("127.0.0.1", lecture.port)
    await asyncio.wait_for(reader.read(), WAIT)  # one too many: hung up on at once
    assert not any(r.at_eof() for r, _ in held)
    for _, w in [*held, (reader, writer)]:
        w.close()
