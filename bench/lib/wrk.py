"""Driving wrk with bench/replay.lua and reading back what it recorded."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .server import BenchError

REPLAY_LUA = Path(__file__).resolve().parent.parent / "replay.lua"


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's packages when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: installing Debian's package (apt-get install -y wrk)", flush=True)
        install = ["apt-get", "install", "-y", "-q", "wrk"]
        if subprocess.run(install, capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, check=False)
            subprocess.run(install, capture_output=True, check=False)
        found = shutil.which("wrk")
        if found:
            return found
    raise BenchError("wrk is not installed: run `sudo apt-get install -y wrk` (Debian/Ubuntu)")


@dataclass
class RunResult:
    label: str
    summary: dict[str, float] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    # webhook id -> list of (status, outcome) in the order they were answered
    answers: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    stopped_by_deadline: bool = False
    server_cpu_seconds: float = 0.0  # CPU used by the gunicorn processes during the run
    postgres_cpu_seconds: float = 0.0  # CPU used by the PostgreSQL backends of the database
    wrk_output: str = ""

    @property
    def answered(self) -> int:
        return int(self.summary.get("answered", 0))

    @property
    def sent(self) -> int:
        return int(self.summary.get("sent", 0))

    @property
    def seconds(self) -> float:
        return self.summary.get("active_us", 0) / 1e6

    @property
    def throughput(self) -> float:
        return self.answered / self.seconds if self.seconds > 0 else 0.0

    def latency_ms(self, key: str) -> float:
        return self.summary.get(f"latency_{key}_us", 0) / 1000

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.server_cpu_seconds / self.answered if self.answered else 0.0

    @property
    def postgres_ms_per_request(self) -> float:
        return 1000 * self.postgres_cpu_seconds / self.answered if self.answered else 0.0

    @property
    def socket_errors(self) -> int:
        return int(sum(self.summary.get(f"error_{k}", 0) for k in ("connect", "read", "write")))


def run_wrk(
    wrk: str,
    label: str,
    base_url: str,
    directory: Path,
    threads: int,
    connections: int,
    seconds: int,
    until_done: bool,
    cycle: bool = False,
) -> RunResult:
    """Replay the requests in ``directory`` (one file per thread).

    ``until_done``: stop as soon as every thread has had all its answers (equal number of
    requests); otherwise stop after ``seconds`` (equal duration) or when the requests run out.
    ``cycle``: start over when the requests run out (the no-op baseline, equal duration).
    """
    for stale in directory.glob("done-*"):
        stale.unlink()
    env = {**os.environ, "BENCH_DIR": str(directory), "BENCH_CYCLE": "1" if cycle else "0"}
    command = [
        wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
        "--timeout", "30s", "--latency", "-s", str(REPLAY_LUA), base_url + "/",
    ]
    output_path = directory / "wrk.out"
    with output_path.open("w") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + seconds + 30
        stopped_by_deadline = True
        while process.poll() is None:
            if len(list(directory.glob("done-*"))) >= threads:
                # Every answer is in: end wrk's sleep now instead of waiting for -d.
                stopped_by_deadline = False
                process.send_signal(signal.SIGINT)
                break
            if time.monotonic() > deadline:
                process.kill()
                break
            time.sleep(0.05)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    result = RunResult(label=label, wrk_output=output_path.read_text())
    if process.returncode not in (0, -signal.SIGINT) or not (directory / "summary.txt").exists():
        raise BenchError(f"wrk failed ({process.returncode}):\n{result.wrk_output[-3000:]}")
    result.stopped_by_deadline = stopped_by_deadline and until_done
    for line in (directory / "summary.txt").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "status":
            code, count = value.split()
            result.statuses[int(code)] += int(count)
        else:
            result.summary[key] = float(value)
    for line in (directory / "results.txt").read_text().splitlines():
        webhook_id, _, entries = line.partition(" ")
        answers = result.answers.setdefault(webhook_id, [])
        for entry in entries.split(","):
            status, _, outcome = entry.partition(":")
            answers.append((int(status), outcome))
    for name in ("summary.txt", "results.txt"):
        (directory / name).rename(directory / f"{label}-{name}")
    return result
