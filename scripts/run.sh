#!/usr/bin/env bash
# `make run`: the web app on http://$HOST:$PORT and, beside it, the dispatcher that sends due
# review requests inline (no REDIS_URL). SQLite and .eml files in the instance folder by default.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=.venv/bin
host=${HOST:-127.0.0.1}
port=${PORT:-5000}

"$bin/flask" --app wsgi dispatch &
dispatcher=$!
trap 'kill "$dispatcher" 2>/dev/null || true; wait "$dispatcher" 2>/dev/null || true' EXIT

echo "King-Avis on http://$host:$port  (data: ${DATABASE_URL:-${KINGAVIS_INSTANCE_PATH:-instance}/kingavis.db}, mail: ${MAIL_URL:-${KINGAVIS_INSTANCE_PATH:-instance}/outbox/*.eml}); Ctrl-C stops" >&2
"$bin/flask" --app wsgi run --host "$host" --port "$port" --no-reload
