"""`ringback schema` accepts what the compiler accepts: every example flow validates against
it, a few flows the compiler refuses do not, and every key an editor completes is described."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from engine.cli import main
from engine.dsl.compiler import compile_text
from engine.dsl.loader import load_text
from engine.errors import FlowError

REPO = Path(__file__).resolve().parent.parent
FLOWS = sorted((REPO / "flows").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    printed = io.StringIO()
    with redirect_stdout(printed):
        assert main(["schema"]) == 0
    schema = json.loads(printed.getvalue())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def as_json(text: str) -> Any:
    """A flow's YAML as an editor's YAML server hands it to the schema (dates as text)."""
    data = load_text(text, "flow.yaml").data
    return json.loads(json.dumps(data, default=lambda v: v.isoformat() if isinstance(
        v, date) else str(v)))


def errors(validator: jsonschema.Draft202012Validator, text: str) -> list[str]:
    return [error.message for error in validator.iter_errors(as_json(text))]


@pytest.mark.parametrize("path", FLOWS, ids=[path.stem for path in FLOWS])
def test_every_example_flow_validates(
    validator: jsonschema.Draft202012Validator, path: Path
) -> None:
    assert errors(validator, path.read_text(encoding="utf-8")) == []


HEAD = 'line: "+48 22 307 15 00"\nbusiness: Salon Belle\nregion: PL\n'


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("sms: {cooldown: 0}\non: {open: [hangup]}\n", id="cooldown off"),
        pytest.param('sms: {cooldown: "90s"}\non: {open: [hangup]}\n', id="cooldown in seconds"),
        pytest.param('on: {open: [{dial: {to: "601 234 567", timeout: "20"}}]}\n',
                     id="a quoted timeout"),
        pytest.param("on: {open: [{dial: 601234567}, {pause: 2}, hangup]}\n",
                     id="shorthands and an unquoted number"),
        pytest.param("on: {open: [{say: Hello}, {voicemail: null}]}\n", id="say and voicemail"),
        pytest.param("on: {open: [{play: {audio: welcome.mp3}}]}\n", id="play audio"),
        pytest.param("on: {open: [{play: {file: welcome.mp3, loop: 2}}]}\n", id="play file"),
        pytest.param('on: {open: [{play: {url: "https://example.com/a.mp3"}}]}\n',
                     id="play url"),
    ],
)
def test_what_the_compiler_accepts_validates(
    validator: jsonschema.Draft202012Validator, body: str
) -> None:
    compile_text(HEAD + body, "flow.yaml", "flow")
    assert errors(validator, HEAD + body) == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("sms: {cooldown: 12 hours}\non: {open: [hangup]}\n", id="a wordy cooldown"),
        pytest.param('on: {open: [{dial: {to: "601 234 567", timeout: 2}}]}\n',
                     id="a timeout too short"),
        pytest.param("on: {open: [{hangupp: null}]}\n", id="an unknown step"),
        pytest.param("on: {open: [hangup]}\ncolour: red\n", id="an unknown key"),
        pytest.param("on: {lunch: [hangup]}\n", id="an unknown trigger"),
        pytest.param("on: {open: [{play: {loop: 2}}]}\n", id="play without its audio"),
        pytest.param("on: {open: [{play: {audio: a.mp3, file: b.mp3}}]}\n",
                     id="play with its audio given twice"),
    ],
)
def test_what_the_compiler_refuses_does_not_validate(
    validator: jsonschema.Draft202012Validator, body: str
) -> None:
    with pytest.raises(FlowError):
        compile_text(HEAD + body, "flow.yaml", "flow")
    assert errors(validator, HEAD + body) != []


def test_every_property_has_a_description(validator: jsonschema.Draft202012Validator) -> None:
    def undescribed(node: Any, where: str) -> list[str]:
        found = []
        if isinstance(node, dict):
            for name, prop in node.get("properties", {}).items():
                found += [] if prop.get("description") else [f"{where}.{name}"]
            for key, value in node.items():
                found += undescribed(value, f"{where}/{key}")
        elif isinstance(node, list):
            for value in node:
                found += undescribed(value, where)
        return found

    assert undescribed(validator.schema, "") == []
