"""Who may watch: keys in an authorized_keys file (re-read when it changes), or anyone with --open."""

from __future__ import annotations

import stat

import asyncssh
import pytest

from stepper.serve.keys import ServeError, load_host_key, parse_authorized_keys
from tests.serve.conftest import FIRST_SCREEN, TOTAL, Viewer


async def test_access_a_strangers_key_is_refused(start_lecture, keys):
    lecture = start_lecture()
    with pytest.raises(asyncssh.PermissionDenied):
        await Viewer.connect(lecture.port, keys.stranger)
    assert lecture.viewers == set()


async def test_access_passwords_are_refused(start_lecture, keys):
    lecture = start_lecture()
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect("127.0.0.1", lecture.port, known_hosts=None, username="student",
                               client_keys=None, agent_path=None, password="letmein")


async def test_access_an_invited_key_is_let_in(start_lecture, keys):
    lecture = start_lecture()
    viewer = await Viewer.connect(lecture.port, keys.viewer)
    await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    await viewer.close()


async def test_access_open_lets_anyone_in_without_a_key(start_lecture, keys):
    lecture = start_lecture(authorized_keys=None, open=True, presenter=False)
    viewer = await Viewer.connect(lecture.port, None, username="anyone")
    await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    await viewer.close()


async def test_access_keys_added_mid_lecture_are_honoured(start_lecture, keys):
    lecture = start_lecture(presenter=False)
    with pytest.raises(asyncssh.PermissionDenied):
        await Viewer.connect(lecture.port, keys.stranger)
    with keys.authorized.open("ab") as f:  # the latecomer mails their key; the lecturer appends it
        f.write(b"\n" + keys.stranger.export_public_key())
    viewer = await Viewer.connect(lecture.port, keys.stranger)
    await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    await viewer.close()


async def test_access_a_broken_edit_keeps_the_last_good_keys(start_lecture, keys):
    lecture = start_lecture(presenter=False)
    keys.authorized.write_text(keys.authorized.read_text() + "not a key at all\n")
    viewer = await Viewer.connect(lecture.port, keys.viewer)
    await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    await viewer.close()
    assert lecture.keys.problem.endswith("is not a public key line; expected 'ssh-ed25519 AAAA... comment' "
                                         "(one key per line, as in ~/.ssh/authorized_keys)")


def test_host_key_is_created_private_and_kept(tmp_path):
    path = tmp_path / "keys" / "host"
    first, created = load_host_key(path)
    assert created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created = load_host_key(path)
    assert not created
    assert again.get_fingerprint() == first.get_fingerprint()  # students' known_hosts stay valid


def test_host_key_that_is_not_a_key_is_refused_with_its_path(tmp_path):
    path = tmp_path / "host"
    path.write_text("hello\n")
    with pytest.raises(ServeError, match=rf"^{path}:1:1: not a usable SSH private key"):
        load_host_key(path)


def test_authorized_keys_bad_line_names_file_line_and_column(tmp_path, keys):
    path = tmp_path / "class_keys"
    path.write_bytes(b"# week 3\n" + keys.viewer.export_public_key() + b"\n  ssh-ed25519 garbage alice\n")
    with pytest.raises(ServeError) as e:
        parse_authorized_keys(path)
    assert str(e.value) == (f"{path}:4:3: 'ssh-ed25519 garbage alice' is not a public key line; expected "
                            "'ssh-ed25519 AAAA... comment' (one key per line, as in ~/.ssh/authorized_keys)")


def test_authorized_keys_missing_file(tmp_path):
    with pytest.raises(ServeError, match="no such file; --authorized-keys wants an OpenSSH authorized_keys file"):
        parse_authorized_keys(tmp_path / "nope")


def test_authorized_keys_counts_keys_and_skips_comments(tmp_path, keys):
    path = tmp_path / "k"
    path.write_bytes(b"# a\n\n" + keys.viewer.export_public_key() + keys.stranger.export_public_key())
    assert parse_authorized_keys(path)[1] == 2
    path.write_text("# nobody yet\n")
    assert parse_authorized_keys(path) == (None, 0)
