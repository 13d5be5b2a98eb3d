"""authorized_keys options: from= and expiry-time= enforced, harmless ones accepted, the rest refused.

A refused option names FILE:LINE:COL (the option's column); at start that is exit status 2, and
a mid-lecture edit that brings one in is refused while the last good keys stay in force.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import asyncssh
import pytest

import stepper.serve.keys as keys_module
from stepper.serve.keys import AuthorizedKeys, ServeError, parse_authorized_keys, parse_expiry
from tests.serve.conftest import FIRST_SCREEN, SCENARIO, TOTAL, Viewer

EXPIRY_FORMAT = ('write YYYYMMDD[HHMM[SS]] in local time, or with a Z for UTC, as in sshd(8): '
                 'expiry-time="20260301" or expiry-time="202603011200Z"')
SUPPORTED = ('stepper serve honours from="..." and expiry-time="...", and accepts restrict, pty, '
             'no-port-forwarding, no-agent-forwarding, no-X11-forwarding, no-user-rc, permitopen= and permitlisten=')


@pytest.fixture(scope="module")
def alice() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519", comment="alice@laptop")


@pytest.fixture(scope="module")
def bob() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


def public(key: asyncssh.SSHKey) -> str:
    """The key's line as `ssh-keygen` writes it: 'ssh-ed25519 AAAA... comment'."""
    return key.export_public_key().decode().strip()


def bare(key: asyncssh.SSHKey) -> str:
    """'ssh-ed25519 AAAA...' without a comment."""
    return " ".join(public(key).split()[:2])


def client(key: asyncssh.SSHKey) -> asyncssh.SSHKey:
    """The key as the server receives it from a client: public only."""
    return key.convert_to_public()


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "class_keys"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def refusal(path: Path) -> str:
    with pytest.raises(ServeError) as e:
        parse_authorized_keys(path)
    return str(e.value)


def stamp(when: datetime, utc: bool) -> str:
    return when.strftime("%Y%m%d%H%M%S") + ("Z" if utc else "")


# --- expiry-time ---------------------------------------------------------------------------------

def test_an_expired_key_is_refused_and_a_current_one_is_let_in_with_its_comment(tmp_path, alice, bob):
    path = write(tmp_path, f'expiry-time="20000101" {public(alice)}',
                 f'expiry-time="99991231" {public(bob)} bob at the back')
    keys = AuthorizedKeys(path)
    assert keys.count == 2
    assert keys.allows(client(alice), "", "127.0.0.1") == (False, None)
    assert keys.allows(client(bob), "", "127.0.0.1") == (True, "bob at the back")


def test_expiry_is_checked_at_each_connection(tmp_path, alice, monkeypatch):
    path = write(tmp_path, f'expiry-time="202603011200Z" {public(alice)}')
    keys = AuthorizedKeys(path)
    deadline = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc).timestamp()
    clock = SimpleNamespace(time=lambda: deadline - 60)
    monkeypatch.setattr(keys_module, "time", clock)
    assert keys.allows(client(alice), "", "127.0.0.1") == (True, "alice@laptop")
    assert keys.current() is not None
    clock.time = lambda: deadline  # at the very second it is still good, as in sshd
    assert keys.allows(client(alice), "", "127.0.0.1")[0]
    clock.time = lambda: deadline + 1  # the lecture runs on: the next login is refused
    assert keys.allows(client(alice), "", "127.0.0.1") == (False, None)
    assert keys.current() is None  # what asyncssh is given holds no expired key either


def test_expiry_in_local_time_and_with_z_in_utc(tmp_path, alice, monkeypatch):
    monkeypatch.setenv("TZ", "EST+5")  # five hours behind UTC, so local and UTC readings differ
    time.tzset()
    try:
        soon_local = datetime.now() + timedelta(minutes=2)  # naive: this zone's wall clock
        keys = AuthorizedKeys(write(tmp_path, f'expiry-time="{stamp(soon_local, utc=False)}" {public(alice)}'))
        assert keys.allows(client(alice), "", "127.0.0.1")[0]
        # The same digits read as UTC were five hours ago.
        keys = AuthorizedKeys(write(tmp_path, f'expiry-time="{stamp(soon_local, utc=True)}" {public(alice)}  '))
        assert not keys.allows(client(alice), "", "127.0.0.1")[0]
        soon_utc = datetime.now(timezone.utc) + timedelta(minutes=2)
        keys = AuthorizedKeys(write(tmp_path, f'expiry-time="{stamp(soon_utc, utc=True)}" {public(alice)}'))
        assert keys.allows(client(alice), "", "127.0.0.1")[0]
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(("value", "expected"), [
    ("20260301", datetime(2026, 3, 1).timestamp()),  # midnight, local time
    ("202603011230", datetime(2026, 3, 1, 12, 30).timestamp()),
    ("20260301123045", datetime(2026, 3, 1, 12, 30, 45).timestamp()),
    ("20260301Z", datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp()),
    ("202603011230z", datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc).timestamp()),
    ("20260301123045Z", datetime(2026, 3, 1, 12, 30, 45, tzinfo=timezone.utc).timestamp()),
])
def test_expiry_formats_of_sshd(value, expected):
    assert parse_expiry(value) == expected


def test_a_key_listed_twice_is_let_in_by_its_line_that_has_not_expired(tmp_path, alice):
    path = write(tmp_path, f'expiry-time="20000101" {bare(alice)} alice last year',
                 f"{bare(alice)} alice this year")
    assert AuthorizedKeys(path).allows(client(alice), "", "127.0.0.1") == (True, "alice this year")


@pytest.mark.parametrize("value", ["2026-03-01", "2026030", "202603011", "20261301", "20260230",
                                   "202603012460", "20260301123060", "20260301Z1200", "20260301ZZ", "tomorrow"])
def test_a_malformed_expiry_is_refused_at_its_column(tmp_path, alice, value):
    path = write(tmp_path, "# week 3", f'restrict,expiry-time="{value}" {public(alice)}')
    assert refusal(path) == f'{path}:2:10: expiry-time="{value}": not a time; {EXPIRY_FORMAT}'


@pytest.mark.parametrize("option", ["expiry-time", 'expiry-time=""'])
def test_an_expiry_without_a_time_is_refused(tmp_path, alice, option):
    path = write(tmp_path, f"  {option} {public(alice)}")
    assert refusal(path) == f'{path}:1:3: {option}: expiry-time needs a value, as in expiry-time="YYYYMMDD"'


# --- options accepted, enforced, refused ---------------------------------------------------------

def test_restrict_and_the_options_it_implies_are_accepted(tmp_path, alice, bob):
    path = write(tmp_path, f"restrict {public(alice)}",
                 "restrict,pty,no-port-forwarding,no-agent-forwarding,No-X11-Forwarding,no-user-rc,"
                 f'permitopen="localhost:8080",permitlisten="2222" {public(bob)} bob')
    keys = AuthorizedKeys(path)
    assert keys.allows(client(alice), "", "127.0.0.1") == (True, "alice@laptop")
    assert keys.allows(client(bob), "", "127.0.0.1") == (True, "bob")


def test_a_key_without_a_comment_has_none(tmp_path, bob):
    keys = AuthorizedKeys(write(tmp_path, bare(bob)))
    assert keys.allows(client(bob), "", "127.0.0.1") == (True, None)


def test_a_key_not_in_the_file_is_refused(tmp_path, alice, bob):
    keys = AuthorizedKeys(write(tmp_path, public(alice)))
    assert keys.allows(client(bob), "", "127.0.0.1") == (False, None)


@pytest.mark.parametrize("name", ["from", "FROM"])  # option names are not case-sensitive in sshd
def test_from_is_enforced(tmp_path, alice, name):
    keys = AuthorizedKeys(write(tmp_path, f'{name}="10.0.0.0/8,!10.0.0.5" {public(alice)}'))
    assert keys.allows(client(alice), "", "10.1.2.3") == (True, "alice@laptop")
    assert keys.allows(client(alice), "", "10.0.0.5") == (False, None)
    assert keys.allows(client(alice), "", "127.0.0.1") == (False, None)
    combined = keys.current()  # what asyncssh is given enforces it too
    assert combined.validate(client(alice), "", "10.1.2.3") is not None
    assert combined.validate(client(alice), "", "127.0.0.1") is None


@pytest.mark.parametrize(("line", "column", "message"), [
    ('restrict,command="ls" {key}', 10,
     'command="ls": a forced command cannot apply: every viewer gets the lecture\'s screen and nothing else; '
     "remove the option"),
    ("no-pty {key}", 1,
     "no-pty: the lecture is shown on a terminal, so this key would see nothing; remove the option "
     "(viewers get no shell either way)"),
    ('restrict,environment="A=B" {key}', 10,
     'environment="A=B": stepper serve builds each viewer\'s environment itself and would ignore it; '
     "remove the option"),
    ("cert-authority {key}", 1,
     "cert-authority: stepper serve takes the students' own keys, not certificates; "
     "list each student's public key instead"),
    ("restrict,port-forwarding {key}", 10,
     "port-forwarding: stepper serve forwards nothing and runs no ~/.ssh/rc, so it cannot grant this; remove it"),
    ("verify-required {key}", 1,
     "verify-required: security-key options are not honoured by stepper serve; remove the option "
     "(or the key, if it must not be used without a PIN)"),
    ('from="10.0.0.0/8",frobnicate {key}', 19, f"unknown option 'frobnicate'; {SUPPORTED}"),
    ("restrict=yes {key}", 1, "restrict=yes: restrict takes no value; write just restrict"),
    ("restrict, {key}", 10, "an empty option (two commas in a row, or a comma before the key); "
                            'write options as restrict,from="..." with no blanks between them'),
])
def test_an_option_stepper_does_not_honour_is_refused_at_its_column(tmp_path, alice, line, column, message):
    path = write(tmp_path, "# week 3", "", line.format(key=public(alice)))
    assert refusal(path) == f"{path}:3:{column}: {message}"


def test_a_quoted_value_may_hold_blanks_and_commas(tmp_path, alice):
    path = write(tmp_path, f'from="10.0.0.0/8, 192.168.1.0/24",expiry-time="99991231" {public(alice)}')
    keys = AuthorizedKeys(path)
    assert keys.allows(client(alice), "", "10.9.9.9")[0]


def test_a_line_that_is_not_a_key_still_says_so(tmp_path, alice):
    path = write(tmp_path, 'restrict ssh-ed25519 garbage alice')
    assert refusal(path) == (f"{path}:1:1: 'restrict ssh-ed25519 garbage alice' is not a public key line; "
                             "expected 'ssh-ed25519 AAAA... comment' (one key per line, as in ~/.ssh/authorized_keys)")


def test_a_mid_lecture_edit_with_a_refused_option_keeps_the_last_good_keys(tmp_path, alice, bob):
    path = write(tmp_path, public(alice))
    keys = AuthorizedKeys(path)
    write(tmp_path, public(alice), f'command="/bin/sh" {public(bob)}')
    assert keys.allows(client(alice), "", "127.0.0.1") == (True, "alice@laptop")
    assert keys.allows(client(bob), "", "127.0.0.1") == (False, None)
    assert keys.problem.startswith(f'{path}:2:1: command="/bin/sh": a forced command cannot apply')
    write(tmp_path, public(alice), f"restrict {public(bob)}")  # mended: read again
    assert keys.allows(client(bob), "", "127.0.0.1") == (True, None)
    assert keys.problem is None
    assert keys.count == 2


# --- through the real server and the command line ------------------------------------------------

async def test_the_server_refuses_an_expired_key_and_shows_a_restricted_one_the_lecture(start_lecture, tmp_path,
                                                                                       alice, bob):
    path = write(tmp_path, f'expiry-time="20000101" {public(alice)}', f"restrict {public(bob)}")
    lecture = start_lecture(authorized_keys=str(path), presenter=False)
    with pytest.raises(asyncssh.PermissionDenied):
        await Viewer.connect(lecture.port, alice)
    viewer = await Viewer.connect(lecture.port, bob)  # restrict leaves the viewer its terminal
    await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    await viewer.close()


def test_the_command_refuses_an_option_at_start_with_exit_2(stepper, tmp_path, alice):
    path = write(tmp_path, "# week 3", f'restrict,command="ls" {public(alice)}')
    result = stepper("serve", SCENARIO, "--port", "2222", "--headless", "--authorized-keys", str(path),
                     "--host-key", str(tmp_path / "hk"))
    assert result.returncode == 2
    assert result.stderr == (f'stepper serve: {path}:2:10: command="ls": a forced command cannot apply: '
                             "every viewer gets the lecture's screen and nothing else; remove the option\n")
