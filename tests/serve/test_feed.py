"""The position channel's line format: what a viewer accepts from the feed, and what it ignores."""

from __future__ import annotations

from stepper.serve.feed import BYE, parse


def test_feed_parses_positions_samples_modes_and_tally_starts():
    data = b"17\n17 2:3:eval\n17 2:5:eval:3,4:1:train\nbye\n9 2:"
    messages, rest = parse(data)
    assert messages == ["17", "17 2:3:eval", "17 2:5:eval:3,4:1:train", BYE]
    assert rest == b"9 2:"  # an unfinished line waits for the rest of it


def test_feed_ignores_lines_that_are_not_lecture_states():
    bad = [b"", b"x", b"-1", b"17 2:3:test", b"17 2:3", b"17 2:3:eval:", b"17 2:3:eval:1:2", b"1" * 13,
           b"17 2:3:eval;rm", "17 2:3:eval:３".encode()]
    messages, rest = parse(b"\n".join(bad) + b"\n")
    assert messages == [] and rest == b""
