"""Golden tests: each invalid flow in tests/golden/ beside the exact report it must produce.

`tests/golden/<kind>.yaml` breaks the language in one way (or a few related ways);
`<kind>.txt` holds the full text of `ringback check` for it: every problem in line order
as `path:line:column: error: message [code]`, the author's line echoed with a caret
under the spot, and the summary line. Every line and column in the expected texts was
counted by hand against its fixture before the text was kept. To add a kind: write the
fixture and its expected text, then run this test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main

REPO = Path(__file__).resolve().parent.parent
GOLDEN = sorted((REPO / "tests" / "golden").glob("*.yaml"))


@pytest.mark.parametrize("fixture", GOLDEN, ids=[path.stem for path in GOLDEN])
def test_an_invalid_flow_gives_its_exact_report(
    fixture: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    relative = fixture.relative_to(REPO)
    assert main(["check", str(relative)]) == 1
    expected = fixture.with_suffix(".txt").read_text(encoding="utf-8")
    assert capsys.readouterr().out == expected


def test_every_kind_of_author_error_has_a_golden_file() -> None:
    reports = "".join(path.with_suffix(".txt").read_text() for path in GOLDEN)
    codes = {
        "unknown-key", "missing-key", "bad-timeout", "invalid-number", "bad-sender",
        "unknown-step", "bad-step", "unknown-trigger", "unknown-greeting", "unknown-copy",
        "bad-copy", "goto-cycle", "unknown-goto", "reject-not-first", "yaml-syntax",
        "duplicate-key", "day-twice", "bad-time", "bad-day", "bad-country", "bad-region",
        "bad-timezone", "missing-timezone", "bad-digit", "bad-outcome", "not-a-mapping",
        "bad-duration", "bad-screen", "bad-max-calls", "bad-time-limit", "bad-prompt",
        "bad-menu-timeout", "bad-to", "bad-yaml-value", "yaml-too-large",
    }
    assert {code for code in codes if f"[{code}]" not in reports} == set()


def test_the_readmes_sample_error_is_what_check_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    intro = "`ringback check flows/salon-belle.yaml` prints:\n\n```\n"
    sample = readme.split(intro, 1)[1].split("```", 1)[0]
    (tmp_path / "flows").mkdir()
    shipped = (REPO / "flows" / "salon-belle.yaml").read_text(encoding="utf-8")
    assert shipped.count("timeout: 20\n") == 1
    edited = shipped.replace("timeout: 20\n", "timeout: 2\n")
    (tmp_path / "flows" / "salon-belle.yaml").write_text(edited, encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    assert main(["--greetings", str(REPO / "greetings"), "check", "flows/salon-belle.yaml"]) == 1
    assert capsys.readouterr().out == sample
