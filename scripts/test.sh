#!/usr/bin/env bash
# Runs every test of the project: the browser app's type check and unit tests (Vitest) and its
# build; Rust (unit, integration, crash, convergence); the Node interoperability tests with the
# unmodified yjs + y-websocket packages; and the browser tests in headless Chromium.
# Needs: Rust (cargo), Node.js and npm. Installs what the tests need itself: the npm packages
# (npm ci), and Debian's poppler-utils (export tests) and chromium (browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."

# A stable target directory outside the clone keeps builds cached between runs and clones.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/manifesto/target}"

step() { printf '\n==> %s\n' "$*"; }

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
# The export tests read the PDFs back with poppler's pdftotext and pdfinfo; the browser tests
# drive Debian's Chromium (playwright-core never downloads a browser).
missing=()
command -v pdftotext >/dev/null && command -v pdfinfo >/dev/null || missing+=(poppler-utils)
[ -x "${CHROMIUM_BIN:-/usr/bin/chromium}" ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  step "install ${missing[*]} (Debian packages the tests need)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

step "browser app: npm ci, type check, unit tests (Vitest), build"
(
  cd client
  npm ci --no-audit --no-fund --loglevel=error
  npm run typecheck
  npm test
  npm run build
)

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

step "browser tests (headless Chromium, playwright-core, axe-core)"
(
  cd tests/e2e
  npm ci --no-audit --no-fund --loglevel=error
  MANIFESTO_BIN="$CARGO_TARGET_DIR/debug/manifesto" npm test
  echo "screenshots of the main views: tests/e2e/artifacts/"
)
