"""A throw-away PostgreSQL database and the real service under gunicorn."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql


class BenchError(RuntimeError):
    """The benchmark cannot run; the message says why and what to do."""


def create_database(admin_url: str, name: str) -> str:
    """CREATE DATABASE ``name``; return its URL (same server and user as ``admin_url``)."""
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        raise BenchError(
            f"cannot reach PostgreSQL at {admin_url}: {exc}. Start it with: "
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        ) from None
    return _with_database(admin_url, name)


def _with_database(url: str, name: str) -> str:
    scheme, rest = url.split("://", 1)
    authority, _, tail = rest.partition("/")
    query = ""
    if "?" in tail:
        query = "?" + tail.split("?", 1)[1]
    return f"{scheme}://{authority}/{name}{query}"


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _cpu_of(pid: int | str) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def postgres_cpu(database: str) -> dict[str, float]:
    """CPU seconds of each PostgreSQL backend connected to ``database`` (same machine only)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {database} " in title:
            found[entry.name] = _cpu_of(entry.name)
    return found


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def app_log_path(self) -> Path:
        return self.log_path.with_name("service.log")

    def tracebacks(self) -> list[str]:
        """Tracebacks logged by gunicorn or the app, each as its last lines."""
        found = []
        for path in (self.log_path, self.app_log_path):
            text = path.read_text(errors="replace") if path.exists() else ""
            for chunk in text.split("Traceback")[1:]:
                found.append("Traceback" + "\n".join(chunk.splitlines()[:40]))
        return found

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        """The gunicorn workers (children of the arbiter)."""
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)],
            capture_output=True, text=True, check=False,
        ).stdout
        return [int(p) for p in out.split()]

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the arbiter and its workers."""
        return sum(_cpu_of(pid) for pid in [self.process.pid, *self.worker_pids()])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_gunicorn(
    root: Path,
    env: dict[str, str],
    workers: int,
    threads: int,
    log_path: Path,
    app: str = "bench.wsgi_bench:app",
) -> Server:
    """gunicorn from the virtualenv on a free loopback port (bound by gunicorn itself)."""
    gunicorn = root / ".venv" / "bin" / "gunicorn"
    command = [
        str(gunicorn),
        "--chdir", str(root),
        "--bind", "127.0.0.1:0",
        "--worker-class", "gthread",
        "--workers", str(workers),
        "--threads", str(threads),
        "--keep-alive", "30",
        "--worker-tmp-dir", "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp",
        "--log-level", "info",
        "--error-logfile", str(log_path),
        app,
    ]
    log_path.write_text("")
    # The app's own JSON log lines (and any traceback) go to stderr: keep them beside.
    app_log = log_path.with_name("service.log")
    with app_log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    port = None
    while time.monotonic() < deadline and port is None:
        if process.poll() is not None:
            raise BenchError(f"gunicorn exited with {process.returncode}; see {log_path}:\n"
                             + log_path.read_text()[-3000:])
        match = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log_path.read_text())
        if match:
            port = int(match.group(1))
        else:
            time.sleep(0.1)
    if port is None:
        process.kill()
        raise BenchError(f"gunicorn did not start listening within 60 s; see {log_path}")
    server = Server(process=process, port=port, log_path=log_path)
    _wait_healthy(server, workers)
    return server


def _wait_healthy(server: Server, workers: int) -> None:
    deadline = time.monotonic() + 60
    last = ""
    while time.monotonic() < deadline:
        booted = server.log_path.read_text().count("Booting worker")
        try:
            with urllib.request.urlopen(server.base_url + "/healthz", timeout=5) as response:  # noqa: S310
                if response.status == 200 and booted >= workers:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.2)
    server.stop()
    raise BenchError(f"the service did not answer /healthz with 200 ({last}); see {server.log_path}")
