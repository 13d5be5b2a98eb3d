"""A viewer process: `stepper run FILE --follow SOCKET` on a pseudo-terminal of its own.

The server starts this in a new session with the pseudo-terminal as its standard streams; first it
makes that terminal its controlling terminal, so that the kernel sends it SIGWINCH when the
viewer's window changes and SIGHUP if the server goes away, and lowers its own priority, so that
however hard viewers work the presenter's screen and the server come first; then it is `stepper run`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import termios

NICENESS = 5  # explorers yield the CPU to the presenter's TUI, the SSH server and the shared screens


def main(argv: list[str]) -> int:
    with contextlib.suppress(OSError):
        fcntl.ioctl(sys.stdin.fileno(), termios.TIOCSCTTY, 0)
    shared = "--role" in argv and argv[argv.index("--role") + 1:][:1] == ["shared"]
    with contextlib.suppress(OSError):
        os.nice(0 if shared else NICENESS)  # a shared screen serves many followers: not below the rest
    from stepper.serve.process import apply_memory_limit

    apply_memory_limit()
    from stepper.cli import main as stepper

    return stepper(argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
