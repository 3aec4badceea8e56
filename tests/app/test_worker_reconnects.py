"""The RQ worker outlives a Redis outage (issue 21, docs/production.md).

A private ``redis-server`` on a free port (never the shared one), a real ``rq worker`` with
the Procfile's worker class: a job runs; Redis is stopped for a few seconds, then started
again on the same port; the worker is still there, logged the outage once (and its end once),
and runs the next job. ``RedisOutage``'s backoff is checked with an injected clock.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import captured_log
from processes import BIN, ROOT, flask_env
from redis import Redis
from rq import Queue

from kingavis.worker import RedisOutage

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    def __init__(self, port: int, folder: Path) -> None:
        self.port, self.folder = port, folder
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except Exception:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


def _finished(queue: Queue, what: str, limit: float = 60) -> None:
    job = queue.enqueue(what)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        job.refresh()
        if job.get_status() == "finished":
            return
        time.sleep(0.1)
    raise AssertionError(f"job not run within {limit} s: {job.get_status()}")


def test_the_worker_waits_for_redis_and_goes_on(redis_server: PrivateRedis, tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    env = flask_env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "instance",
                    REDIS_URL=url, PYTHONPATH=str(ROOT))
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as out:
        worker = subprocess.Popen(
            [str(BIN / "rq"), "worker", "--url", url, "--worker-class",
             "kingavis.worker.ReconnectingWorker", "--logging_level", "WARNING", "kingavis"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            queue = Queue("kingavis", connection=Redis.from_url(url))
            _finished(queue, "os.getpid")

            redis_server.stop()
            time.sleep(4)
            assert worker.poll() is None, log_path.read_text()
            redis_server.start()

            queue = Queue("kingavis", connection=Redis.from_url(url))  # a fresh server: empty
            _finished(queue, "os.getpid")
            assert worker.poll() is None
        finally:
            worker.terminate()
            worker.wait(20)
    lines = [json.loads(line) for line in log_path.read_text().splitlines()
             if line.startswith("{")]
    messages = [line["msg"] for line in lines if line.get("logger") == "kingavis.worker"]
    assert messages == ["Redis unreachable: the worker keeps waiting and reconnects by itself",
                        "Redis reachable again: the worker goes on"], log_path.read_text()
    text = log_path.read_text()
    assert "quitting" not in text and "could not connect to Redis" not in text


def test_the_backoff_doubles_to_30_seconds_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    slept: list[float] = []
    outage = RedisOutage(clock=lambda: now[0], sleep=slept.append)
    with captured_log(caplog, "kingavis.worker", "INFO"):
        for _ in range(8):
            outage.lost(ConnectionError("refused"))
            outage.wait()
        now[0] = 95.0
        outage.back()
        outage.back()
    assert slept == [1, 2, 4, 8, 16, 30, 30, 30]
    records = [r for r in caplog.records if r.name == "kingavis.worker"]
    assert [r.levelname for r in records] == ["ERROR", "WARNING"]
    assert records[1].__dict__["fields"]["outage_seconds"] == 95.0
    outage.lost(ConnectionError("again"))
    outage.wait()
    assert slept[-1] == 1  # a new outage starts from the first delay
