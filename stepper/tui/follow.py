"""A viewer of `stepper serve` listens to the presenter's position (see stepper.serve.feed).

The app calls ``start_following`` when it is mounted with ``follow`` set. A worker on the app's
own loop reads the position channel and calls ``app.presenter_at(state)``; the app decides whether
to go there (following) or only remember it (exploring). When the lecture ends the viewer exits
with a goodbye that stays on the student's terminal.
"""

from __future__ import annotations

import asyncio

from stepper.serve.feed import BYE, parse

ENDED = "The lecture has ended. Thank you for following!"
LOST = "The lecture's server has gone away."


def start_following(app, path: str) -> None:
    """Follow the presenter whose positions are published on the Unix socket ``path``."""
    app.run_worker(follow(app, path), name="follow", group="follow", exit_on_error=False)


async def follow(app, path: str) -> None:
    try:
        reader, writer = await asyncio.open_unix_connection(path)
    except OSError:
        app.following = False
        app.notify("Cannot reach the presenter: you are exploring on your own.", severity="warning", timeout=8)
        app.refresh_screen()
        return
    rest = b""
    try:
        while chunk := await reader.read(4096):
            messages, rest = parse(rest + chunk)
            if BYE in messages:
                app.exit(return_code=0, message=ENDED)
                return
            if messages:  # several moves arrived at once: only the latest matters
                app.presenter_at(messages[-1])
        app.exit(return_code=0, message=LOST)
    except (ConnectionError, OSError):
        app.exit(return_code=0, message=LOST)
    finally:
        writer.close()
