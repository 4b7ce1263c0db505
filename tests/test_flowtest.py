"""`ringback test`: flow test files run as the spec shows, failures shown side by side,
mistakes in a test file pointed at by line and column."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from engine.cli import main
from engine.flowtest import Mismatch, check
from engine.simulator import Call

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "flows" / "tests"
SALON_TESTS = EXAMPLES / "salon-belle.test.yaml"


def ringback_test(*paths: Path) -> int:
    return main(["--flows", str(REPO / "flows"), "--greetings", str(REPO / "greetings"),
                 "test", *map(str, paths)])


def line_of(text: str, fragment: str) -> tuple[int, int]:
    """Line and column (from 1) of the first occurrence of `fragment` in `text`."""
    for number, line in enumerate(text.splitlines(), 1):
        if fragment in line:
            return number, line.index(fragment) + 1
    raise AssertionError(f"{fragment!r} not in the text")


def test_the_example_flow_tests_pass(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(EXAMPLES.glob("*.test.yaml"))
    cases = sum(len(YAML(typ="safe").load(f.read_text())["cases"]) for f in files)

    code = ringback_test()

    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"{cases} passed, 0 failed"
    assert code == 0


@pytest.mark.parametrize(
    "flow", sorted(p.stem for p in (REPO / "flows").glob("*.yaml")), ids=str
)
def test_every_example_flow_has_a_test_file_reaching_each_trigger(flow: str) -> None:
    yaml = YAML(typ="safe")
    handled = set(yaml.load((REPO / "flows" / f"{flow}.yaml").read_text())["on"])
    tests = [yaml.load(f.read_text()) for f in EXAMPLES.glob("*.test.yaml")]
    cases = [case for test in tests if test["flow"] == flow for case in test["cases"]]
    reached = {case.get("expect", {}).get("trigger") for case in cases}
    assert handled <= reached, f"no case of {flow} ends in {sorted(handled - reached)}"


def test_a_case_expecting_the_wrong_trigger_fails_with_both_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = SALON_TESTS.read_text()
    edited = text.replace("      trigger: busy\n", "      trigger: missed\n", 1)
    assert edited != text
    path = tmp_path / "salon-belle.test.yaml"
    path.write_text(edited)
    cases = len(YAML(typ="safe").load(text)["cases"])

    code = ringback_test(path)

    out = capsys.readouterr().out.splitlines()
    line, _ = line_of(edited, "- name: a busy line on a Tuesday morning")
    failed = f"FAIL  a busy line on a Tuesday morning texts the booking link  ({path}:{line})"
    assert failed in out
    table = out[out.index(failed) + 1 : out.index(failed) + 3]
    assert table == ["      what     expected  actual", "      trigger  missed    busy"]
    assert out[-1] == f"{cases - 1} passed, 1 failed"
    assert code == 1


TWO_CASES = """\
flow: salon-belle
cases:
  - name: first busy call
    at: 2026-05-05T10:00
    from: "+48 601 234 567"
    outcome: busy
    expect:
      sms:
        - {status: sent}
  - name: the same caller again, on a fresh store
    at: 2026-05-05T10:05
    from: "+48 601 234 567"
    outcome: busy
    expect:
      sms:
        - {status: sent}
"""


def test_cases_run_on_fresh_stores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # On one store the second text would be skipped: the salon's cooldown is 12 h.
    path = tmp_path / "again.test.yaml"
    path.write_text(TWO_CASES)

    assert ringback_test(path) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 passed, 0 failed"


@pytest.mark.parametrize(
    "flow",
    [
        pytest.param('"+48223071500"', id="line number in E.164"),
        pytest.param('"+48 22 307 15 00"', id="line number as written in the flow"),
        pytest.param('"22 307 15 00"', id="line number in the flow's region"),
    ],
)
def test_flow_may_be_named_by_its_line_number_as_simulate_takes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flow: str
) -> None:
    path = tmp_path / "by-number.test.yaml"
    path.write_text(TWO_CASES.replace("flow: salon-belle", f"flow: {flow}", 1))

    assert ringback_test(path) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 passed, 0 failed"


@pytest.mark.parametrize("key", ["hangup-after", "hangup_after"])
def test_a_case_takes_hangup_after_as_simulate_spells_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    # Hanging up 1 s in, during the greeting, under `open`: the call counts as missed.
    text = TWO_CASES.replace("    outcome: busy\n", f"    {key}: 1\n", 1)
    text = text.replace("    expect:\n", "    expect:\n      ended_by: caller\n", 1)
    path = tmp_path / "early.test.yaml"
    path.write_text(text)

    code = ringback_test(path)

    out = capsys.readouterr().out
    assert "unknown key" not in out
    assert out.splitlines()[-1] == "2 passed, 0 failed"
    assert code == 0


def test_a_mistake_in_a_test_file_is_shown_at_its_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = TWO_CASES.replace("    outcome: busy\n", "    outcom: busy\n", 1)
    path = tmp_path / "typo.test.yaml"
    path.write_text(text)
    line, column = line_of(text, "outcom:")

    code = ringback_test(path)

    out = capsys.readouterr().out.splitlines()
    assert (f"{path}:{line}:{column}: error: unknown key 'outcom' in a case: "
            "did you mean 'outcome'? [unknown-key]") in out
    assert out[-1] == "1 passed, 1 failed"
    assert code == 1


@pytest.mark.parametrize(
    ("fragment", "replacement", "message"),
    [
        pytest.param("flow: salon-belle", "flow: no-such-salon",
                     "error: flow 'no-such-salon' not found", id="unknown flow"),
        pytest.param("outcome: busy", "outcome: engaged",
                     "error: outcome must be one of answer, busy, no-answer, failed, voicemail, "
                     "got 'engaged' [bad-outcome]", id="bad outcome"),
        pytest.param("at: 2026-05-05T10:00", "at: next tuesday",
                     "error: at must be a local date and time such as 2026-05-05T10:00",
                     id="bad time"),
        pytest.param('from: "+48 601 234 567"', "from: +48601234567",
                     "error: from must be a text (quote numbers", id="unquoted number"),
    ],
)
def test_each_kind_of_mistake_is_pointed_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fragment: str, replacement: str,
    message: str,
) -> None:
    text = TWO_CASES.replace(fragment, replacement, 1)
    path = tmp_path / "broken.test.yaml"
    path.write_text(text)
    line, column = line_of(text, replacement.split(":")[0] + ":")
    column += len(replacement.split(":")[0]) + 2  # the value, after "key: "

    code = ringback_test(path)

    out = capsys.readouterr().out
    assert f"{path}:{line}:{column}: {message}" in out
    assert code == 1


# --- what `expect` checks ---------------------------------------------------------------


CALL = Call(
    flow="salon-belle", call_sid="CA" + "0" * 32, started=datetime(2026, 5, 5, 8, 0),
    trigger="busy", ended_by="engine",
    heard=[{"play": "belle-welcome.wav"}, {"say": "We are with a client right now."}],
    dialed=[{"to": "+48601234567", "status": "busy", "screened": False}],
    sms=[{"to": "+48601234567", "from": "SalonBelle", "body": "Book: https://belle.example/book",
          "encoding": "GSM-7", "segments": 1, "status": "sent"},
         {"to": "+48221234567", "status": "skipped", "reason": "landline"}],
)


@pytest.mark.parametrize(
    "expect",
    [
        pytest.param({"trigger": "busy", "ended_by": "engine"}, id="trigger and ended_by"),
        pytest.param({"heard": [{"play": "belle-welcome.wav"},
                                {"say": "We are with a client right now."}]}, id="heard"),
        pytest.param({"heard_contains": ["with a client", "welcome"]}, id="heard_contains"),
        pytest.param({"dialed": [{"to": "601 234 567", "status": "busy"}]},
                     id="dialed, numbers as written in the flow's region"),
        pytest.param({"sms": [{"to": "+48 601 234 567", "from": "SalonBelle", "status": "sent",
                               "body_contains": "belle.example", "encoding": "GSM-7",
                               "segments": 1},
                              {"status": "skipped", "reason": "landline"}]}, id="sms"),
    ],
)
def test_what_the_call_showed_passes(expect: dict[str, object]) -> None:
    assert check(expect, CALL, "PL") == []


@pytest.mark.parametrize(
    ("expect", "mismatch"),
    [
        pytest.param({"trigger": "missed"}, Mismatch("trigger", "missed", "busy"), id="trigger"),
        pytest.param({"ended_by": "caller"}, Mismatch("ended_by", "caller", "engine"),
                     id="ended_by"),
        pytest.param({"heard": [{"play": "belle-welcome.wav"}]},
                     Mismatch("heard", [{"play": "belle-welcome.wav"}], CALL.heard),
                     id="heard is the exact list"),
        pytest.param({"heard_contains": "apology"},
                     Mismatch("heard_contains", "apology",
                              ["belle-welcome.wav", "We are with a client right now."]),
                     id="heard_contains"),
        pytest.param({"dialed": [{"status": "no-answer"}]},
                     Mismatch("dialed[1].status", "no-answer", "busy"), id="dialed"),
        pytest.param({"sms": [{"segments": 2}, {}]}, Mismatch("sms[1].segments", 2, 1),
                     id="segments"),
        pytest.param({"sms": [{"body_contains": "tomorrow"}, {}]},
                     Mismatch("sms[1].body_contains", "tomorrow",
                              "Book: https://belle.example/book"), id="body_contains"),
        pytest.param({"sms": [{}, {"reason": "cooldown"}]},
                     Mismatch("sms[2].reason", "cooldown", "landline"), id="reason"),
        pytest.param({"sms": [{}]}, Mismatch("sms (count)", 1, 2), id="how many texts"),
    ],
)
def test_what_the_call_did_not_show_is_a_mismatch(
    expect: dict[str, object], mismatch: Mismatch
) -> None:
    assert check(expect, CALL, "PL") == [mismatch]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        pytest.param(b"", "not-a-mapping", id="an empty file"),
        pytest.param(b"- flow: salon-belle\n", "not-a-mapping", id="a list"),
        pytest.param(b"flow: caf\xe9\n", "unreadable", id="not UTF-8"),
    ],
)
def test_a_test_file_that_cannot_be_read_is_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, code: str
) -> None:
    path = tmp_path / "broken.test.yaml"
    path.write_bytes(content)

    exit_code = ringback_test(path)

    out = capsys.readouterr().out.splitlines()
    assert f"[{code}]" in out[0]
    assert out[-1] == "0 passed, 1 failed"
    assert exit_code == 1
