#!/usr/bin/env bash
# Builds Manifesto in release mode and starts it on http://localhost:8080 with its data in
# ./data. On a data directory without documents it creates the demonstration Manifesto (in
# English and in French; `--demo`). Extra arguments go to `manifesto serve` (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/manifesto/target}"
cargo build --release --locked --bin manifesto
exec "$CARGO_TARGET_DIR/release/manifesto" serve --demo "$@"
