"""The language's values and defaults, read as the spec says: timeouts, senders, numbers
in E.164, the new steps' shapes, and the JSON Schema editors get."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.dsl import model as m
from engine.dsl.compiler import compile_file, compile_text
from engine.errors import FlowError
from engine.schema import flow_schema

HEAD = 'line: "+44 20 7946 0000"\nbusiness: Garage\nregion: GB\n'


def compiled(body: str, head: str = HEAD):  # type: ignore[no-untyped-def]
    return compile_text(head + body, "garage.yaml", "garage")


def refused(body: str, head: str = HEAD) -> list[str]:
    with pytest.raises(FlowError) as caught:
        compiled(body, head)
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("written", "message"),
    [
        pytest.param("0", "must be between 5 and 600 seconds, got 0", id="zero"),
        pytest.param("-5", "must be between 5 and 600 seconds, got -5", id="negative"),
        pytest.param("20.5", "must be a whole number of seconds, got 20.5", id="a fraction"),
        pytest.param('"soon"', "must be a whole number of seconds, got 'soon'", id="a word"),
    ],
)
def test_a_bad_dial_timeout_is_refused_at_its_position(written: str, message: str) -> None:
    body = f'on:\n  open:\n    - dial: {{to: "07911 123457", timeout: {written}}}\n'
    # line 6, and the value starts after `    - dial: {to: "07911 123457", timeout: `
    assert refused(body) == [f"garage.yaml:6:43: dial.timeout {message}"]


def test_a_quoted_timeout_is_read_as_a_number() -> None:
    flow = compiled('on:\n  open:\n    - dial: {to: "07911 123457", timeout: "20"}\n')
    assert flow.triggers["open"][0].step.dial.timeout == 20


def test_an_alphanumeric_sender_of_17_characters_is_refused() -> None:
    problems = refused("sms:\n  sender: GarageOnHighStree\non:\n  open: [hangup]\n")
    assert len("GarageOnHighStree") == 17
    assert len(problems) == 1 and problems[0].startswith("garage.yaml:5:11: sms.sender must be")


def test_an_alphanumeric_sender_of_11_characters_is_kept() -> None:
    flow = compiled("sms:\n  sender: Garage High\non:\n  open: [hangup]\n")
    assert flow.sms.sender == "Garage High"


@pytest.mark.parametrize(
    "written",
    [
        pytest.param("+44 (0)7911 123456", id="with the trunk 0 in brackets"),
        pytest.param("07911 123456", id="national, region GB"),
        pytest.param("+4407911123456", id="trunk 0 after the country code"),
    ],
)
def test_numbers_everywhere_are_read_as_e164(written: str) -> None:
    body = (
        f'sms:\n  sender: "{written}"\n'
        f'on:\n  open:\n    - dial: ["{written}", "{written}"]\n'
        f'    - sms: {{text: "Garage https://garage.example/f", to: "{written}"}}\n'
    )
    flow = compiled(body, HEAD.replace("+44 20 7946 0000", written))
    dial, sms = flow.triggers["open"]
    assert flow.lines == ("+447911123456",)
    assert dial.step.dial.to == ["+447911123456", "+447911123456"]
    assert (sms.step.sms.to, flow.sms.sender) == ("+447911123456", "+447911123456")


def test_an_invalid_number_is_a_load_error() -> None:
    assert refused('on:\n  open: [dial: "07911 12"]\n') == [
        'garage.yaml:5:16: dial "07911 12" is not a valid phone number for region GB'
    ]


def test_menu_and_dial_defaults() -> None:
    flow = compiled(
        "on:\n  open:\n    - menu:\n        options: {1: [hangup]}\n"
        '    - dial: {to: "07911 123457", screen: true}\n'
    )
    menu, dial = (action.step for action in flow.triggers["open"])
    assert (menu.menu.timeout, menu.menu.default, menu.menu.prompt) == (5, [], None)
    screen = dial.dial.screen
    assert screen is not None and screen.digit == "1"
    assert (dial.dial.max_calls, dial.dial.record, dial.dial.time_limit) == (None, False, None)


def test_a_menu_prompt_may_name_a_greeting() -> None:
    flow = compiled(
        'greetings:\n  hello: {say: "Press 1."}\n'
        "on:\n  open:\n    - menu: {prompt: {greeting: hello}, options: {1: [hangup]}}\n"
    )
    prompt = flow.triggers["open"][0].step.menu.prompt
    assert isinstance(prompt, m.SayStep) and prompt.say.text == "Press 1."


@pytest.mark.parametrize("key", ["audio", "file", "url"])
def test_play_names_its_audio_as_audio_file_or_url(key: str) -> None:
    flow = compiled(f'on:\n  open:\n    - play: {{{key}: "https://example.com/a.mp3"}}\n')

    [action] = flow.triggers["open"]
    assert isinstance(action.step, m.PlayStep)
    assert action.step.play.audio == "https://example.com/a.mp3"


def test_play_given_its_audio_twice_is_refused() -> None:
    # line 6, "    - play: {audio: a.mp3, file: b.mp3}": `file` at column 28.
    message = (
        "garage.yaml:6:28: 'file' in play names the same option as audio, file or url, "
        "given already: keep one"
    )
    assert refused("on:\n  open:\n    - play: {audio: a.mp3, file: b.mp3}\n") == [message]


def test_whole_flow_rules_are_reported_with_value_problems() -> None:
    # No timezone beside hours, a greeting both said and played, an sms with copy and
    # text: each is found on the raw data, so a bad value elsewhere does not hide it.
    body = (
        'hours: {mon-fri: "09:00-18:00"}\n'
        "greetings:\n  hi: {say: Hi, play: a.mp3, loop: 9999}\n"
        "on:\n  open:\n    - pause: 700\n"
        "    - sms: {copy: a, text: b}\n"
    )
    assert [p.split(": ", 1)[0] for p in refused(body)] == [
        "garage.yaml:4:1", "garage.yaml:6:7", "garage.yaml:6:36", "garage.yaml:9:14",
        "garage.yaml:10:12",
    ]


def test_a_goto_cycle_through_a_menu_is_refused() -> None:
    body = (
        "on:\n  open:\n    - menu: {options: {1: [goto: busy]}}\n"
        "  busy: [goto: open]\n"
    )
    [problem] = refused(body)
    # One problem per loop, at the goto that closes it (open's, line 6, column 34).
    assert problem == (
        "garage.yaml:6:34: goto makes a loop: busy → open → busy; a call would never end"
    )


def test_link_and_value_problems_are_reported_together_in_line_order() -> None:
    body = (
        'greetings:\n  hello: {say: "Hi"}\n'
        "on:\n  open:\n    - greeting: helo\n"
        '    - dial: {to: "07911 123457", timeout: 2}\n'
        "    - sms: nothing\n"
    )
    assert [p.split(": ", 1)[0] for p in refused(body)] == [
        "garage.yaml:8:17", "garage.yaml:9:43", "garage.yaml:10:12"
    ]


def test_the_schema_describes_every_key_and_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["required"]) == {"line", "business", "on"}
    assert all(prop.get("description") for prop in schema["properties"].values())
    for step in m.STEP_NAMES:
        definition = schema["$defs"][f"{step.capitalize()}Step"]
        assert definition["description"] and list(definition["properties"]) == [step]
    timeout = schema["$defs"]["DialOptions"]["properties"]["timeout"]
    seconds = timeout["anyOf"][0]  # or a quoted number, as the compiler reads "20"
    assert (seconds["minimum"], seconds["maximum"], timeout["default"]) == (5, 600, 20)
    say = schema["$defs"]["SayStep"]["properties"]["say"]["anyOf"]
    assert {"type": "string"} in say


def test_the_schema_is_the_models_own() -> None:
    schema = flow_schema()
    assert set(schema["properties"]) == {
        field.alias or name for name, field in m.FlowModel.model_fields.items()
    }


def test_every_example_flow_compiles() -> None:
    folder = Path(__file__).resolve().parent.parent / "flows"
    for path in folder.glob("*.yaml"):
        assert compile_file(path).id == path.stem


def test_the_schema_says_what_a_flow_file_is() -> None:
    schema = flow_schema()
    assert (schema["title"], schema["description"]) == (
        "Ringback flow", "One business line: what callers hear and which text they get."
    )


@pytest.mark.parametrize("copy", [
    pytest.param("{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}",
                 id="nested loops"),
    pytest.param("{% macro m() %}x{% endmacro %}{{ m() }}", id="a macro"),
])
def test_copy_that_repeats_is_refused_when_the_flow_loads(copy: str) -> None:
    from engine.sms.copy import CopyError, compile_copy

    with pytest.raises(CopyError, match="nothing that repeats"):
        compile_copy(copy)
