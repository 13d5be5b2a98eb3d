"""`stepper export`: one SVG (and text) file per chosen step, named in step order, byte-identical on
every run; bad flags refused with one line and nothing written; the committed screenshots still match."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stepper.export import ExportError, fix_wide_text, parse_size, parse_steps, plan
from stepper.scenario import ScenarioError, load
from stepper.tui import create_app

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
CONV = str(SCENARIOS / "conv_edges.yaml")  # 36 steps, one layer
PIPELINE = str(SCENARIOS / "pipeline.yaml")  # 64 steps over three layers, CJK labels


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# --- the steps and the size ---------------------------------------------------------------------


@pytest.mark.parametrize("text, steps", [
    ("0", [0]),
    ("0,3,10-12", [0, 3, 10, 11, 12]),
    ("-1", [35]),
    ("-3--1", [33, 34, 35]),
    ("12, 3 ,3,0-1", [0, 1, 3, 12]),
    ("all", list(range(36))),
])
def test_parse_steps_indices_ranges_and_the_end(text, steps):
    assert parse_steps(text, 36) == steps


@pytest.mark.parametrize("text, message", [
    ("x", "--steps 'x': 'x' is not a step; use indices and ranges like 0,3,10-12, -1 for the last step, or all"),
    ("1,,2", "--steps '1,,2': an item is empty; use indices and ranges like 0,3,10-12, -1 for the last step, or all"),
    ("3-", "--steps '3-': '3-' is not a step; use indices and ranges like 0,3,10-12, -1 for the last step, or all"),
    ("36", "--steps '36': step 36 is out of range; this scenario has 36 steps, 0 to 35 (or -36 to -1 from the end)"),
    ("-37", "--steps '-37': step -37 is out of range; this scenario has 36 steps, 0 to 35 (or -36 to -1 from the end)"),
    ("12-10", "--steps '12-10': the range 12-10 runs backwards; write the lower step first, e.g. 10-12"),
])
def test_parse_steps_refuses_with_what_would_be_right(text, message):
    with pytest.raises(ExportError) as e:
        parse_steps(text, 36)
    assert str(e.value) == message


def test_parse_steps_refuses_more_than_ten_thousand_screens():
    assert len(parse_steps("0-9999,5", 50_000)) == 10_000
    with pytest.raises(ExportError) as e:
        parse_steps("all", 50_000)
    assert str(e.value) == "--steps 'all' chooses 50,000 steps; export at most 10,000 at a time, e.g. 0-9999"


def test_parse_size_reads_cols_by_rows():
    assert parse_size("100x30") == (100, 30)
    assert parse_size("80X24") == (80, 24)
    with pytest.raises(ExportError, match=r"^--size '100' is not COLSxROWS: write it like 100x30$"):
        parse_size("100")
    with pytest.raises(ExportError, match=r"^--size '100x3' is out of bounds: columns go from 20 to 500, rows "
                                          r"from 6 to 200, e.g. 100x30$"):
        parse_size("100x3")


def test_plan_names_say_layer_and_step_and_sort_in_step_order():
    scenario = load(PIPELINE)
    shots = plan(scenario, [0, 9, 15, 16, 31, 32, 63])  # layers start at steps 0, 16 and 32
    names = [s.name for s in shots]
    assert names == ["pipeline-L1-S000001", "pipeline-L1-S000010", "pipeline-L1-S000016", "pipeline-L2-S000017",
                     "pipeline-L2-S000032", "pipeline-L3-S000033", "pipeline-L3-S000064"]
    assert sorted(names) == names
    assert [s.layer for s in shots] == [scenario.pipeline.locate(s.step).layer for s in shots]


def test_plan_pads_layer_numbers_when_there_are_ten_layers(write_scenario):
    layers = "".join("  - type: dropout\n    p: 0.5\n" for _ in range(10))
    scenario = load(write_scenario(f"title: ten\ninput: {{array: [1, 2]}}\nlayers:\n{layers}", "ten.yaml"))
    names = [s.name for s in plan(scenario, list(range(len(scenario.pipeline))))]
    assert names[:3] == ["ten-L01-S000001", "ten-L01-S000002", "ten-L02-S000003"]
    assert names[-1] == "ten-L10-S000020"
    assert sorted(names) == names


def test_fix_wide_text_gives_each_cjk_character_two_cells():
    run = '<text class="r1" x="0" y="20" textLength="61" clip-path="url(#l0)">h_1&#160;你</text>'
    assert fix_wide_text(run) == run.replace('textLength="61"', 'textLength="73.2"')  # 5 characters, 6 cells
    ascii_run = '<text class="r1" x="0" y="20" textLength="36.6" clip-path="url(#l0)">a&lt;b</text>'
    assert fix_wide_text(ascii_run) == ascii_run


# --- the command --------------------------------------------------------------------------------


def test_export_writes_one_svg_per_chosen_step(stepper, tmp_path):
    out = tmp_path / "out"
    result = stepper("export", CONV, "--out", str(out), "--steps", "0,3,10-12,-1")
    assert (result.returncode, result.stderr) == (0, "")
    assert sorted(files(out)) == [f"conv_edges-L1-S{k:06d}.svg" for k in (1, 4, 11, 12, 13, 36)]
    svg = (out / "conv_edges-L1-S000004.svg").read_text(encoding="utf-8")
    assert svg.startswith('<svg xml:space="preserve" class="rich-terminal"')
    assert "step&#160;4/36" in svg  # the header of the screen it shows
    assert result.stdout == (f"wrote 6 files to {out}: conv_edges-L1-S000001.svg .. conv_edges-L1-S000036.svg\n")


def test_export_twice_writes_byte_identical_files(stepper, tmp_path):
    for name in ("a", "b"):
        result = stepper("export", PIPELINE, "--out", str(tmp_path / name), "--steps", "0,20,-1", "--format", "both")
        assert result.returncode == 0, result.stderr
    first = files(tmp_path / "a")
    assert len(first) == 6
    assert first == files(tmp_path / "b")


def test_export_txt_is_the_plain_screen(stepper, tmp_path):
    result = stepper("export", str(SCENARIOS / "rnn_chinese.yaml"), "--out", str(tmp_path), "--format", "txt",
                     "--size", "80x24")
    assert result.returncode == 0, result.stderr
    assert sorted(files(tmp_path)) == ["rnn_chinese-L1-S000001.txt"]
    lines = (tmp_path / "rnn_chinese-L1-S000001.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 24
    assert lines[0].startswith(" RNN over 你个扑该!") and lines[0].endswith("layer 1/1 rnn · step 1/20 · xU")
    assert lines[4].startswith(" tokens     你 个 扑 该 !   units")  # two cells per character, lined up
    assert not any("\x1b" in line or line != line.rstrip() for line in lines)


def test_export_both_writes_svg_and_txt_per_step(stepper, tmp_path):
    result = stepper("export", CONV, "--out", str(tmp_path), "--steps", "0-1", "--format", "both")
    assert result.returncode == 0, result.stderr
    assert sorted(files(tmp_path)) == ["conv_edges-L1-S000001.svg", "conv_edges-L1-S000001.txt",
                                       "conv_edges-L1-S000002.svg", "conv_edges-L1-S000002.txt"]


def test_export_size_and_theme_change_the_picture(stepper, tmp_path):
    for name, extra in (("plain", ()), ("wide", ("--size", "120x40")), ("nord", ("--theme", "nord"))):
        result = stepper("export", CONV, "--out", str(tmp_path / name), "--format", "both", *extra)
        assert result.returncode == 0, result.stderr
    text = {n: (tmp_path / n / "conv_edges-L1-S000001.txt").read_text(encoding="utf-8") for n in ("plain", "wide")}
    assert [len(text["plain"].splitlines()), len(text["wide"].splitlines())] == [30, 40]
    svg = {n: (tmp_path / n / "conv_edges-L1-S000001.svg").read_bytes() for n in ("plain", "nord")}
    assert svg["plain"] != svg["nord"]
    assert (tmp_path / "nord" / "conv_edges-L1-S000001.txt").read_text(encoding="utf-8") == text["plain"]


def test_export_a_step_alone_draws_what_a_run_of_steps_draws(tmp_path):
    """The screen is a function of the position: step 20 exported alone or after 0..19 is the same file."""
    from stepper.export import export

    scenario = load(CONV)
    run = export(scenario, tmp_path / "run", list(range(21)), (100, 30), kinds=("svg", "txt"))
    alone = export(scenario, tmp_path / "alone", [20], (100, 30), kinds=("svg", "txt"))
    assert [p.name for p in alone] == ["conv_edges-L1-S000021.svg", "conv_edges-L1-S000021.txt"]
    assert len(run) == 42
    for path in alone:
        assert path.read_bytes() == (tmp_path / "run" / path.name).read_bytes()


def test_export_shows_that_a_changed_number_changes_the_picture(tmp_path):
    """A copy of a scenario exports byte for byte as the original; change one number and it does not."""
    from stepper.export import export

    copy = tmp_path / "conv_edges.yaml"
    shutil.copy(CONV, copy)
    folders = {name: tmp_path / name for name in ("original", "copy", "changed")}
    [original] = export(load(CONV), folders["original"], [0], (80, 24))
    [same] = export(load(str(copy)), folders["copy"], [0], (80, 24))
    assert same.read_bytes() == original.read_bytes()

    text = copy.read_text(encoding="utf-8")
    copy.write_text(text.replace("- [0, 0, 9, 9, 9, 9, 0, 0]", "- [0, 0, 7, 9, 9, 9, 0, 0]", 1), encoding="utf-8")
    [changed] = export(load(str(copy)), folders["changed"], [0], (80, 24))
    assert changed.read_bytes() != original.read_bytes()
    assert "+7" in changed.read_text(encoding="utf-8") and "+7" not in original.read_text(encoding="utf-8")


THEMES = ", ".join(sorted(create_app(load(CONV)).available_themes))


@pytest.mark.parametrize("flags, message", [
    (("--steps", "5-2"),
     "stepper export: --steps '5-2': the range 5-2 runs backwards; write the lower step first, e.g. 2-5"),
    (("--steps", "99"),
     ("stepper export: --steps '99': step 99 is out of range; this scenario has 36 steps, 0 to 35 (or -36 to -1 "
      "from the end)")),
    (("--steps", "first"),
     ("stepper export: --steps 'first': 'first' is not a step; use indices and ranges like 0,3,10-12, -1 for the "
      "last step, or all")),
    (("--size", "100by30"), "stepper export: --size '100by30' is not COLSxROWS: write it like 100x30"),
    (("--size", "0x30"),
     "stepper export: --size '0x30' is out of bounds: columns go from 20 to 500, rows from 6 to 200, e.g. 100x30"),
    (("--theme", "neon"), f"stepper export: --theme 'neon' is not a theme; choose one of {THEMES}"),
    (("--format", "png"),
     ("stepper export: argument --format: invalid choice: 'png' (choose from 'svg', 'txt', 'both') (see `stepper "
      "export --help`)")),
])
def test_export_bad_flag_exits_2_with_one_line_and_writes_nothing(stepper, tmp_path, flags, message):
    out = tmp_path / "out"
    result = stepper("export", CONV, "--out", str(out), *flags)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message + "\n")
    assert not out.exists()


def test_export_bad_file_exits_2_with_the_scenario_error(stepper, write_scenario, tmp_path):
    path = write_scenario("""
        title: broken
        input: {array: [1, 2, 3]}
        layers:
          - type: dropout
            p: 1.5
        """)
    with pytest.raises(ScenarioError) as e:
        load(path)
    out = tmp_path / "out"
    for bad in (path, str(tmp_path / "missing.yaml")):
        result = stepper("export", bad, "--out", str(out))
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert not out.exists()
    assert stepper("export", path, "--out", str(out)).stderr == f"{e.value}\n"
    assert str(e.value).startswith(f"{path}:5:")


def test_export_out_that_is_a_file_is_refused(stepper, tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a folder", encoding="utf-8")
    result = stepper("export", CONV, "--out", str(target))
    assert (result.returncode, result.stderr) == (
        2, f"stepper export: --out '{target}' is a file; name a folder (it is created if missing)\n")
    assert target.read_text(encoding="utf-8") == "not a folder"


# --- progress: a bar on a terminal, nothing on a pipe -------------------------------------------


def test_export_on_a_pipe_prints_no_progress(stepper, tmp_path):
    result = stepper("export", CONV, "--out", str(tmp_path), "--steps", "0-5")
    assert (result.returncode, result.stderr) == (0, "")


def test_export_on_a_terminal_shows_a_progress_bar(tmp_path):
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.Popen([sys.executable, "-m", "stepper", "export", CONV, "--out", str(tmp_path),
                             "--steps", "0-5"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    shown = seen.decode("utf-8", "replace")
    assert "exporting conv_edges.yaml" in shown and "━" in shown and "/6" in shown
    assert b"\x1b" not in stdout  # the summary line stays plain


# --- the README's screenshots ------------------------------------------------------------------


def test_committed_screenshots_match_what_export_writes(tmp_path):
    """`sh screenshots/make.sh` into a fresh folder writes exactly the committed SVGs, byte for byte."""
    env = {**os.environ, "STEPPER": f"{sys.executable} -m stepper"}
    subprocess.run(["sh", str(ROOT / "screenshots" / "make.sh"), str(tmp_path)], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=300)
    committed = {p.name: p.read_bytes() for p in sorted((ROOT / "screenshots").glob("*.svg"))}
    kinds = {load(str(SCENARIOS / f"{name.split('-L')[0]}.yaml")).layers[0].type for name in committed}
    assert {"rnn", "conv2d", "batchnorm", "dropout"} <= kinds  # at least one per family
    made = files(tmp_path)
    assert sorted(made) == sorted(committed), "screenshots/ is out of date: run `sh screenshots/make.sh`"
    stale = [name for name in committed if made[name] != committed[name]]
    assert not stale, f"screenshots/ is out of date ({', '.join(stale)}): run `sh screenshots/make.sh`"
