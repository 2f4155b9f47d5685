#!/usr/bin/env bash
# Runs every test of the project: Rust (unit, integration, crash, convergence) and the Node
# interoperability tests with the unmodified yjs + y-websocket packages.
# Needs: Rust (cargo), Node.js and npm. Installs the npm packages it needs itself, and
# Debian's poppler-utils for the export tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# A stable target directory outside the clone keeps builds cached between runs and clones.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/manifesto/target}"

step() { printf '\n==> %s\n' "$*"; }

# The export tests read the PDFs back with poppler's pdftotext and pdfinfo.
if ! command -v pdftotext >/dev/null || ! command -v pdfinfo >/dev/null; then
  step "install poppler-utils (pdftotext, pdfinfo) for the export tests"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq poppler-utils >/dev/null
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked

step "node interoperability tests (npm yjs + y-websocket)"
(
  cd tests/node
  npm ci --no-audit --no-fund --loglevel=error
  MANIFESTO_BIN="$CARGO_TARGET_DIR/debug/manifesto" npm test
)
