#!/usr/bin/env bash
# `make run`: the web app on http://$HOST:$PORT and, beside it, the dispatcher that sends due
# review requests inline (no REDIS_URL). SQLite and .eml files in the instance folder by default.
#
# The address served is recorded as KINGAVIS_BASE_URL in the checkout's .env, which every
# `flask --app wsgi …` command, the dispatcher and the RQ worker read: webhook URLs printed in
# another shell and the links in emails all point here. A variable exported in the shell still
# wins over .env (export KINGAVIS_BASE_URL for a public address in front of this one).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=.venv/bin
host=${HOST:-127.0.0.1}
port=${PORT:-5000}
case "$host" in
    0.0.0.0 | :: | "[::]") link_host=127.0.0.1 ;;  # listening everywhere: link to this machine
    *) link_host=$host ;;
esac
base_url=${KINGAVIS_BASE_URL:-http://$link_host:$port}
"$bin/dotenv" --file .env --quote never set KINGAVIS_BASE_URL "$base_url" >/dev/null
export KINGAVIS_BASE_URL=$base_url

"$bin/flask" --app wsgi dispatch &
dispatcher=$!
trap 'kill "$dispatcher" 2>/dev/null || true; wait "$dispatcher" 2>/dev/null || true' EXIT

echo "King-Avis on http://$host:$port, links to $base_url (recorded in .env); data: ${DATABASE_URL:-${KINGAVIS_INSTANCE_PATH:-instance}/kingavis.db}, mail: ${MAIL_URL:-${KINGAVIS_INSTANCE_PATH:-instance}/outbox/*.eml}; Ctrl-C stops" >&2
"$bin/flask" --app wsgi run --host "$host" --port "$port" --no-reload
