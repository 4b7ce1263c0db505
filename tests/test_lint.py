"""`ringback check`: the linter's rules, its report and its JSON, on small flows.

Expected segment counts are worked out from GSM 03.38 and Twilio's segment rules (160/153
septets, 70/67 UCS-2 units, an extension character never split); expected codes and
severities from the linter's documented list of rules.
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import pytest

from engine.check import check, render
from engine.cli import main
from engine.lint import RULES

REPO = Path(__file__).resolve().parent.parent
TODAY = date(2026, 5, 4)

HEAD = """\
line: "+48 22 307 15 00"
business: Salon Belle
region: PL
timezone: Europe/Warsaw
"""

GOOD_COPY = "Salon Belle: book a time that suits you: https://belle.example/book"


def flow(tmp_path: Path, body: str, head: str = HEAD, name: str = "salon") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(head + body)
    return path


def with_copy(tmp_path: Path, copy: str, sms: str = "") -> Path:
    body = f"sms:\n{sms}  copy:\n    missed: {json.dumps(copy, ensure_ascii=False)}\n"
    body += 'on:\n  open:\n    - dial: "601 234 567"\n  busy: [hangup]\n'
    body += "  missed:\n    - sms: missed\n"
    return flow(tmp_path, body)


def codes(path: Path) -> list[str]:
    [report] = check([path], TODAY)
    return [problem.code for problem in report.problems]


def copy_measure(path: Path) -> tuple[str, int, int]:
    [report] = check([path], TODAY)
    [copy] = report.copy
    return copy.encoding, copy.characters, copy.segments


PLAIN_144 = "Salon Belle: we're sorry we missed your call. We'll be glad to see you: "
PLAIN_144 += "https://belle.example/book "
PLAIN_144 += "x" * (144 - len(PLAIN_144))


@pytest.mark.parametrize(
    ("copy", "expected"),
    [
        pytest.param(PLAIN_144, ("GSM-7", 144, 1), id="144 ASCII characters"),
        pytest.param(
            PLAIN_144.replace("'", "’"), ("UCS-2", 144, 3), id="the same with two curly apostrophes"
        ),
        pytest.param("]" * 80, ("GSM-7", 160, 1), id="80 closing brackets"),
        pytest.param("]" * 81, ("GSM-7", 162, 2), id="81 closing brackets"),
        pytest.param("]" * 153, ("GSM-7", 306, 3), id="153 closing brackets"),
        pytest.param("a" * 160, ("GSM-7", 160, 1), id="160 a"),
        pytest.param("a" * 161, ("GSM-7", 161, 2), id="161 a"),
        pytest.param("|" * 70, ("GSM-7", 140, 1), id="70 pipes"),
    ],
)
def test_copy_is_measured_as_the_phone_receives_it(
    tmp_path: Path, copy: str, expected: tuple[str, int, int]
) -> None:
    assert copy_measure(with_copy(tmp_path, copy)) == expected


def test_copy_is_measured_with_variables_at_their_longest(tmp_path: Path) -> None:
    # "Salon Belle: we open " (21) + "on Wednesday at 09:00" (21) + ". " (2) + link (26)
    copy = "{{ business }}: we open {{ opens_at }}. https://belle.example/book"
    assert copy_measure(with_copy(tmp_path, copy)) == ("GSM-7", 70, 1)
    caller = "Salon Belle https://belle.example/f?p={{ caller }}"
    assert copy_measure(with_copy(tmp_path, caller)) == ("GSM-7", 38 + 16, 1)


def test_a_curly_quote_names_itself_and_its_gsm_replacement(tmp_path: Path) -> None:
    path = with_copy(tmp_path, "Salon Belle: we’re sorry! Book: https://belle.example/book")
    [report] = check([path], TODAY)
    [problem] = report.problems
    assert (problem.code, problem.severity) == ("copy-ucs2", "warning")
    assert "'’' (RIGHT SINGLE QUOTATION MARK): write ''' instead" in problem.message
    # The caret stands under the quote on the author's line.
    assert problem.source[problem.column - 1] == "’"


def test_an_emoji_has_no_replacement(tmp_path: Path) -> None:
    path = with_copy(tmp_path, "Salon Belle 🙂 book: https://belle.example/book")
    [report] = check([path], TODAY)
    assert "no GSM-7 equivalent: remove it" in report.problems[0].message


@pytest.mark.parametrize(
    ("copy", "code"),
    [
        pytest.param("Sorry we missed you: https://belle.example/book", "copy-no-business",
                     id="no business name"),
        pytest.param("Salon Belle: sorry we missed you, call again!", "copy-no-link",
                     id="no link"),
        pytest.param("Salon Belle: sorry we missed you. https://belle.example/", "copy-home-page",
                     id="a bare home page"),
        pytest.param("Salon Belle: we'll call you back in 15 min. https://belle.example/book",
                     "copy-deadline", id="a deadline"),
        pytest.param("Salon Belle: cut & style from 120 PLN. https://belle.example/book",
                     "copy-price", id="a price in zloty"),
        pytest.param("Salon Belle: haircuts for $25 https://belle.example/book", "copy-price",
                     id="a price in dollars"),
    ],
)
def test_copy_rules(tmp_path: Path, copy: str, code: str) -> None:
    assert codes(with_copy(tmp_path, copy)) == [code]
    assert RULES[code][0] == "warning"


def test_a_long_copy_warns_about_its_segments(tmp_path: Path) -> None:
    assert codes(with_copy(tmp_path, GOOD_COPY + " " + "x" * 100)) == ["copy-segments"]


def test_copy_inviting_a_reply_from_an_alphanumeric_sender(tmp_path: Path) -> None:
    copy = "Salon Belle: reply YES to book: https://belle.example/book"
    assert codes(with_copy(tmp_path, copy, sms="  sender: SalonBelle\n")) == ["copy-invites-reply"]
    assert codes(with_copy(tmp_path, copy, sms="  sender: \"+48 601 234 567\"\n")) == []


def test_an_alphanumeric_sender_on_a_us_line_is_an_error(tmp_path: Path) -> None:
    head = HEAD.replace('"+48 22 307 15 00"', '"+1 415 555 0100"').replace("PL", "US")
    head = head.replace("Europe/Warsaw", "America/Los_Angeles")
    body = f"sms:\n  sender: SalonBelle\n  copy:\n    missed: \"{GOOD_COPY}\"\n"
    body += 'on:\n  open: [dial: "+48 601 234 567"]\n  missed: [sms: missed]\n'
    path = flow(tmp_path, body, head)
    [report] = check([path], TODAY)
    [error] = report.errors
    assert (error.code, error.line) == ("sender-refused", 6)
    assert main(["check", str(path)]) == 1


def test_a_long_dial_without_screen_warns(tmp_path: Path) -> None:
    body = "on:\n  open:\n    - dial: {to: \"601 234 567\", timeout: 25}\n"
    body += "  busy: [hangup]\n  missed: [hangup]\n"
    path = flow(tmp_path, body)
    [report] = check([path], TODAY)
    [warning] = report.problems
    assert (warning.code, warning.line, warning.column) == ("dial-voicemail", 7, 42)
    screened = body.replace("timeout: 25", "timeout: 25, screen: true")
    assert codes(flow(tmp_path, screened)) == []
    assert codes(flow(tmp_path, body.replace("25", "24"))) == []


def test_a_reachable_trigger_without_steps_warns(tmp_path: Path) -> None:
    body = 'hours: {mon-fri: "09:00-17:00"}\non:\n  open: [say: "Hello."]\n'
    assert codes(flow(tmp_path, body)) == ["unhandled-trigger"]
    [report] = check([flow(tmp_path, body)], TODAY)
    assert "out_of_hours" in report.problems[0].message


def test_a_dial_without_missed_steps_warns(tmp_path: Path) -> None:
    body = 'on:\n  open: [dial: "601 234 567"]\n  busy: [hangup]\n'
    [report] = check([flow(tmp_path, body)], TODAY)
    assert [(p.code, "missed" in p.message) for p in report.problems] == [
        ("unhandled-trigger", True)
    ]


@pytest.mark.parametrize(
    ("body", "trigger"),
    [
        pytest.param('on:\n  open: [say: "Hi."]\n  holiday: [say: "Closed."]\n', "holiday",
                     id="holiday without holidays"),
        pytest.param('on:\n  open: [say: "Hi."]\n  busy: [say: "Busy."]\n', "busy",
                     id="busy without a dial"),
        pytest.param('on:\n  open: [say: "Hi."]\n  weekend: [say: "Closed."]\n', "weekend",
                     id="weekend on a line always open"),
    ],
)
def test_steps_the_schedule_never_reaches_warn(tmp_path: Path, body: str, trigger: str) -> None:
    [report] = check([flow(tmp_path, body)], TODAY)
    [problem] = report.problems
    assert problem.code == "unreachable-trigger" and f"on.{trigger}" in problem.message


def test_hours_with_no_open_time_warn(tmp_path: Path) -> None:
    body = 'hours: {mon-sun: closed}\non:\n  open: [say: "Hi."]\n  out_of_hours: [hangup]\n'
    assert codes(flow(tmp_path, body)) == ["no-open-time"]


def test_the_text_report_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = with_copy(tmp_path, "Salon Belle: we’re sorry! Book: https://belle.example/book")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{path}:7:29: warning: sms.copy.missed is sent as UCS-2")
    assert out[0].endswith("[copy-ucs2]")
    assert out[-2:] == [
        f"{path}: copy missed: UCS-2, 58 characters, 1 segment",
        "1 file checked: 0 errors, 1 warning",
    ]


def test_the_json_report_has_the_documented_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = with_copy(tmp_path, "Salon Belle: we’re sorry! Book: https://belle.example/book")
    assert main(["check", "--json", str(path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["errors"] == 0 and result["warnings"] == 1
    [entry] = result["files"]
    assert (entry["path"], entry["ok"], entry["errors"]) == (str(path), True, [])
    [warning] = entry["warnings"]
    assert set(warning) == {"line", "column", "code", "message"}
    assert (warning["line"], warning["column"], warning["code"]) == (7, 29, "copy-ucs2")
    assert entry["copy"] == [
        {"name": "missed", "encoding": "UCS-2", "characters": 58, "segments": 1}
    ]


def test_each_example_flow_passes_check_without_warnings() -> None:
    reports = check(sorted((REPO / "flows").glob("*.yaml")))
    assert len(reports) >= 8
    assert {r.path: [p.render() for p in r.problems] for r in reports} == {
        r.path: [] for r in reports
    }
    assert render(reports).endswith(f"{len(reports)} files checked: 0 errors, 0 warnings")


def test_a_nested_dial_is_pointed_at_in_place(tmp_path: Path) -> None:
    body = (
        "on:\n  open:\n    - menu:\n        options:\n          1:\n"
        '            - dial:\n                to: "601 234 567"\n                timeout: 40\n'
        "                on:\n                  missed:\n"
        '                    - dial: {to: "601 234 568", timeout: 30}\n'
        "  busy: [hangup]\n  missed: [hangup]\n"
    )
    [report] = check([flow(tmp_path, body)], TODAY)
    # `timeout: 40` is line 12 (4 lines of HEAD), its value at column 26; the inner
    # dial's `timeout: 30` is line 15, column 58.
    assert [(p.code, p.line, p.column) for p in report.problems] == [
        ("dial-voicemail", 12, 26), ("dial-voicemail", 15, 58)
    ]


def test_copy_that_fails_when_filled_in_is_an_error(tmp_path: Path) -> None:
    path = with_copy(tmp_path, "Salon Belle {{ caller | truncate('x') }} https://b.example/f")
    [report] = check([path], TODAY)
    assert [(p.code, p.severity, p.line) for p in report.problems] == [
        ("copy-render", "error", 7)
    ]
    assert report.copy == []


@pytest.mark.parametrize(
    ("copy", "quoted"),
    [
        pytest.param("Salon Belle: a trim from 50 PLN. https://belle.example/book", "50 PLN",
                     id="zloty after a two-digit amount"),
        pytest.param("Salon Belle: a trim for $49. https://belle.example/book", "$49",
                     id="dollars before a two-digit amount"),
        pytest.param("Salon Belle: a trim for €15. https://belle.example/book", "€15",
                     id="euro sign before the amount"),
        pytest.param("Salon Belle: a trim for EUR 15. https://belle.example/book", "EUR 15",
                     id="a currency code before the amount"),
    ],
)
def test_a_price_is_quoted_whole(tmp_path: Path, copy: str, quoted: str) -> None:
    [report] = check([with_copy(tmp_path, copy)], TODAY)
    [problem] = [p for p in report.problems if p.code == "copy-price"]
    assert f"quotes a price ('{quoted}')" in problem.message


@pytest.mark.parametrize(
    "copy",
    [
        pytest.param("Salon Belle: we answer within 1 hour. https://belle.example/book",
                     id="answer within an hour"),
        pytest.param("Salon Belle: we will call you back by 5pm. https://belle.example/book",
                     id="by a time of day"),
    ],
)
def test_more_deadlines_are_caught(tmp_path: Path, copy: str) -> None:
    assert codes(with_copy(tmp_path, copy)) == ["copy-deadline"]


def test_the_business_saying_it_will_reply_invites_nothing(tmp_path: Path) -> None:
    copy = "Salon Belle: we will reply today. Book: https://belle.example/book"
    assert codes(with_copy(tmp_path, copy, sms="  sender: SalonBelle\n")) == []


def test_copy_over_twilios_limit_is_an_error_of_its_own(tmp_path: Path) -> None:
    # 1601 characters: Twilio refuses any body over 1600.
    copy = GOOD_COPY + " " + "x" * (1600 - len(GOOD_COPY))
    assert len(copy) == 1601
    assert codes(with_copy(tmp_path, copy)) == ["copy-segments", "copy-too-long"]
    assert RULES["copy-too-long"][0] == "error"
    fits = GOOD_COPY + " " + "x" * (1599 - len(GOOD_COPY))
    assert codes(with_copy(tmp_path, fits)) == ["copy-segments"]


def test_audio_missing_from_the_greetings_folder_is_an_error_at_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "greetings"
    folder.mkdir()
    (folder / "welcome.wav").write_bytes(b"RIFF")
    body = (
        "greetings:\n"
        "  welcome: {play: welcome.wav}\n"
        "  closed: {play: missing.wav}\n"
        "on:\n"
        "  open:\n"
        "    - greeting: welcome\n"
        "    - play: missing.wav\n"
        "    - hangup\n"
    )
    path = flow(tmp_path, body)

    [report] = check([path], TODAY, greetings=folder)
    # HEAD is 4 lines: `closed: {play: missing.wav}` is line 7, the name at column 18;
    # `    - play: missing.wav` is line 11, the name at column 13.
    found = [(p.line, p.column, p.code, p.severity) for p in report.problems]
    assert found == [(7, 18, "missing-audio", "error"), (11, 13, "missing-audio", "error")]
    assert codes(path) == []  # the compiler, knowing no folder, accepts the file

    assert main(["--greetings", str(folder), "check", str(path)]) == 1
    assert "play 'missing.wav' is not in the greetings folder" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("copy", "message"),
    [
        pytest.param("Salon Belle {{ 9**999999999 }} https://belle.example/book",
                     "raises a number to a power with '**'", id="a power Jinja would compute"),
        pytest.param("Salon Belle {{ " + "9" * 5000 + " }} https://belle.example/book",
                     "cannot be compiled as a template: Exceeds the limit",
                     id="a number too long to read"),
    ],
)
def test_copy_jinja_cannot_compile_is_refused_at_load_and_fast(
    tmp_path: Path, copy: str, message: str
) -> None:
    started = time.monotonic()
    [report] = check([with_copy(tmp_path, copy)], TODAY)
    assert time.monotonic() - started < 5
    [problem] = report.problems
    assert (problem.code, problem.line, problem.column) == ("bad-copy", 7, 13)
    assert message in problem.message


def test_copy_cannot_repeat_a_text_past_one_message(tmp_path: Path) -> None:
    # Not folded when the flow loads (it would take the memory of the engine), refused
    # when filled in: check reports it, and a call would skip the text, not crash.
    copy = "Salon Belle {{ 'x' * 9999999999 }} https://belle.example/book"
    [report] = check([with_copy(tmp_path, copy)], TODAY)
    assert [(p.code, p.severity) for p in report.problems] == [("copy-render", "error")]
