"""`stepper serve FILE --port N ...`: check the flags, start the lecture, end it when the presenter quits."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

from stepper.errors import EXIT_BAD_INPUT
from stepper.serve.keys import ServeError, default_host_key_path, load_host_key

MAX_TIMEOUT = 7 * 24 * 3600.0  # seconds; beyond this (or inf, nan) a timeout is a typo
WEB_TOKEN = re.compile(r"[A-Za-z0-9._~-]{8,128}")  # goes into the link as it is


def check_flags(args: argparse.Namespace) -> None:
    """Refuse flag values that cannot work, before anything is started."""
    if not 1 <= args.port <= 65535:
        raise ServeError(f"--port {args.port}: choose a port from 1 to 65535 "
                         "(below 1024 needs root; 2222 is a common choice)")
    if args.max_viewers is None:  # a hall when presenting; every headless viewer is a process of its own
        args.max_viewers = 50 if args.headless else 500
    if args.max_viewers < 1:
        raise ServeError(f"--max-viewers {args.max_viewers}: must be at least 1")
    if args.max_explorers < 0:
        raise ServeError(f"--max-explorers {args.max_explorers}: 0 (everyone follows) or more")
    if args.poll_log:
        log = Path(args.poll_log)
        folder = log.parent if str(log.parent) else Path(".")
        if log.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK) \
                or (log.exists() and not os.access(log, os.W_OK)):
            raise ServeError(f"--poll-log {args.poll_log}: cannot append to that file; "
                             "give a writable file path (it is created if missing)")
    if args.headless and (args.poll_log or args.poll_names):
        raise ServeError("--poll-log and --poll-names go with a presenter, who asks the questions; "
                         "drop them or --headless")
    for flag, value, never in (("--login-timeout", args.login_timeout, False),
                               ("--stall-timeout", args.stall_timeout, False),
                               ("--idle-timeout", args.idle_timeout, True)):  # never: 0 turns it off
        if not 0 <= value <= MAX_TIMEOUT or (value == 0 and not never):
            least = "0 (never) or more" if never else "more than 0"
            raise ServeError(f"{flag} {value:g}: seconds, {least} and at most {MAX_TIMEOUT:g} (a week)")
    check_web_flags(args)
    if args.open and args.authorized_keys:
        raise ServeError("--open and --authorized-keys contradict each other: "
                         "--open lets anyone in, --authorized-keys only the keys in the file; choose one")
    if not args.open and not args.authorized_keys:
        raise ServeError("say who may watch: --authorized-keys FILE (an OpenSSH authorized_keys file "
                         "with your students' public keys) or --open (anyone who can reach the port)")
    if not args.headless and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise ServeError("the presenter's screen needs a terminal; "
                         "run it in one, or use --headless to serve without a presenter")


def check_web_flags(args: argparse.Namespace) -> None:
    if args.web is None:
        if args.web_host or args.web_token:
            raise ServeError("--web-host and --web-token go with --web PORT (the port browsers open)")
        return
    if not 1 <= args.web <= 65535:
        raise ServeError(f"--web {args.web}: choose a port from 1 to 65535 (8080 is a common choice)")
    if args.headless:
        raise ServeError("--web needs a presenter to follow: browsers only follow, so drop --headless")
    if args.web_token is not None and not WEB_TOKEN.fullmatch(args.web_token):
        raise ServeError("--web-token: 8 to 128 letters, digits, '-', '_', '.' or '~' "
                         "(it goes into the link as it is)")


def local(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1")


def machine_name(host: str) -> str:
    """How students name this machine: its host name when listening on every interface."""
    if local(host):
        return "localhost"
    return socket.gethostname() if host in ("0.0.0.0", "::", "") else host


def student_command(host: str, port: int) -> str:
    """What students type."""
    name = machine_name(host)
    return f"ssh -p {port} {name}" if port != 22 else f"ssh {name}"


def web_link(args: argparse.Namespace, lecture) -> str | None:
    """What students open in a browser, token included; None without --web."""
    return lecture.web.url(machine_name(args.web_host or "127.0.0.1")) if lecture.web else None


def banner(args: argparse.Namespace, lecture, title: str, fingerprint: str, created: bool,
           key_path: Path) -> list[str]:
    """What the lecturer reads at start: where to connect, who may, and the host key to check."""
    where = "only from this machine (--host 0.0.0.0 opens it to the network)" if local(args.host) else \
        "over the network"
    lines = [
        f"stepper serve: {title!r} on {args.host}:{lecture.port}, {where}",
        f"  students type:  {student_command(args.host, lecture.port)}",
        f"  host key {fingerprint} ({'created in' if created else 'from'} {key_path})",
    ]
    if args.open:
        lines.append("  !!! OPEN LECTURE: anyone who can reach this port can watch, no key needed !!!")
    else:
        keys = lecture.keys
        count = keys.count if keys else 0
        lines.append(f"  access: {count} key{'s' if count != 1 else ''} in {args.authorized_keys} "
                     "(re-read when it changes)")
    link = web_link(args, lecture)
    if link:
        where = "only from this machine (--web-host 0.0.0.0 opens it to the network)" \
            if local(args.web_host or "127.0.0.1") else "over the network"
        lines.append(f"  browsers open:  {link}  ({where}; the token is the key)")
    if args.headless:
        lines.append("  headless: every viewer steps on their own; Ctrl+C ends the lecture")
    else:
        lines.append(f"  you present: viewers follow your steps; q ends the lecture for everyone "
                     f"(at most {args.max_viewers} viewers, {args.max_explorers} of them exploring on their own)")
    return lines


def serve_command(args: argparse.Namespace) -> int:
    from stepper.scenario import load

    scenario = load(args.file)  # a bad file: the CLI prints FILE:LINE:COL and exits 2
    try:
        check_flags(args)
        key_path = Path(args.host_key) if args.host_key else default_host_key_path()
        host_key, created = load_host_key(key_path)
        from stepper.serve.lecture import Config, Lecture, quiet_logs

        quiet_logs()
        config = Config(scenario_path=str(Path(args.file).resolve()), host_key=host_key,
                        authorized_keys=args.authorized_keys, open=args.open, host=args.host,
                        port=args.port, max_viewers=args.max_viewers, max_explorers=args.max_explorers, poll_names=args.poll_names,
                        poll_log=str(Path(args.poll_log).resolve()) if args.poll_log else None,
                        presenter=not args.headless,
                        login_timeout=args.login_timeout, idle_timeout=args.idle_timeout,
                        stall_timeout=args.stall_timeout, web_port=args.web,
                        web_host=args.web_host or "127.0.0.1", web_token=args.web_token)
        lecture = Lecture(config, log=log_line if args.headless else None)
        lecture.start()
    except ServeError as e:
        print(f"stepper serve: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    lines = banner(args, lecture, scenario.title, host_key.get_fingerprint(), created, key_path)
    print("\n".join(lines), file=sys.stderr, flush=True)
    try:
        if args.headless:
            wait_for_signal()
        else:
            present_in_terminal(scenario, lecture, args)
    finally:
        # From here on the process only ends the lecture and leaves: another signal (a second
        # Ctrl+C, the terminal closing meanwhile) must not cut that short, or viewers would miss
        # their goodbye and the lecture's folder would stay behind. Handlers while viewers may
        # still start (a viewer process must not inherit an ignored signal); once the lecture is
        # over, ignored, as Python puts handled signals back to the default while it exits.
        ending = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
        for sig in ending:
            signal.signal(sig, lambda signum, frame: None)
        lecture.stop()
        for sig in ending:
            signal.signal(sig, signal.SIG_IGN)
    with contextlib.suppress(OSError):  # the lecturer's terminal may have closed (SIGHUP)
        print("stepper serve: the lecture has ended", file=sys.stderr, flush=True)
    return 0


def log_line(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


def wait_for_signal() -> None:
    """Headless: serve until Ctrl+C, SIGTERM or SIGHUP (the lecturer's terminal closed).

    The handler only records the signal: taking a lock in a signal handler (Event.set) can
    deadlock with the very wait it interrupts. The handlers stay when this returns, so that no
    signal can kill the process before the caller has ended the lecture.
    """
    caught: list[int] = []
    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: caught.append(signum))
    while not caught:
        time.sleep(0.2)


def present_in_terminal(scenario, lecture, args: argparse.Namespace) -> None:
    """The presenter's TUI in this terminal; SIGHUP, SIGTERM or SIGINT end the lecture as `q` would.

    Ctrl+C in the presenter's terminal is a key the TUI reads; SIGINT arrives only from `kill`.
    """
    from stepper.serve.presenter import present
    from stepper.tui import create_app

    app = create_app(scenario)
    command = student_command(args.host, lecture.port)
    notices = [(f"Serving on {args.host}:{lecture.port}: students type `{command}`", "information")]
    link = web_link(args, lecture)
    if link:
        notices.append((f"In a browser: {link}", "information"))
    if args.open:
        notices.append(("OPEN LECTURE: anyone who can reach this port can watch, no key needed", "warning"))

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def end(signum, frame) -> None:  # on the main thread, between two steps of the loop
            with contextlib.suppress(RuntimeError):  # the loop has closed: the lecture is over
                loop.call_soon_threadsafe(app.exit)

        # signal.signal rather than loop.add_signal_handler: the loop resets its handlers to the
        # default (death) when it closes, and the caller must end the lecture after that unharmed.
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, end)
        await present(app, lecture, notices=tuple(notices))

    asyncio.run(main())
