"""Who the server is and who may watch: the host key and the authorised viewers' keys.

The host key is kept in a file so that students' known_hosts stay valid from one lecture to the
next; it is created (mode 0600) the first time. The authorised keys are an OpenSSH authorized_keys
file, read again whenever it changes, so a lecturer can add a late student's key mid-lecture.
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh


class ServeError(Exception):
    """A problem that stops `stepper serve` before it starts: one line, said to the lecturer."""


def default_host_key_path() -> Path:
    """Where the host key lives when --host-key is not given: one per user, kept across lectures."""
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "stepper" / "ssh_host_ed25519_key"


def load_host_key(path: str | Path) -> tuple[asyncssh.SSHKey, bool]:
    """The host key in ``path``, created there (mode 0600) if missing; and whether it was created."""
    path = Path(path)
    if path.exists():
        try:
            return asyncssh.read_private_key(str(path)), False
        except (OSError, ValueError) as e:
            raise ServeError(f"{path}:1:1: not a usable SSH private key ({e}); "
                             "give another --host-key path, and stepper creates a new key there") from None
    key = asyncssh.generate_private_key("ssh-ed25519", comment="stepper serve host key")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.export_private_key())
    except OSError as e:
        raise ServeError(f"{path}: cannot create the host key: {e.strerror or e}") from None
    return key, True


def parse_authorized_keys(path: str | Path) -> tuple[asyncssh.SSHAuthorizedKeys | None, int]:
    """Read an OpenSSH authorized_keys file; every line must be a key (blank lines and # comments aside).

    Returns the keys and how many there are; None for a file with no keys at all (nobody can
    connect until keys are added).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ServeError(f"{path}: no such file; --authorized-keys wants an OpenSSH authorized_keys file "
                         "(one public key per line, like ~/.ssh/id_ed25519.pub)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ServeError(f"{path}: cannot read the authorized keys: {getattr(e, 'strerror', None) or e}") from None
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            asyncssh.import_authorized_keys(stripped + "\n")
        except (ValueError, asyncssh.KeyImportError):
            column = len(line) - len(line.lstrip()) + 1
            shown = stripped if len(stripped) <= 40 else stripped[:37] + "..."
            raise ServeError(f"{path}:{number}:{column}: {shown!r} is not a public key line; expected "
                             "'ssh-ed25519 AAAA... comment' (one key per line, as in ~/.ssh/authorized_keys)") from None
        lines.append(stripped)
    if not lines:
        return None, 0
    return asyncssh.import_authorized_keys("\n".join(lines) + "\n"), len(lines)


class AuthorizedKeys:
    """The viewers' keys, re-read whenever the file changes; a broken edit keeps the last good keys."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.stamp = self._stamp()
        self.keys, self.count = parse_authorized_keys(self.path)
        self.problem: str | None = None  # why the last re-read was refused, if it was

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def current(self) -> asyncssh.SSHAuthorizedKeys | None:
        stamp = self._stamp()
        if stamp != self.stamp:
            self.stamp = stamp
            try:
                self.keys, self.count = parse_authorized_keys(self.path)
                self.problem = None
            except ServeError as e:
                self.problem = str(e)
        return self.keys
