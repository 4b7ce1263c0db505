"""Reading a flow file: whatever is wrong with it is a positioned problem, never a crash,
and never minutes of work (an alias bomb)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.dsl.compiler import compile_file
from engine.errors import FlowError
from engine.flows.registry import FlowSet

HEAD = 'line: "+48 22 307 15 00"\nbusiness: Salon Belle\n'


def refused(path: Path) -> list[tuple[int, int, str, str]]:
    with pytest.raises(FlowError) as caught:
        compile_file(path)
    return [(p.line, p.column, p.code, p.message) for p in caught.value.problems]


def test_an_alias_bomb_is_refused_before_it_is_built(tmp_path: Path) -> None:
    # Seven levels of ten aliases each: 10**7 strings once expanded, in a few hundred bytes.
    levels = ["a: &a [" + ", ".join(["lol"] * 10) + "]"]
    for name, previous in zip("bcdefg", "abcdef"):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    text = HEAD + "\n".join(levels) + "\non: {open: [hangup]}\n"
    assert len(text.encode()) < 500
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    started = time.monotonic()
    problems = refused(path)
    assert time.monotonic() - started < 5
    # `g:` is line 9 (two head lines, then a … g); its value starts at column 4.
    assert [p[:3] for p in problems] == [(9, 4, "yaml-too-large")]


def test_aliases_that_stay_small_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(HEAD + "on:\n  busy: &steps [hangup]\n  missed: *steps\n")
    assert [a.name for a in compile_file(path).triggers["missed"]] == ["hangup"]


def test_a_duplicated_mapping_key_names_only_the_key_and_both_places(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text(HEAD + "on:\n  open: [hangup]\non:\n  busy: [hangup]\n")
    message = (
        "the key 'on' is written twice in one mapping, at line 3, column 1 and at line 5, "
        "column 1: keep one"
    )
    assert refused(path) == [(5, 1, "duplicate-key", message)]


def test_two_files_claiming_one_number_are_pointed_at_their_line_value(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(HEAD + "on: {open: [hangup]}\n")
    listed = 'business: Other\nline:\n  - "+48 22 307 15 01"\n  - "+48223071500"\n'
    (tmp_path / "b.yaml").write_text(listed + "on: {open: [hangup]}\n")
    flows = FlowSet.load(tmp_path)
    places = {
        Path(path).name: [(p.line, p.column, p.code, p.source) for p in problems]
        for path, problems in flows.problems.items()
    }
    assert places == {
        "a.yaml": [(1, 7, "line-taken", 'line: "+48 22 307 15 00"')],
        "b.yaml": [(4, 5, "line-taken", '  - "+48223071500"')],
    }


def test_anything_else_the_parser_raises_is_a_problem_too(tmp_path: Path) -> None:
    # 600 nested lists exhaust Python's recursion in ruamel's composer: a RecursionError.
    path = tmp_path / "deep.yaml"
    path.write_text(HEAD + "x: " + "[" * 600 + "]" * 600 + "\non: {open: [hangup]}\n")
    [(line, column, code, message)] = refused(path)
    assert (line, column, code) == (1, 1, "yaml-unreadable")
    assert message.startswith("the file cannot be read as YAML: maximum recursion depth")
