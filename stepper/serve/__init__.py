"""`stepper serve`: a lecture over SSH, where viewers follow the presenter or explore on their own.

    lecture.py    the asyncssh server on its own thread: authentication, limits, viewer count
    follower.py   following a shared screen, whatever carries the bytes: the hint, the poll's input line
    session.py    one SSH viewer: a follower, or an explorer with a process of its own, bytes both ways
    browser.py    `--web`: the page, its assets and its WebSocket, each page a follower
    feed.py       the position channel: the presenter's step, to every viewer process
    presenter.py  the presenter's TUI joined to the lecture
    command.py    the command line: flags checked, the lecture started, ended when the presenter quits
    keys.py       the host key and the authorised viewers' keys
    child.py      the viewer process's entry point

The design is described in docs/serve.md. This module imports nothing heavy: a viewer process
starts through stepper.serve.child and must not pay for asyncssh.
"""

from __future__ import annotations

import argparse


def serve_command(args: argparse.Namespace) -> int:
    from stepper.serve.command import serve_command as run

    return run(args)


__all__ = ["serve_command"]
