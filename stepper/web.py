"""`stepper web FILE`: the step-through TUI for one person, in a browser, through textual-serve.

textual-serve starts `stepper run FILE` for every browser tab that opens the page, with Textual's
web driver in place of a terminal, and shows it with xterm.js; each tab steps on its own. It is
meant for this machine (the default address is 127.0.0.1): anyone who can reach the port starts a
process of their own. A lecture with followers in a browser is `stepper serve ... --web PORT`.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from stepper.errors import EXIT_BAD_INPUT


def run_command(args: argparse.Namespace) -> str:
    """The command textual-serve runs for each tab: this Python, this stepper, the file."""
    command = [sys.executable, "-m", "stepper", "run", args.file]
    if args.theme:
        command += ["--theme", args.theme]
    return shlex.join(command)


def web_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from stepper.scenario import load

    scenario = load(args.file)  # a bad file: FILE:LINE:COL and exit 2, before anything listens
    if not 1 <= args.port <= 65535:
        print(f"stepper web: --port {args.port}: choose a port from 1 to 65535", file=sys.stderr)
        return EXIT_BAD_INPUT
    args.file = str(Path(args.file).resolve())
    from textual_serve.server import Server

    server = Server(run_command(args), host=args.host, port=args.port, title=f"stepper: {scenario.title}")
    server.serve()
    return 0
