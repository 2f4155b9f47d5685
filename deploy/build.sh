#!/usr/bin/env bash
# Builds Manifesto for installation, the same way in the container image (deploy/Dockerfile
# runs each step in its own stage) and outside it (CI runs it in scripts/test.sh; an operator
# installing without containers runs it too):
#
#   deploy/build.sh client                 # client/dist: npm ci && npm run build
#   deploy/build.sh server [--profile P]   # the manifesto binary (cargo build --locked)
#   deploy/build.sh install DIR            # DIR/bin/manifesto, DIR/share/manifesto/client
#   deploy/build.sh all DIR                # the three, in that order
#
# --profile is release by default; CI uses dev, to reuse the test build. Needs Node.js 20+
# and npm for the client, Rust (cargo) for the server.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --profile=*) profile="${1#--profile=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
set -- "${args[@]}"
[ $# -ge 1 ] || { sed -n '2,13p' "$0" >&2; exit 2; }

target_dir="${CARGO_TARGET_DIR:-target}"
case "$profile" in
  dev) profile_dir=debug ;;
  *) profile_dir="$profile" ;;
esac

build_client() {
  if [ ! -f client/package.json ]; then
    echo "deploy/build.sh: client/package.json not found: the browser app is not in this tree" >&2
    exit 1
  fi
  (cd client && npm ci --no-audit --no-fund --loglevel=error && npm run build)
  test -f client/dist/index.html || { echo "deploy/build.sh: client/dist/index.html missing after the build" >&2; exit 1; }
}

build_server() {
  cargo build --locked --profile "$profile" -p manifesto-server --bin manifesto
}

install_into() {
  local prefix="$1"
  install -d "$prefix/bin" "$prefix/share/manifesto"
  install -m 0755 "$target_dir/$profile_dir/manifesto" "$prefix/bin/manifesto"
  rm -rf "$prefix/share/manifesto/client"
  cp -r client/dist "$prefix/share/manifesto/client"
  echo "installed into $prefix: bin/manifesto, share/manifesto/client"
}

case "$1" in
  client) build_client ;;
  server) build_server ;;
  install) [ $# -eq 2 ] || { echo "usage: deploy/build.sh install DIR" >&2; exit 2; }; install_into "$2" ;;
  all) [ $# -eq 2 ] || { echo "usage: deploy/build.sh all DIR" >&2; exit 2; }; build_client; build_server; install_into "$2" ;;
  *) echo "deploy/build.sh: unknown step $1 (client, server, install, all)" >&2; exit 2 ;;
esac
