"""The `stepper` command: parse the arguments and hand over to the module that does the work."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence

from stepper import __version__
from stepper.errors import EXIT_BAD_INPUT, StepperError


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag reads like every other stepper error: one line, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="stepper", description="Step through neural-network layers in the terminal.")
    parser.add_argument("--version", action="version", version=f"stepper {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    version = {"action": "version", "version": f"stepper {__version__}"}

    run = sub.add_parser("run", help="open the step-through TUI on a scenario",
                         description="Open the TUI on a scenario file; q quits.")
    run.add_argument("--version", **version)
    run.add_argument("file", metavar="FILE")
    run.add_argument("--theme", default=None, help="colour theme, e.g. ansi-dark on a projector (Ctrl+P lists them)")
    run.add_argument("--quiz", action="store_true", help="predict, then reveal: each step's number stays hidden "
                     "until you type a prediction")
    run.add_argument("--follow", default=None, metavar="SOCKET", help=argparse.SUPPRESS)
    run.add_argument("--role", default=None, choices=("shared", "explorer", "viewer"), help=argparse.SUPPRESS)

    check = sub.add_parser("check", help="validate scenario files and summarise them",
                           description="Validate each file; print one line per file. Exit 0 if all are valid, 2 if not.")
    check.add_argument("--version", **version)
    check.add_argument("files", nargs="+", metavar="FILE")

    trace = sub.add_parser("trace", help="print every step of every layer, headless",
                           description="Run every layer and print each step: a readable table, or JSON Lines with --json.")
    trace.add_argument("--version", **version)
    trace.add_argument("file", metavar="FILE")
    trace.add_argument("--json", action="store_true", help="JSON Lines: one object per step and per layer output")

    export = sub.add_parser("export", help="write SVG screenshots of chosen steps",
                            description="Write the TUI's screen at chosen steps as SVG (and text) files.")
    export.add_argument("--version", **version)
    export.add_argument("file", metavar="FILE")
    export.add_argument("--out", required=True, metavar="DIR", help="folder for the files (created if missing)")
    export.add_argument("--steps", default="0", help="indices and ranges: 0,3,10-12, -1 for the last, or all")
    export.add_argument("--size", default="100x30", metavar="COLSxROWS", help="terminal size, default 100x30")
    export.add_argument("--theme", default=None, help="colour theme")
    export.add_argument("--format", default="svg", choices=("svg", "txt", "both"), help="svg (default), txt or both")
    export.add_argument("--quiz", action="store_true", help="each step as the question `stepper run --quiz` asks there")

    serve = sub.add_parser("serve", help="give a lecture over SSH",
                           description="Serve the scenario over SSH: viewers follow the presenter.")
    serve.add_argument("--version", **version)
    serve.add_argument("file", metavar="FILE")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--authorized-keys", default=None, metavar="FILE")
    serve.add_argument("--host-key", default=None, metavar="FILE")
    serve.add_argument("--open", action="store_true", help="let anyone connect, without a key")
    serve.add_argument("--max-viewers", type=int, default=None, metavar="N",
                       help="students at once, following or exploring (default 500; 50 with --headless)")
    serve.add_argument("--poll-names", action="store_true",
                       help="the poll panel shows who answered what (anonymous by default)")
    serve.add_argument("--poll-log", default=None, metavar="FILE",
                       help="append each poll question and its anonymous answers to FILE (JSON Lines)")
    serve.add_argument("--max-explorers", type=int, default=20, metavar="N",
                       help="students exploring with a process of their own at once (default 20)")
    serve.add_argument("--headless", action="store_true", help="no presenter: every viewer steps on their own")
    serve.add_argument("--login-timeout", type=float, default=30.0, metavar="SECONDS",
                       help="time to authenticate, and then to open a session (default 30)")
    serve.add_argument("--idle-timeout", type=float, default=3600.0, metavar="SECONDS",
                       help="drop a viewer after this long with no byte either way; 0 never (default 3600)")
    serve.add_argument("--stall-timeout", type=float, default=60.0, metavar="SECONDS",
                       help="drop a viewer whose client stops reading its screen for this long (default 60)")
    serve.add_argument("--web", type=int, default=None, metavar="PORT",
                       help="browsers follow too, on this port (the link, with its token, is printed at start)")
    serve.add_argument("--web-host", default=None, metavar="ADDR", help="address the web page listens on (default 127.0.0.1)")
    serve.add_argument("--web-token", default=None, metavar="TOKEN", help="the token in the page's link (default: random)")

    web = sub.add_parser("web", help="open the TUI in a browser, for one person",
                         description="Serve the step-through TUI to a browser on this machine (textual-serve); "
                         "every browser tab gets its own copy. Ctrl+C stops.")
    web.add_argument("--version", **version)
    web.add_argument("file", metavar="FILE")
    web.add_argument("--port", type=int, default=8000, help="default 8000")
    web.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1: this machine only")
    web.add_argument("--theme", default=None, help="colour theme")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # stepper's matrices are small (a 256x128 weight, a 27-long kernel window): a BLAS thread pool
    # speeds none of it up, yet starting one costs every command start-up time, and every SSH viewer
    # of `stepper serve` idle threads. Set before NumPy is first imported; a user's own setting wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except StepperError as e:  # a bad file or value: its one line, never a traceback
        print(e, file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


def cmd_check(args: argparse.Namespace) -> int:
    from stepper.report import summary
    from stepper.scenario import ScenarioError, load

    status = 0
    for path in args.files:
        try:
            print(summary(load(path)))
        except ScenarioError as e:
            print(e, file=sys.stderr)
            status = EXIT_BAD_INPUT
    return status


def cmd_trace(args: argparse.Namespace) -> int:
    from stepper import report
    from stepper.scenario import load

    scenario = load(args.file)
    try:
        if args.json:
            report.write_json(scenario, sys.stdout)
        else:
            report.write_tables(scenario)
        sys.stdout.flush()
    except BrokenPipeError:  # `stepper trace ... | head`: the reader has what it wanted
        sys.stderr.close()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    # Start-up builds hundreds of thousands of objects (NumPy, Textual, the scenario's trace) that live
    # as long as the app; the cyclic collector would scan them all, repeatedly, before the first
    # frame. It is paused here and resumed by the app once its first frame is on screen.
    gc.disable()
    # Textual writes every frame from a thread of its own, which must take the interpreter lock from
    # this one; while this thread computes (start-up, a burst of keys), each hand-over waits out the
    # switch interval, 5 ms by default, and a frame takes several. 1 ms gets frames out sooner.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    try:
        from stepper.scenario import load

        scenario = load(args.file)
        from stepper.tui import create_app

        app = create_app(scenario, theme=args.theme, follow=args.follow, role=args.role, quiz=args.quiz)
        if args.theme and args.theme not in app.available_themes:
            names = ", ".join(sorted(app.available_themes))
            print(f"stepper run: no theme called {args.theme!r}; choose one of: {names}", file=sys.stderr)
            return EXIT_BAD_INPUT
        app.run(mouse=args.role != "shared")  # a shared screen is only watched: no mouse reports
        return app.return_code or 0
    finally:
        gc.enable()
        sys.setswitchinterval(interval)


def cmd_export(args: argparse.Namespace) -> int:
    from stepper.export import export_command

    return export_command(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from stepper.serve import serve_command

    return serve_command(args)


def cmd_web(args: argparse.Namespace) -> int:
    from stepper.web import web_command

    return web_command(args)


COMMANDS = {"run": cmd_run, "check": cmd_check, "trace": cmd_trace, "export": cmd_export, "serve": cmd_serve,
            "web": cmd_web}
