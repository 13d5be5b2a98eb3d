"""The real OpenSSH client, as students run it: `ssh -tt -p PORT -i KEY host` on a terminal."""

from __future__ import annotations

from stepper.tui.follow import ENDED
from tests.serve.conftest import FIRST_SCREEN, TOTAL, app_text, eventually, openssh, run_presenter


async def test_openssh_viewer_follows_the_presenter_and_cannot_steer_it(start_lecture, keys, spawn):
    lecture = start_lecture()
    ssh = None

    async def lecture_script(app, pilot):
        nonlocal ssh
        ssh = spawn(openssh(lecture.port, keys.viewer_file))
        await ssh.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
        assert "2-D convolution" in ssh.header() and "following" in ssh.header()
        await eventually(lambda: "1 following" in app_text(app), what="the presenter's viewer count")
        await pilot.press("right")
        await ssh.wait_for(f"step 2/{TOTAL}")
        await pilot.press("right")
        await ssh.wait_for(f"step 3/{TOTAL} · window · following")
        ssh.resize(86, 26)  # a smaller window: the shared 80x24 screen, at once
        await eventually(lambda: "leave the lecture" in ssh.screen.display[23] and "step 3/" in ssh.header(),
                         FIRST_SCREEN, f"the 80x24 screen:\n{ssh.text()}")
        ssh.resize(100, 30)
        await eventually(lambda: "leave the lecture" in ssh.screen.display[29], FIRST_SCREEN, "100x30 again")
        ssh.send(b"f")
        await ssh.wait_for(f"step 3/{TOTAL} · window · exploring (f: back to the lecture)")
        ssh.send(b"l")
        await ssh.wait_for(f"step 4/{TOTAL} · window · exploring")
        assert app.position == 2
        ssh.resize(120, 36)
        await eventually(lambda: len(ssh.header().rstrip()) > 100 and "Quit" in ssh.screen.display[35],
                         what=f"a redraw at 120x36:\n{ssh.text()}")

    await run_presenter(lecture, lecture_script)  # ends with the presenter's q
    assert await ssh.wait_exit() == 0
    assert ENDED.encode() in ssh.raw


async def test_openssh_a_strangers_key_sees_permission_denied(start_lecture, keys, spawn):
    lecture = start_lecture(presenter=False)
    ssh = spawn(openssh(lecture.port, keys.stranger_file))
    assert await ssh.wait_exit() == 255
    await ssh.wait_closed()
    assert "Permission denied (publickey)." in ssh.raw.decode()
    assert not lecture.viewers
