#!/usr/bin/env bash
# Builds Manifesto (the browser app with Vite, the server in release mode) and starts it on
# http://localhost:8080 with its data in ./data. On an empty data directory it creates the
# first secretariat account and prints how to log in; on one without documents it creates the
# demonstration Manifesto (in English and in French; `--demo`). Extra arguments go to
# `manifesto serve` (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/manifesto/target}"
(
  cd client
  npm ci --no-audit --no-fund --loglevel=error
  npm run build
)
cargo build --release --locked --bin manifesto
exec "$CARGO_TARGET_DIR/release/manifesto" serve --demo --client-dir client/dist "$@"
