"""`ringback schema`: the JSON Schema of the flow language, for editors.

The schema comes from the pydantic model (`engine.dsl.model.FlowModel`), so it cannot
drift from what the compiler accepts. Two things the model does before validating are
added here by hand, because pydantic cannot see through them: the scalar shorthands of
steps (`say: "Hello"`, `dial: "+48601234567"`, `- hangup`) and the descriptions of the
top-level keys and steps, taken from the flow-language specification.

An editor running the YAML language server picks it up from a comment on a flow's first
line: `# yaml-language-server: $schema=../ringback.schema.json`.
"""

from __future__ import annotations

import json
from typing import Any

from engine.dsl.model import FlowModel

__all__ = ["flow_schema", "schema_text"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"

TOP_LEVEL = {
    "line": "The number (or list of numbers) whose calls this flow answers, in E.164 or "
            "national form with region.",
    "business": "The business name; available in SMS copy as {{ business }}.",
    "region": "ISO 3166 region used to read numbers written without +country, e.g. PL.",
    "timezone": "IANA zone name, e.g. Europe/Warsaw; required with hours, holidays, weekend.",
    "hours": "Opening hours: day, day range (mon-fri) or list (mon,wed) → HH:MM-HH:MM "
             "ranges separated by commas, or closed. Absent: always open.",
    "weekend": "Days that count as weekend; default [sat, sun].",
    "holidays": "Closed days: country (a holidays-library code, or XX-SUB) and dates.",
    "greetings": "Named greetings, each a say or a play, used by the greeting step.",
    "sms": "Follow-up text settings: sender, cooldown, send_to, copy and reply.",
    "on": "Trigger (open, busy, missed, failed, out_of_hours, weekend, holiday) → steps.",
}

NUMBER: dict[str, Any] = {"type": ["string", "integer"]}
FLAG: list[dict[str, Any]] = [{"type": "null"}, {"const": True}]

STEPS: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "say": ("Speak a text (<Say>).", [{"type": "string"}]),
    "play": ("Play a file from greetings/ or an https:// URL (<Play>).", [{"type": "string"}]),
    "greeting": ("Play or say a named greeting.", []),
    "pause": ("Silence for 1 to 600 seconds (<Pause>).", []),
    "dial": (
        "Ring the business (<Dial>): a number, a list rung at once, or options.",
        [NUMBER, {"type": "array", "items": NUMBER}],
    ),
    "sms": ("Send a follow-up text: a name from sms.copy, or inline text.", [{"type": "string"}]),
    "voicemail": ("Take a voicemail (<Record>).", FLAG),
    "menu": ("Ask for one key (<Gather>) and run that option's steps.", []),
    "goto": ("Continue with another trigger's steps.", []),
    "hangup": ("End the call (<Hangup>).", FLAG),
    "reject": ("Refuse the call unanswered (<Reject>); only as a trigger's first step.", []),
}


def flow_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a flow file."""
    schema = FlowModel.model_json_schema(by_alias=True)
    definitions = schema["$defs"]
    for key, text in TOP_LEVEL.items():
        schema["properties"][key]["description"] = text
    for name, (text, shorthands) in STEPS.items():
        step = definitions[f"{name.capitalize()}Step"]
        step["description"] = text
        written = step["properties"][name]
        if shorthands:
            written = {"anyOf": [written, *list(shorthands)]}
        step["properties"][name] = {**written, "description": text}
    _allow_bare_steps(schema)
    _allow_shorthands(definitions)
    _allow_other_names(definitions)
    _one_or_many(schema["properties"]["line"])
    described = {"$schema": DRAFT, "title": "Ringback flow",
                 "description": "One business line: what callers hear and which text they get."}
    return described | {k: v for k, v in schema.items() if k not in described}


def _allow_bare_steps(schema: dict[str, Any]) -> None:
    """`- hangup` and `- voicemail` are steps too."""
    steps = schema["properties"]["on"]["additionalProperties"]["items"]
    steps["oneOf"].append({"enum": ["hangup", "voicemail"]})


def _allow_shorthands(definitions: dict[str, Any]) -> None:
    """A menu's prompt may be a text; `screen: true`; a line may be one number."""
    menu = definitions["MenuOptions"]["properties"]
    menu["prompt"] = {"anyOf": [menu["prompt"], {"type": "string"}], "description":
                      menu["prompt"].get("description", "")}
    _one_or_many(definitions["DialOptions"]["properties"]["to"])
    dial = definitions["DialOptions"]["properties"]
    dial["screen"] = {"anyOf": [{"type": "boolean"}, dial["screen"]],
                      "description": dial["screen"].get("description", "")}


def _allow_other_names(definitions: dict[str, Any]) -> None:
    """`play: {file: …}` and `play: {url: …}` name the option `audio`: exactly one is given.

    pydantic's schema shows only the first name of a field's `AliasChoices`.
    """
    play = definitions["PlayOptions"]
    audio = play["properties"]["audio"]
    for name in ("file", "url"):
        play["properties"][name] = {**audio, "title": name.capitalize()}
    play.pop("required", None)
    play["oneOf"] = [{"required": [name]} for name in ("audio", "file", "url")]


def _one_or_many(prop: dict[str, Any]) -> None:
    """A list of numbers may also be written as one number."""
    listed = {k: prop.pop(k) for k in ("type", "items", "minItems", "maxItems") if k in prop}
    prop["anyOf"] = [listed["items"], listed]


def schema_text() -> str:
    """The schema as `ringback schema` prints it."""
    return json.dumps(flow_schema(), indent=2, ensure_ascii=False)
