"""A viewer process: `stepper run FILE --follow SOCKET` on a pseudo-terminal of its own.

The server starts this in a new session with the pseudo-terminal as its standard streams; first it
makes that terminal its controlling terminal, so that the kernel sends it SIGWINCH when the
viewer's window changes and SIGHUP if the server goes away, then it is `stepper run`.
"""

from __future__ import annotations

import contextlib
import fcntl
import sys
import termios


def main(argv: list[str]) -> int:
    with contextlib.suppress(OSError):
        fcntl.ioctl(sys.stdin.fileno(), termios.TIOCSCTTY, 0)
    from stepper.cli import main as stepper

    return stepper(argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
