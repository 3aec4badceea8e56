"""Every log line written during the test run is checked for customers' email addresses.

A handler on the root logger and on ``kingavis`` (which does not propagate) formats each record
with the app's own JSON formatter, tracebacks included, but *without* its last line of defence
(the address masking): what the code itself tried to write. At the end of the run, any line
holding an email address that is not a known sender or merchant address fails the run
(exit status 1), with the lines shown. Masked addresses (``z***@example.com``) pass.

Registered for the whole run from ``conftest.py``; ``test_log_privacy.py`` proves it fails a
run that logs an address.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from kingavis.logging import JsonFormatter

# Addresses that are not customers': mail senders and back-office accounts of the tests.
NOT_CUSTOMERS = re.compile(
    r"^(?:[^@]+@kingavis\.(?:test|example)|no-reply@localhost|[^@]*(?:merchant|marchand)[^@]*@.*)$",
    re.IGNORECASE,
)
_ADDRESS = re.compile(r"[\w.!#$%&'+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
MAX_KEPT = 50


class LeakRecorder(logging.Handler):
    """Keeps the log lines that hold an email address (and counts every line)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter(scrub=False))
        self.lines = 0
        self.leaks: list[str] = []
        self.paused = False
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        # A record that reaches both loggers (``kingavis`` before the app set it up) counts once.
        if self.paused or record.__dict__.get("_privacy_checked"):
            return
        record.__dict__["_privacy_checked"] = True
        try:
            line = self.format(record)
        except Exception:  # a record that cannot be formatted is not our concern here
            return
        found = [a for a in _ADDRESS.findall(line) if not NOT_CUSTOMERS.match(a)]
        with self._guard:
            self.lines += 1
            if found and len(self.leaks) < MAX_KEPT:
                self.leaks.append(line[:2000])


_recorder = LeakRecorder()


@contextmanager
def addresses_logged_on_purpose() -> Iterator[None]:
    """For a test that logs an address to check how it is masked: not a leak."""
    _recorder.paused = True
    try:
        yield
    finally:
        _recorder.paused = False
_LOGGERS = ("", "kingavis")


def _attach() -> None:
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _recorder not in logger.handlers:
            logger.addHandler(_recorder)


def pytest_configure(config: pytest.Config) -> None:
    _attach()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Migrations run in this process read alembic.ini (logging.config.fileConfig), which
    # replaces the root logger's handlers: put the recorder back before every test.
    _attach()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    _attach()  # again once fixtures (which may have migrated a database) have run


def pytest_unconfigure(config: pytest.Config) -> None:
    for name in _LOGGERS:
        logging.getLogger(name).removeHandler(_recorder)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _recorder.leaks and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _recorder.leaks:
        return
    terminalreporter.section("customer email addresses in the logs", sep="=", red=True, bold=True)
    terminalreporter.write_line(
        f"{len(_recorder.leaks)} of {_recorder.lines} log lines hold an email address:"
    )
    for line in _recorder.leaks:
        terminalreporter.write_line(line)
