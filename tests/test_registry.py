"""`FlowSet.find`: FLOW as the commands take it, a flow id, a file path or a line number."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.flows.registry import FlowSet

REPO = Path(__file__).resolve().parent.parent
FLOWS = FlowSet.load(REPO / "flows")


@pytest.mark.parametrize(
    ("name", "flow"),
    [
        pytest.param("salon-belle", "salon-belle", id="flow id"),
        pytest.param("flows/salon-belle.yaml", "salon-belle", id="file path"),
        pytest.param("+48223071500", "salon-belle", id="line number in E.164"),
        pytest.param("22 307 15 00", "salon-belle", id="PL line in national form"),
        pytest.param("0113 496 0000", "hillside-garage", id="GB line in national form"),
        pytest.param("030 12345678", "tannenhof-trees", id="DE line in national form"),
    ],
)
def test_find_takes_an_id_a_path_or_a_line_number(name: str, flow: str) -> None:
    found = FLOWS.find(name)
    assert found is not None and found.id == flow


def test_a_number_no_flow_answers_finds_nothing() -> None:
    assert FLOWS.find("22 000 00 00") is None
