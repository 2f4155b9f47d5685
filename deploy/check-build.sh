#!/usr/bin/env bash
# The container's build, outside Docker (CI runs this; no Docker engine runs there): the
# steps deploy/Dockerfile runs, through deploy/build.sh, with the dev profile (the tests'
# build, reused; the image uses release), installed into a temporary prefix; then the
# installed server started the way the runtime image starts it (its environment, JSON logs)
# and checked: its health check, the app, a backup through the admin socket, a clean stop.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix="$(mktemp -d)"
data="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$prefix" "$data"
}
trap cleanup EXIT
fail() { echo "check-build: $*" >&2; exit 1; }

deploy/build.sh server --profile dev
if [ -f client/package.json ]; then
  deploy/build.sh client
  deploy/build.sh install "$prefix" --profile dev
  expect_app=200
else
  # The browser app is not in this tree: the server alone, which says so at /.
  echo "check-build: no client/ in this tree; the server is checked without the app"
  install -D -m 0755 "${CARGO_TARGET_DIR:-target}/debug/manifesto" "$prefix/bin/manifesto"
  expect_app=503
fi

# As the runtime image runs it (deploy/Dockerfile's ENV), on a free loopback port.
MANIFESTO_LISTEN=127.0.0.1:0 \
MANIFESTO_DATA="$data/data" \
MANIFESTO_CLIENT_DIR="$prefix/share/manifesto/client" \
MANIFESTO_LOG_FORMAT=json \
MANIFESTO_ADMIN_PASSWORD="a sovereign and solidary future" \
  "$prefix/bin/manifesto" serve >"$data/stdout" 2>"$data/stderr" &
server_pid=$!
address=""
for _ in $(seq 1 200); do
  address="$(sed -n 's#^manifesto listening on http://##p' "$data/stdout" | head -n 1)"
  [ -n "$address" ] && break
  kill -0 "$server_pid" 2>/dev/null || fail "the server exited: $(cat "$data/stderr")"
  sleep 0.05
done
[ -n "$address" ] || fail "no listening line: $(cat "$data/stdout" "$data/stderr")"

# The image's HEALTHCHECK.
ready=""
for _ in $(seq 1 200); do
  if curl -fsS -o /dev/null "http://$address/readyz"; then ready=1; break; fi
  sleep 0.05
done
[ -n "$ready" ] || fail "/readyz never answered 200"

status="$(curl -s -o "$data/index" -w '%{http_code}' "http://$address/")"
[ "$status" = "$expect_app" ] || fail "GET / answered $status, expected $expect_app"
if [ "$expect_app" = 200 ]; then
  grep -qi '<!doctype html' "$data/index" || fail "GET / is not the app's page"
fi

"$prefix/bin/manifesto" backup --data "$data/data" --out "$data/check.mfbk" \
  | grep -q "backup of the running server" || fail "no backup through the admin socket"

kill -TERM "$server_pid"
wait "$server_pid" || fail "the server did not stop cleanly: $(tail -n 5 "$data/stderr")"
server_pid=""
# Every log line is one JSON object.
if grep -qv '^{' "$data/stderr"; then fail "a log line is not JSON: $(grep -v '^{' "$data/stderr" | head -n 1)"; fi
echo "check-build: the installed build serves, answers its health check, backs up and stops cleanly"
