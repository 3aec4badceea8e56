"""No log line, traceback included, carries a customer's email address or name.

- the app's JSON lines leave database errors' messages out of tracebacks (PostgreSQL quotes
  the values it refused: a unique key, a JSON document) and mask any address left;
- the run-wide check (tests/log_privacy.py) fails a run that logs an address: proved here by
  running a small test session that does.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import textwrap

import pytest
from flask import Flask
from log_privacy import addresses_logged_on_purpose
from processes import ROOT
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError

from kingavis.extensions import db
from kingavis.logging import JsonFormatter, configure_logging, scrub_emails
from kingavis.models import User

TESTS = ROOT / "tests"


def _written(record_fn) -> list[str]:  # type: ignore[no-untyped-def]
    """What the app's own handler writes while ``record_fn`` logs (the real formatter)."""
    configure_logging("INFO")
    logger = logging.getLogger("kingavis")
    handler = next(h for h in logger.handlers if getattr(h, "_kingavis", False))
    stream = io.StringIO()
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        record_fn()
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
    return stream.getvalue().splitlines()


def test_a_database_error_in_a_traceback_shows_neither_address_nor_name(app: Flask) -> None:
    # A unique violation: PostgreSQL's message quotes the key, the address in it (customer
    # addresses are unique by their hash only, an account's address by itself).
    db.session.add(User(email="victim@example.com", password_hash="x"))
    db.session.commit()
    db.session.add(User(email="victim@example.com", password_hash="x"))
    with pytest.raises(IntegrityError) as caught:
        db.session.commit()
    db.session.rollback()
    if db.engine.dialect.name == "postgresql":
        assert "victim@example.com" in str(caught.value)  # the error itself does quote it
        # A JSON document refused: its CONTEXT line quotes the document, name included.
        with pytest.raises(DataError) as refused:
            db.session.execute(text("SELECT CAST(:doc AS json)"),
                               {"doc": '{"email": "victim@example.com", "first_name": "Zoë", '
                                       '"n": Infinity}'})
        db.session.rollback()
        assert "Zoë" in str(refused.value)
        errors = [caught.value, refused.value]
    else:
        errors = [caught.value]

    def log_them() -> None:
        for error in errors:
            try:
                raise error
            except Exception:
                app.logger.exception("Exception on /webhooks/v1/x/order-status [POST]")

    lines = _written(log_them)
    assert len(lines) == len(errors)
    for line in lines:
        entry = json.loads(line)
        assert "Traceback" in entry["exc"] and "message hidden" in entry["exc"]
        assert "IntegrityError" in line or "DataError" in line or "Error" in line
        assert "victim" not in line and "Zoë" not in line and "@example.com" not in line
    # The structural part alone (no masking) already keeps them out.
    unmasked = JsonFormatter(scrub=False)
    for error in errors:
        try:
            raise error
        except Exception:
            record = logging.LogRecord("kingavis", logging.ERROR, __file__, 1, "failed", None,
                                       sys.exc_info())
        assert "victim" not in unmasked.format(record)



def test_any_address_left_in_a_line_is_masked() -> None:
    with addresses_logged_on_purpose():
        lines = _written(lambda: logging.getLogger("kingavis.test").warning(
            "reply from the server: <Zoe.Lukasiewicz@Example.com> unknown; also zoë@exämple.fr",
            extra={"fields": {"to": "marc@example.org"}},
        ))
    assert len(lines) == 1
    assert "Zoe.Lukasiewicz@" not in lines[0] and "zoë@" not in lines[0]
    assert "marc@" not in lines[0]
    assert "Z***@Example.com" in lines[0] and "m***@example.org" in lines[0]
    assert scrub_emails("z***@example.com, no address") == "z***@example.com, no address"


SELF_TEST = textwrap.dedent(
    """
    import logging

    def test_logs_an_address():
        logging.getLogger("kingavis.somewhere").warning("sending to zoe@example.com")

    def test_logs_nothing_private():
        logging.getLogger("kingavis.somewhere").warning("sending to z***@example.com")
    """
)


def _inner_run(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    pytester.makeconftest('pytest_plugins = ["log_privacy"]\n')
    pytester.makepyfile(test_inner=body)
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    return pytester.runpytest_subprocess(
        "-q", "-p", "no:randomly", timeout=120,
        # The checker is imported from the project's tests folder, the app from its root.
    ) if _pythonpath(pytester) else pytest.fail("could not set PYTHONPATH")


def _pythonpath(pytester: pytest.Pytester) -> bool:
    pytester._monkeypatch.setenv("PYTHONPATH", f"{TESTS}:{ROOT}")  # type: ignore[attr-defined]
    # Only the checker: other installed pytest plugins would only slow the inner run down.
    pytester._monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # type: ignore[attr-defined]
    return True


def test_the_run_wide_check_fails_a_run_that_logs_an_address(pytester: pytest.Pytester) -> None:
    result = _inner_run(pytester, SELF_TEST)
    result.stdout.fnmatch_lines(["*customer email addresses in the logs*",
                                 "*1 of 2 log lines hold an email address*",
                                 "*sending to zoe@example.com*"])
    assert "z***@example.com" not in result.stdout.str()
    result.assert_outcomes(passed=2)
    assert result.ret == 1


def test_the_run_wide_check_passes_a_run_without_addresses(pytester: pytest.Pytester) -> None:
    result = _inner_run(pytester, SELF_TEST.split("def test_logs_an_address")[0]
                        + "def test_logs_nothing_private():\n"
                        + "    logging.getLogger('kingavis.x').warning('to z***@example.com')\n")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    assert "customer email addresses in the logs" not in result.stdout.str()
