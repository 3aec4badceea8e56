"""Where a request's time goes, from py-spy's raw (collapsed) stacks of the gunicorn workers.

py-spy samples threads that are on the CPU (not those waiting for PostgreSQL or Redis: the
statement profile covers those), which is where the workers' time goes once the two cores
are busy; only samples taken inside a request (below Flask's ``full_dispatch_request``) are
counted.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

REQUEST_FRAME = "full_dispatch_request"
PROJECT = re.compile(r"(^|/)(kingavis|webhooks)/")
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")

# Leaf-frame buckets, first match wins (file path fragments).
BUCKETS = [
    ("PostgreSQL round trips (psycopg waiting / executing)", ("psycopg/", "psycopg_binary", "psycopg_c")),
    ("Redis", ("redis/",)),
    ("SQLAlchemy (ORM, SQL compilation, results)", ("sqlalchemy/",)),
    ("marshmallow (schema load)", ("marshmallow/",)),
    ("standardwebhooks / hmac / base64", ("standardwebhooks/", "hmac.py", "base64.py")),
    ("json", ("json/",)),
    ("logging", ("logging/",)),
    ("Flask / Werkzeug", ("flask/", "werkzeug/", "flask_sqlalchemy/", "flask_wtf/", "flask_login/")),
    ("project code (kingavis/, webhooks/)", ("kingavis/", "(webhooks/")),
]


def _is_project(frame: str) -> bool:
    match = FRAME.match(frame)
    path = match.group("file") if match else ""
    return "site-packages" not in path and PROJECT.search(path) is not None


def _short(frame: str, line: bool = False) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    path = match.group("file")
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    for root in ("/kingavis/", "/webhooks/", "/bench/"):
        if root in path:
            path = root.strip("/") + "/" + path.split(root, 1)[1]
    where = f"{path}:{match.group('line')}" if line and match.group("line") else path
    return f"{match.group('func')} ({where})"


def load(paths: list[Path]) -> list[tuple[list[str], int]]:
    stacks = []
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = stack.split(";")
            if any(REQUEST_FRAME in f for f in frames):
                stacks.append((frames, int(count)))
    return stacks


def summarize(paths: list[Path], top: int = 30) -> str:
    stacks = load(paths)
    total = sum(n for _, n in stacks)
    if not total:
        return "profile: no samples inside a request (is py-spy allowed to attach? run as root)"
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    sites: Counter[str] = Counter()
    for frames, n in stacks:
        site = next((f for f in reversed(frames) if _is_project(f)), None)
        if site is not None:
            sites[_short(site, line=True)] += n
        for name in {_short(f) for f in frames}:
            inclusive[name] += n
        leaf[_short(frames[-1])] += n
        where = frames[-1]
        for label, fragments in BUCKETS:
            if any(fragment in where for fragment in fragments):
                buckets[label] += n
                break
        else:
            buckets["other (stdlib, interpreter)"] += n
    lines = [f"profile: {total} on-CPU samples inside requests (py-spy, all workers)",
             "  by leaf frame:"]
    lines += [f"    {100 * n / total:5.1f}%  {label}" for label, n in buckets.most_common()]
    lines.append("  inclusive (function and what it calls):")
    shown = 0
    for name, n in inclusive.most_common():
        if any(skip in name for skip in ("gunicorn/", "threading.py", "concurrent/", "<module>")):
            continue
        lines.append(f"    {100 * n / total:5.1f}%  {name}")
        shown += 1
        if shown >= top:
            break
    lines.append("  deepest project line on the stack (where the time is spent from our code):")
    lines += [f"    {100 * n / total:5.1f}%  {name}" for name, n in sites.most_common(top)]
    lines.append("  self (leaf frames):")
    lines += [f"    {100 * n / total:5.1f}%  {name}" for name, n in leaf.most_common(15)]
    return "\n".join(lines)
