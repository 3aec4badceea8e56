"""The command line, run the way an operator runs it, for tests: ``invoke`` and the check that
a refusal is one line starting with "Error: "."""

from __future__ import annotations

from typing import Any

from flask import Flask

from kingavis.extensions import db


def invoke(app: Flask, *args: str, stdin: str | None = None) -> Any:
    # The CLI runs in its own app context and session; ours must hold no transaction
    # (SQLite takes the write lock at BEGIN), so it is closed before every command.
    db.session.remove()
    result = app.test_cli_runner().invoke(args=list(args), input=stdin)
    db.session.remove()
    return result


def assert_one_line_error(result: Any, *fragments: str) -> None:
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.stderr
