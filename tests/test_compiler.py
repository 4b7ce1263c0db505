"""A flow file that breaks the language is refused with the file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.dsl.compiler import compile_file
from engine.errors import FlowError

FLOW = """\
line: "+48 22 307 15 00"
business: Salon Belle
region: PL
on:
  open:
    - dial:
        to: "601 234 567"
        timeout: {timeout}
{extra}"""


def refused(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "salon.yaml"
    path.write_text(text)
    with pytest.raises(FlowError) as caught:
        compile_file(path)
    return [str(problem) for problem in caught.value.problems]


def test_a_dial_timeout_of_2_is_refused_at_its_value(tmp_path: Path) -> None:
    problems = refused(tmp_path, FLOW.format(timeout=2, extra=""))
    # line 8 is `        timeout: 2`: the value 2 stands in column 18.
    assert problems == [
        f"{tmp_path}/salon.yaml:8:18: dial.timeout must be between 5 and 600 seconds, got 2"
    ]


def test_a_misspelled_key_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    text = FLOW.format(timeout=20, extra="        timout: 30\n")
    assert refused(tmp_path, text) == [
        f"{tmp_path}/salon.yaml:9:9: unknown key 'timout' in dial: did you mean 'timeout'?"
    ]


def test_every_problem_is_listed_in_line_order(tmp_path: Path) -> None:
    text = FLOW.format(timeout=2, extra="").replace("business:", "busines:")
    problems = [p.rsplit("/", 1)[1] for p in refused(tmp_path, text)]
    assert problems == [
        "salon.yaml:1:1: business is required",
        "salon.yaml:2:1: unknown key 'busines': did you mean 'business'?",
        "salon.yaml:8:18: dial.timeout must be between 5 and 600 seconds, got 2",
    ]


def test_a_valid_flow_reads_its_numbers_as_e164(tmp_path: Path) -> None:
    path = tmp_path / "salon.yaml"
    path.write_text(FLOW.format(timeout='"20"', extra=""))
    flow = compile_file(path)
    assert flow.lines == ("+48223071500",)
    [dial] = flow.triggers["open"]
    assert (dial.step.dial.to, dial.step.dial.timeout) == (["+48601234567"], 20)
