"""Who the server is and who may watch: the host key and the authorised viewers' keys.

The host key is kept in a file so that students' known_hosts stay valid from one lecture to the
next; it is created (mode 0600) the first time. The authorised keys are an OpenSSH authorized_keys
file, read again whenever it changes, so a lecturer can add a late student's key mid-lecture.

Of the options an authorized_keys line may carry, stepper enforces `from=` and `expiry-time=`,
accepts those whose restriction holds anyway (it forwards nothing, runs no command and no rc
file), and refuses a file with any other option, naming its line and column: an option that would
silently do nothing is worse than a clear "remove it".
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import asyncssh

from stepper.errors import StepperError


class ServeError(StepperError):
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


NOT_A_KEY = ("is not a public key line; expected 'ssh-ed25519 AAAA... comment' "
             "(one key per line, as in ~/.ssh/authorized_keys)")

# Options whose restriction holds in any lecture: stepper forwards nothing, runs no command and no
# ~/.ssh/rc. `restrict` would also take the terminal away, but a terminal is what a viewer watches:
# a restricted key still gets its screen, as with `restrict,pty` in OpenSSH.
HARMLESS = {"restrict", "no-port-forwarding", "no-agent-forwarding", "no-x11-forwarding", "no-user-rc", "pty"}
HARMLESS_WITH_VALUE = {"permitopen", "permitlisten"}  # forwarding limits: nothing is forwarded at all
ENFORCED = {"from", "expiry-time"}  # need a value
FORWARDS_NOTHING = "stepper serve forwards nothing and runs no ~/.ssh/rc, so it cannot grant this; remove it"
REFUSED = {
    "command": "a forced command cannot apply: every viewer gets the lecture's screen and nothing else; "
               "remove the option",
    "environment": "stepper serve builds each viewer's environment itself and would ignore it; remove the option",
    "no-pty": "the lecture is shown on a terminal, so this key would see nothing; remove the option "
              "(viewers get no shell either way)",
    "cert-authority": "stepper serve takes the students' own keys, not certificates; "
                      "list each student's public key instead",
    "principals": "stepper serve takes the students' own keys, not certificates; "
                  "list each student's public key instead",
    "port-forwarding": FORWARDS_NOTHING,
    "agent-forwarding": FORWARDS_NOTHING,
    "x11-forwarding": FORWARDS_NOTHING,
    "user-rc": FORWARDS_NOTHING,
    "tunnel": FORWARDS_NOTHING,
    "no-touch-required": "security-key options are not honoured by stepper serve; remove the option",
    "verify-required": "security-key options are not honoured by stepper serve; remove the option "
                       "(or the key, if it must not be used without a PIN)",
}
SUPPORTED = ("stepper serve honours from=\"...\" and expiry-time=\"...\", and accepts restrict, pty, "
             "no-port-forwarding, no-agent-forwarding, no-X11-forwarding, no-user-rc, permitopen= and permitlisten=")
EXPIRY = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})(?:([0-9]{2})([0-9]{2})([0-9]{2})?)?([zZ]?)")
EXPIRY_FORMAT = ('write YYYYMMDD[HHMM[SS]] in local time, or with a Z for UTC, as in sshd(8): '
                 'expiry-time="20260301" or expiry-time="202603011200Z"')


@dataclass(frozen=True)
class KeyLine:
    """One key of an authorized_keys file, with what its line says about it."""

    key: asyncssh.SSHKey
    comment: str | None  # the text after the key, often who it belongs to ("alice@laptop")
    expires: float | None  # expiry-time= as a Unix time: refused once this has passed; None never
    rule: asyncssh.SSHAuthorizedKeys  # this line alone, for asyncssh to match from= patterns
    text: str  # the line as asyncssh reads it: option names in lower case, no comment
    line: int

    def expired(self, now: float) -> bool:
        return self.expires is not None and now > self.expires


def parse_expiry(value: str) -> float | None:
    """sshd(8)'s expiry-time: YYYYMMDD[HHMM[SS]], local time, or UTC with a trailing Z; None if malformed."""
    match = EXPIRY.fullmatch(value)
    if not match:
        return None
    year, month, day, hour, minute, second, utc = match.groups()
    try:
        when = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                        tzinfo=timezone.utc if utc else None)
        return when.timestamp()  # a naive datetime is local time
    except (ValueError, OverflowError, OSError):
        return None


def split_options(text: str) -> tuple[list[tuple[int, str]], str]:
    """The options at the start of a line (each with its offset in ``text``), and the rest of the line.

    Options are separated by commas and end at the first blank outside double quotes; a backslash
    takes the next character as it is (as asyncssh reads them).
    """
    options: list[tuple[int, str]] = []
    start, quoted, escaped, index = 0, False, False, 0
    for index, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif ch in " \t":
            break
        elif ch == ",":
            options.append((start, text[start:index]))
            start = index + 1
    else:
        index = len(text)
    options.append((start, text[start:index]))
    return options, ("" if quoted or escaped else text[index:].strip())


def unquote(value: str) -> str:
    out, escaped = [], False
    for ch in value:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch != '"':
            out.append(ch)
    return "".join(out)


def import_key(text: str) -> tuple[asyncssh.SSHKey, str, str | None] | None:
    """'TYPE BASE64 [comment]' as a public key, its 'TYPE BASE64', and the comment; None if it is not one."""
    fields = text.split(None, 2)
    if len(fields) < 2:
        return None
    data = f"{fields[0]} {fields[1]}"
    try:
        key = asyncssh.import_public_key(data)
    except (ValueError, asyncssh.KeyImportError):
        return None
    comment = fields[2].strip() if len(fields) == 3 else None
    return key, data, comment or None


def parse_key_line(line: str, number: int, where: str) -> KeyLine:
    """One line of an authorized_keys file that is not blank or a comment; ServeError if it will not do."""
    indent = len(line) - len(line.lstrip())
    text = line.strip()

    def refuse(offset: int, message: str) -> ServeError:
        return ServeError(f"{where}:{number}:{indent + offset + 1}: {message}")

    found = import_key(text)
    options: list[tuple[int, str]] = []
    if found is None:
        options, rest = split_options(text)
        found = import_key(rest)
        if found is None:
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise refuse(0, f"{shown!r} {NOT_A_KEY}")
    key, data, comment = found
    expires: float | None = None
    kept: list[str] = []  # the options as asyncssh reads them: names in lower case
    for offset, option in options:
        name, has_value, raw = option.partition("=")
        lower = name.lower()
        shown = option if len(option) <= 40 else option[:37] + "..."
        if not name:
            raise refuse(offset, "an empty option (two commas in a row, or a comma before the key); "
                                 'write options as restrict,from="..." with no blanks between them')
        if lower in REFUSED:
            raise refuse(offset, f"{shown}: {REFUSED[lower]}")
        if lower in HARMLESS:
            if has_value:
                raise refuse(offset, f"{shown}: {name} takes no value; write just {name}")
            kept.append(lower)
            continue
        if lower not in ENFORCED and lower not in HARMLESS_WITH_VALUE:
            raise refuse(offset, f"unknown option {shown!r}; {SUPPORTED}")
        value = unquote(raw)
        if not has_value or not value:
            example = '"YYYYMMDD"' if lower == "expiry-time" else '"..."'
            raise refuse(offset, f"{shown}: {lower} needs a value, as in {lower}={example}")
        if lower == "expiry-time":
            when = parse_expiry(value)
            if when is None:
                raise refuse(offset, f"{shown}: not a time; {EXPIRY_FORMAT}")
            expires = when if expires is None else min(expires, when)  # the earliest one counts, as in sshd
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        kept.append(f'{lower}="{escaped}"')
    normal = f"{','.join(kept)} {data}" if kept else data
    try:
        rule = asyncssh.import_authorized_keys(normal + "\n")
    except (ValueError, asyncssh.KeyImportError) as e:  # a value asyncssh cannot read (permitopen=)
        raise refuse(0, f"{e}; {SUPPORTED}") from None
    return KeyLine(key, comment, expires, rule, normal, number)


def read_key_lines(path: str | Path) -> list[KeyLine]:
    """Every key of an OpenSSH authorized_keys file; every line must be a key (blank lines and # comments aside)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ServeError(f"{path}: no such file; --authorized-keys wants an OpenSSH authorized_keys file "
                         "(one public key per line, like ~/.ssh/id_ed25519.pub)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ServeError(f"{path}: cannot read the authorized keys: {getattr(e, 'strerror', None) or e}") from None
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            entries.append(parse_key_line(line, number, str(path)))
    return entries


def combine(entries: list[KeyLine]) -> asyncssh.SSHAuthorizedKeys | None:
    """The lines as one asyncssh object (for ``SSHServerConnection.set_authorized_keys``); None if none."""
    if not entries:
        return None
    return asyncssh.import_authorized_keys("".join(entry.text + "\n" for entry in entries))


def parse_authorized_keys(path: str | Path) -> tuple[asyncssh.SSHAuthorizedKeys | None, int]:
    """Read an OpenSSH authorized_keys file; every line must be a key (blank lines and # comments aside).

    Returns the keys and how many there are; None for a file with no keys at all (nobody can
    connect until keys are added).
    """
    entries = read_key_lines(path)
    return combine(entries), len(entries)


class AuthorizedKeys:
    """The viewers' keys, re-read whenever the file changes; a broken edit keeps the last good keys.

    A key whose expiry-time has passed is refused from then on, at each new connection.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.stamp = self._stamp()
        self.entries = read_key_lines(self.path)
        self.count = len(self.entries)
        self.problem: str | None = None  # why the last re-read was refused, if it was
        self._valid: tuple[int, ...] | None = None  # which entries ``_combined`` holds
        self._combined: asyncssh.SSHAuthorizedKeys | None = None

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _refresh(self) -> None:
        stamp = self._stamp()
        if stamp != self.stamp:
            self.stamp = stamp
            try:
                self.entries = read_key_lines(self.path)
                self.count = len(self.entries)
                self.problem = None
                self._valid = None
            except ServeError as e:
                self.problem = str(e)

    def current(self) -> asyncssh.SSHAuthorizedKeys | None:
        """The keys that may log in now (none expired), for asyncssh; None when there are none."""
        self._refresh()
        now = time.time()
        valid = tuple(i for i, entry in enumerate(self.entries) if not entry.expired(now))
        if valid != self._valid:
            self._valid = valid
            self._combined = combine([self.entries[i] for i in valid])
        return self._combined

    def allows(self, key: asyncssh.SSHKey, client_host: str, client_addr: str) -> tuple[bool, str | None]:
        """May ``key`` log in now from this client? And the comment of its line (who it is), if so.

        The file is re-read first if it changed. A line lets the key in if it is that key, its
        from= patterns (if any) match the client, and its expiry-time (if any) has not passed; as
        in sshd, the first such line counts. ``client_addr`` is the client's IP address;
        ``client_host`` its name if one was looked up, else "" (from= then matches addresses only,
        as with sshd's default UseDNS no). Call it on every login attempt: expiry is checked then.
        """
        self._refresh()
        now = time.time()
        for entry in self.entries:
            if entry.key.public_data != key.public_data or entry.expired(now):
                continue
            try:
                allowed = entry.rule.validate(entry.key, client_host, client_addr) is not None
            except ValueError:  # not an IP address: no from= pattern can match it
                allowed = False
            if allowed:
                return True, entry.comment
        return False, None
