"""`stepper serve` from the command line: flag checks, a presenter in a real terminal, headless."""

from __future__ import annotations

import os
import shutil
import signal
import socket

import pytest

from stepper.tui.follow import ENDED
from tests.serve.conftest import (FIRST_SCREEN, SCENARIO, TOTAL, eventually, free_port, openssh,
                                  stepper_argv)


@pytest.mark.parametrize(("flags", "message"), [
    (["--port", "2222"], "say who may watch: --authorized-keys FILE (an OpenSSH authorized_keys file with "
                         "your students' public keys) or --open (anyone who can reach the port)"),
    (["--port", "0", "--open"], "--port 0: choose a port from 1 to 65535 (below 1024 needs root; "
                                "2222 is a common choice)"),
    (["--port", "70000", "--open"], "--port 70000: choose a port from 1 to 65535 (below 1024 needs root; "
                                    "2222 is a common choice)"),
    (["--port", "2222", "--open", "--max-viewers", "0"], "--max-viewers 0: must be at least 1"),
    (["--port", "2222", "--open", "--idle-timeout", "-1"],
     "--idle-timeout -1: seconds, 0 (never) or more and at most 604800 (a week)"),
    (["--port", "2222", "--open", "--login-timeout", "0"],
     "--login-timeout 0: seconds, more than 0 and at most 604800 (a week)"),
    (["--port", "2222", "--open", "--stall-timeout", "nan"],
     "--stall-timeout nan: seconds, more than 0 and at most 604800 (a week)"),
    (["--port", "2222", "--open", "--idle-timeout", "inf"],
     "--idle-timeout inf: seconds, 0 (never) or more and at most 604800 (a week)"),
    (["--port", "2222", "--open", "--authorized-keys", "keys"],
     "--open and --authorized-keys contradict each other: --open lets anyone in, --authorized-keys only the "
     "keys in the file; choose one"),
    (["--port", "2222", "--open"], "the presenter's screen needs a terminal; run it in one, or use --headless "
                                   "to serve without a presenter"),
])
def test_command_bad_flags_exit_2_with_one_line_and_write_nothing(stepper, tmp_path, flags, message):
    host_key = tmp_path / "host_key"
    result = stepper("serve", SCENARIO, *flags, "--host-key", str(host_key))
    assert result.returncode == 2
    assert result.stderr == f"stepper serve: {message}\n"
    assert not host_key.exists()


def test_command_bad_authorized_keys_line_is_pinned(stepper, tmp_path):
    keys = tmp_path / "class_keys"
    keys.write_text("# week 3\nssh-rsa\n")
    result = stepper("serve", SCENARIO, "--port", "2222", "--headless", "--authorized-keys", str(keys),
                     "--host-key", str(tmp_path / "hk"))
    assert result.returncode == 2
    assert result.stderr == (f"stepper serve: {keys}:2:1: 'ssh-rsa' is not a public key line; expected "
                             "'ssh-ed25519 AAAA... comment' (one key per line, as in ~/.ssh/authorized_keys)\n")


def test_command_bad_scenario_exits_2_before_anything_starts(stepper, tmp_path, write_scenario):
    path = write_scenario("title: x\ninput: {array: [1, 2]}\n")
    result = stepper("serve", path, "--port", "2222", "--open", "--headless", "--host-key", str(tmp_path / "hk"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{path}:")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "hk").exists()


def test_command_a_port_in_use_is_one_clear_line(stepper, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = stepper("serve", SCENARIO, "--port", str(port), "--open", "--headless",
                         "--host-key", str(tmp_path / "hk"))
    assert result.returncode == 2
    assert result.stderr == f"stepper serve: cannot listen on 127.0.0.1:{port}: Address already in use\n"


async def open_lecture(spawn, tmp_path, key_file, *flags: str):
    """`stepper serve FLAGS` on a free port, and one OpenSSH viewer on its first screen. Headless
    lectures here are open (their banner says so); a presenter's lecture is awaited on its screen."""
    port = free_port()
    serve = spawn(stepper_argv("serve", SCENARIO, "--port", str(port), *flags,
                               "--host-key", str(tmp_path / "host_key")), cwd=tmp_path)
    if "--headless" in flags:
        await serve.wait_for_output(b"OPEN LECTURE: anyone who can reach this port can watch", FIRST_SCREEN)
    else:
        await serve.wait_for(f"step 1/{TOTAL} · window · 0 following", FIRST_SCREEN)
    viewer = spawn(openssh(port, key_file))
    await viewer.wait_for(f"step 1/{TOTAL}" + ("" if "--headless" in flags else " · window · following"),
                          FIRST_SCREEN)
    return serve, viewer, port


async def test_command_a_lecture_with_a_presenter_in_a_real_terminal(keys, spawn, tmp_path):
    serve, viewer, port = await open_lecture(spawn, tmp_path, keys.viewer_file,
                                             "--authorized-keys", str(keys.authorized))
    await serve.wait_for("1 following")
    serve.send(b"l")
    await viewer.wait_for(f"step 2/{TOTAL}")
    serve.send(b"l")
    await viewer.wait_for(f"step 3/{TOTAL} · window · following")
    viewer.send(b"f")  # the student explores: a process of their own, at the presenter's step
    await viewer.wait_for(f"step 3/{TOTAL} · window · exploring (f: back to the lecture)")
    viewer.send(b"ll")  # and looks ahead on their own
    await viewer.wait_for(f"step 5/{TOTAL} · window · exploring")
    stranger = spawn(openssh(port, keys.stranger_file))
    assert await stranger.wait_exit() == 255
    serve.send(b"l")
    await serve.wait_for(f"step 4/{TOTAL}")  # the presenter's own key moved it by one, the student's not at all
    assert f"step 4/{TOTAL}" in serve.header()
    viewer.send(b"f")
    await viewer.wait_for(f"step 4/{TOTAL} · window · following")
    serve.send(b"q")
    assert await serve.wait_exit() == 0
    assert await viewer.wait_exit() == 0
    assert ENDED.encode() in viewer.raw
    await eventually(lambda: b"stepper serve: the lecture has ended" in serve.raw, what="the goodbye")
    assert (tmp_path / "host_key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_command_headless_lecture_ends_on_ctrl_c_or_sigterm(keys, spawn, tmp_path, sig):
    serve, viewer, _ = await open_lecture(spawn, tmp_path, keys.stranger_file,  # --open: any key will do
                                          "--open", "--headless")
    assert "following" not in viewer.header()
    viewer.send(b"l")
    await viewer.wait_for(f"step 2/{TOTAL}")
    await serve.wait_for_output(b"viewer joined: ")
    serve.proc.send_signal(sig)
    assert await serve.wait_exit() == 0
    assert await viewer.wait_exit() == 0
    assert b"The lecture has ended." in viewer.raw


async def test_command_sigterm_ends_a_presented_lecture_like_q(keys, spawn, tmp_path):
    serve, viewer, _ = await open_lecture(spawn, tmp_path, keys.viewer_file, "--authorized-keys", str(keys.authorized))
    serve.proc.send_signal(signal.SIGTERM)
    assert await serve.wait_exit() == 0
    assert await viewer.wait_exit() == 0
    assert ENDED.encode() in viewer.raw


async def test_command_a_killed_server_leaves_no_viewer_process(keys, spawn, tmp_path):
    serve, viewer, _ = await open_lecture(spawn, tmp_path, keys.viewer_file, "--open", "--headless")
    [pid] = await eventually(lambda: viewer_processes(serve.proc.pid), what="the viewer process")
    rundir = os.path.dirname(os.readlink(f"/proc/{pid}/cwd"))
    try:
        os.kill(serve.proc.pid, signal.SIGKILL)  # no chance to tidy up
        await eventually(lambda: not alive(pid), what="the orphaned viewer to go")
        assert await viewer.wait_exit() == 255  # the connection just dropped
    finally:
        shutil.rmtree(rundir, ignore_errors=True)


def alive(pid: int) -> bool:
    """Running (a zombie waiting for whoever adopted it to reap it counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def viewer_processes(server: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{server}/task"):
        with open(f"/proc/{server}/task/{task}/children") as f:
            found += [int(p) for p in f.read().split()]
    return found


async def test_command_idle_timeout_flag_drops_a_quiet_viewer(keys, spawn, tmp_path):
    serve, viewer, _ = await open_lecture(spawn, tmp_path, keys.viewer_file, "--open", "--headless",
                                          "--idle-timeout", "1")
    await viewer.wait_for("Nothing happened for", 15)  # sessions are checked every few seconds
    assert await viewer.wait_exit() == 0
    serve.proc.send_signal(signal.SIGTERM)
    assert await serve.wait_exit() == 0
