#!/usr/bin/env bash
# Runs every manifesto-load scenario against our server, the y-websocket reference server
# (npm y-websocket@1.5.4 with yjs@13) and y-sweet 0.9.1, one server at a time on loopback, and
# prints one markdown table (figure, ours, each peer, ratio).
#
# Peers are installed into a cache outside the repository (default ~/.cache/manifesto/bench);
# the first y-sweet install compiles for a long time on two cores. Each scenario gets a freshly
# started server, so memory figures do not carry over from earlier scenarios.
#
# Ours refuses anonymous WebSockets: before each of its servers starts, the script makes a
# fresh data directory holding a delegate account (bench@example.org) and API token(s) with
# `manifesto user add` and `manifesto token create`, and gives them to manifesto-load through
# MANIFESTO_LOAD_TOKEN (`?token=` on every URL). The peers get no token. Each token admits a
# burst of 2,000 upgrades, then 50/s; MANIFESTO_BENCH_TOKENS=N makes N tokens, used in turn.
# Ours also serves only documents that exist (404 otherwise): the data directory gets a
# secretariat account (bench-secretariat@example.org) with one token, which manifesto-load
# uses (MANIFESTO_LOAD_SECRETARIAT_TOKEN, --create-documents) to create each document with
# POST /api/documents before joining it. The peers create documents on first connect.
#
# Usage: bench/compare.sh [--scale full|small|smoke] [--servers ours,node,y-sweet]
#                         [--scenarios plenary,plenary-quiet,drafting,idle,reconnect-storm,
#                                      cold-open,durable-throughput] [--out FILE]
# Environment: MANIFESTO_BENCH_CACHE, MANIFESTO_TRACE, MANIFESTO_BENCH_TOKENS (2),
#              CARGO_TARGET_DIR.
set -euo pipefail
unset MANIFESTO_LOAD_TOKEN MANIFESTO_LOAD_SECRETARIAT_TOKEN # only ours gets tokens, those made below

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${MANIFESTO_BENCH_CACHE:-$HOME/.cache/manifesto/bench}
TRACE=${MANIFESTO_TRACE:-/work/shared/traces/automerge-paper.json.gz}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
# Two tokens by default: in a real plenary each delegate has their own credential, and two
# keep the full-scale reconnect storm (3,001 upgrades in ~4 s) within each token's burst.
N_TOKENS=${MANIFESTO_BENCH_TOKENS:-2}
SCALE=full
SERVERS=ours,node,y-sweet
SCENARIOS=plenary,plenary-quiet,drafting,idle,reconnect-storm,cold-open,durable-throughput
OUT=""

while [ $# -gt 0 ]; do
    case "$1" in
        --scale) SCALE=$2; shift 2 ;;
        --servers) SERVERS=$2; shift 2 ;;
        --scenarios) SCENARIOS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done

case "$SCALE" in
    full)  CROWD=1500; DRAFT=100; WRITERS=20; PLENARY_SECS=30; DRAFT_SECS=20; HOLD=20; DURABLE_SECS=20 ;;
    small) CROWD=150;  DRAFT=30;  WRITERS=5;  PLENARY_SECS=10; DRAFT_SECS=10; HOLD=10; DURABLE_SECS=10 ;;
    # A check that every server starts and every scenario connects; its figures mean nothing.
    smoke) CROWD=10;   DRAFT=10;  WRITERS=2;  PLENARY_SECS=3;  DRAFT_SECS=3;  HOLD=3;  DURABLE_SECS=3 ;;
    *) echo "compare.sh: --scale must be full, small or smoke" >&2; exit 2 ;;
esac

[[ "$N_TOKENS" =~ ^[1-9][0-9]?$ ]] || { echo "compare.sh: MANIFESTO_BENCH_TOKENS must be 1-99" >&2; exit 2; }
[ -f "$TRACE" ] || { echo "compare.sh: trace $TRACE not found; set MANIFESTO_TRACE" >&2; exit 1; }
RESULTS="$CACHE/results/$(date +%Y%m%d-%H%M%S)-$SCALE"
mkdir -p "$RESULTS"
OUT=${OUT:-$RESULTS/table.md}
LOG="$RESULTS/summary.log"

log() { echo "$*" | tee -a "$LOG" >&2; }

# --- install and build -------------------------------------------------------------------

log "== building manifesto-load (release)"
(cd "$REPO" && cargo build --release -q -p manifesto-load)
LOAD="$TARGET_DIR/release/manifesto-load"

OURS_BIN=""
if [[ ",$SERVERS," == *",ours,"* ]]; then
    if (cd "$REPO" && cargo build --release -q -p manifesto-server --bin manifesto 2>/dev/null) \
        && "$TARGET_DIR/release/manifesto" serve --help 2>&1 | grep -q -- '--listen'; then
        OURS_BIN="$TARGET_DIR/release/manifesto"
    else
        log "== skipping ours: this branch has no 'manifesto serve' yet (it arrives with the server merge)"
    fi
fi

NODE_SERVER="$CACHE/node/node_modules/y-websocket/bin/server.js"
if [[ ",$SERVERS," == *",node,"* ]] && [ ! -f "$NODE_SERVER" ]; then
    log "== installing y-websocket@1.5.4 and yjs@13 into $CACHE/node"
    mkdir -p "$CACHE/node"
    npm install --prefix "$CACHE/node" --no-audit --no-fund --silent y-websocket@1.5.4 yjs@13 >&2
fi

YSWEET="$CACHE/y-sweet/bin/y-sweet"
if [[ ",$SERVERS," == *",y-sweet,"* ]] && [ ! -x "$YSWEET" ]; then
    log "== installing y-sweet 0.9.1 into $CACHE/y-sweet (compiles for a long time)"
    cargo install y-sweet --version 0.9.1 --locked --root "$CACHE/y-sweet" >&2
fi

# --- servers ---------------------------------------------------------------------------------

SERVER_PID=""
SERVER_DATA=""
OURS_TOKENS="" # comma-separated API tokens of the current data directory of ours
OURS_SECRETARIAT_TOKEN="" # its secretariat's token, to create documents
TOKEN_BURST=2000 # per token: upgrades admitted at once, then 50/s (server/src/auth/limits.rs)

prepare_ours() { # data-dir log: a delegate account and N_TOKENS API tokens, a secretariat
    # account and its token (to create the documents), server stopped
    local data=$1 logfile=$2 i token tokens=()
    add_account "$data" "$logfile" bench@example.org delegate Bench || return 1
    for i in $(seq 1 "$N_TOKENS"); do
        token=$("$OURS_BIN" token create --data "$data" --email bench@example.org \
            --name "bench-$i" 2>>"$logfile") || return 1
        [ -n "$token" ] || return 1
        tokens+=("$token")
    done
    OURS_TOKENS=$(IFS=,; echo "${tokens[*]}")
    add_account "$data" "$logfile" bench-secretariat@example.org secretariat 'Bench secretariat' || return 1
    OURS_SECRETARIAT_TOKEN=$("$OURS_BIN" token create --data "$data" \
        --email bench-secretariat@example.org --name bench-documents 2>>"$logfile") || return 1
    [ -n "$OURS_SECRETARIAT_TOKEN" ] || return 1
}

add_account() { # data-dir log email role name: an account with a random password
    local data=$1 logfile=$2 email=$3 role=$4 name=$5 password
    password="bench-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
    printf '%s\n' "$password" | "$OURS_BIN" user add --data "$data" --email "$email" \
        --role "$role" --name "$name" >>"$logfile" 2>&1
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_listening() { # port: poll until the port accepts connections (at most 30 s)
    local port=$1 i
    for i in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then return 1; fi
        sleep 0.1
    done
    return 1
}

start_server() { # name port data-dir log
    local name=$1 port=$2 data=$3 logfile=$4
    case "$name" in
        ours) "$OURS_BIN" serve --listen "127.0.0.1:$port" --data "$data" >>"$logfile" 2>&1 & ;;
        node) HOST=127.0.0.1 PORT=$port node "$NODE_SERVER" >>"$logfile" 2>&1 & ;;
        y-sweet) "$YSWEET" serve "$data" --host 127.0.0.1 --port "$port" \
                     --checkpoint-freq-seconds 1 >>"$logfile" 2>&1 & ;;
    esac
    SERVER_PID=$!
    wait_listening "$port" || { log "   $name did not start; see $logfile"; return 1; }
}

stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}

cleanup() {
    stop_server
    if [ -n "$SERVER_DATA" ]; then rm -rf "$SERVER_DATA"; fi
}
trap cleanup EXIT

url_template() { # name port
    case "$1" in
        y-sweet) echo "ws://127.0.0.1:$2/d/{doc}/ws/{doc}" ;;
        *) echo "ws://127.0.0.1:$2/ws/{doc}" ;;
    esac
}

# --- scenarios -------------------------------------------------------------------------------

load() { # name port json-file args...: one bounded manifesto-load run
    local name=$1 port=$2 json=$3; shift 3
    local auth=() ours_only=()
    if [ "$name" = ours ]; then
        auth=(env "MANIFESTO_LOAD_TOKEN=$OURS_TOKENS" "MANIFESTO_LOAD_SECRETARIAT_TOKEN=$OURS_SECRETARIAT_TOKEN")
        ours_only=(--create-documents) # the peers create documents on first connect
    fi
    timeout 900 "${auth[@]}" "$LOAD" --url "$(url_template "$name" "$port")" --label "$name" --connect-timeout-secs 45 \
        "${ours_only[@]}" --server-pid "$SERVER_PID" --trace "$TRACE" --json "$json" "$@" 2>>"$RESULTS/$name.stderr" \
        | tee -a "$LOG" || log "   $name $1 failed; see $RESULTS/$name.stderr"
}

scenario_args() {
    case "$1" in
        plenary) echo "plenary --clients $CROWD --writers $WRITERS --duration-secs $PLENARY_SECS" ;;
        # The same without awareness, to tell the edit relay from the all-to-all awareness fan-out.
        plenary-quiet) echo "plenary --clients $CROWD --writers $WRITERS --duration-secs $PLENARY_SECS --no-awareness --tag quiet" ;;
        drafting) echo "drafting --clients $DRAFT --writers $WRITERS --duration-secs $DRAFT_SECS" ;;
        idle) echo "idle --clients $CROWD --hold-secs $HOLD" ;;
        reconnect-storm) echo "reconnect-storm --clients $CROWD --timeout-secs 45" ;;
        durable-throughput) echo "durable-throughput --duration-secs $DURABLE_SECS" ;;
    esac
}

run_scenario() { # name scenario
    local name=$1 scenario=$2 port json
    port=$(free_port)
    json="$RESULTS/$name-$scenario.json"
    SERVER_DATA=$(mktemp -d)
    local slog="$RESULTS/$name-$scenario.server.log"
    if [ "$name" = ours ]; then
        prepare_ours "$SERVER_DATA" "$slog" || { log "   ours: cannot create the bench accounts and tokens; see $slog"; return 0; }
        if [ "$scenario" = reconnect-storm ] && [ $((2 * CROWD + 1)) -gt $((TOKEN_BURST * N_TOKENS)) ]; then
            log "   note: reconnect-storm opens $((2 * CROWD + 1)) WebSockets within seconds on $N_TOKENS token(s) of burst $TOKEN_BURST (then 50/s each); expect HTTP 429 on reconnect (MANIFESTO_BENCH_TOKENS=$(( (2 * CROWD + TOKEN_BURST) / TOKEN_BURST )) avoids it)"
        fi
    fi
    start_server "$name" "$port" "$SERVER_DATA" "$slog" || return 0
    log "-- $name $scenario (pid $SERVER_PID, port $port, loadavg $(cut -d' ' -f1-3 /proc/loadavg))"
    if [ "$scenario" = cold-open ]; then
        local doc="coldopen$(date +%s)"
        if [ "$name" = node ]; then
            # No persistence in the reference server: the document stays warm in memory.
            load "$name" "$port" "$json" cold-open --phase all --doc "$doc"
        else
            load "$name" "$port" "$RESULTS/$name-cold-open-build.json" cold-open --phase build --doc "$doc"
            sleep 3 # y-sweet checkpoints every second; ours flushes before relaying
            stop_server
            start_server "$name" "$port" "$SERVER_DATA" "$slog" || return 0
            load "$name" "$port" "$json" cold-open --phase measure --doc "$doc"
        fi
    else
        # shellcheck disable=SC2046 # word splitting of the argument list is intended
        load "$name" "$port" "$json" $(scenario_args "$scenario")
    fi
    stop_server
    if [ "$name" = ours ]; then
        # Edits are relayed once durable: a stalled disk flush delays every edit behind it.
        local slow
        slow=$({ grep -o 'slow store flush flush_ms=[0-9]*' "$slog" || true; } | sed 's/.*=//' | paste -sd, -)
        [ -z "$slow" ] || log "   ours $scenario: slow store flushes (ms): $slow"
    fi
    rm -rf "$SERVER_DATA"
    SERVER_DATA=""
}

log "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB"
log "== versions: $("$LOAD" --version); node $(node --version 2>/dev/null || echo none); y-sweet 0.9.1"
log "== scale $SCALE, results in $RESULTS"
if [[ ",$SERVERS," == *",ours,"* ]]; then
    log "== ours: account bench@example.org (delegate), $N_TOKENS API token(s) made with the CLI per server; documents created first by bench-secretariat@example.org"
fi
IFS=, read -r -a server_list <<<"$SERVERS"
IFS=, read -r -a scenario_list <<<"$SCENARIOS"
for name in "${server_list[@]}"; do
    case "$name" in
        ours) [ -n "$OURS_BIN" ] || continue ;;
        node|y-sweet) ;;
        *) log "== unknown server $name (ours, node, y-sweet)"; continue ;;
    esac
    for scenario in "${scenario_list[@]}"; do
        run_scenario "$name" "$scenario"
    done
done

peers=$(echo "$SERVERS" | tr ',' '\n' | { grep -v '^ours$' || true; } | paste -sd, -) # none with --servers ours
shopt -s nullglob
files=()
for f in "$RESULTS"/*.json; do
    case "$f" in *-cold-open-build.json) ;; *) files+=("$f") ;; esac
done
if [ ${#files[@]} -eq 0 ]; then
    log "== no results"; exit 1
fi
"$LOAD" table --ours ours --peers "$peers" --out "$OUT" "${files[@]}"
log "== table written to $OUT"
