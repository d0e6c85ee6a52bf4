#!/usr/bin/env bash
# HTTP load test: the verify endpoint of mfa-axum and mfa-actix on loopback
# under load, next to a bare endpoint (and a bare endpoint behind the
# session layer) of the same framework. Writes benches/http/RESULTS.md.
#
#   benches/http/run.sh                          # both frameworks
#   FRAMEWORKS=axum ROUNDS=1 DURATION=15s benches/http/run.sh
#
# Per framework: one server, the 64 users logged in once, a warm-up per
# endpoint, then ROUNDS rounds in which the three endpoints take turns, each
# for DURATION (default 3 x 5 s: 15 s of load per endpoint; the report gives
# the median round). The server's CPU time per request is read from /proc.
#
# Needs curl, and wrk (installed with apt-get when missing). The server
# (`http-target`, benches/src/bin/http_target.rs) runs pinned to
# SERVER_CPU, wrk and curl to CLIENT_CPU, when taskset exists and the
# machine has two CPUs or more. Raw logs go to target/http-bench/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

FRAMEWORKS="${FRAMEWORKS:-axum actix}"
DURATION="${DURATION:-5s}"
ROUNDS="${ROUNDS:-3}"
WARMUP="${WARMUP:-2s}"
CONNECTIONS="${CONNECTIONS:-16}"
PORT_BASE="${PORT_BASE:-18480}"
SERVER_CPU="${SERVER_CPU:-1}"
CLIENT_CPU="${CLIENT_CPU:-0}"
USERS=64                        # as http_target.rs enrols them
PASSWORD="bench-password"       # as http_target.rs checks it
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release/http-target"
LUA="$ROOT/benches/http/verify.lua"
OUT="$ROOT/benches/http/RESULTS.md"
LOGS="$TARGET_DIR/http-bench"
mkdir -p "$LOGS"

# ---------------------------------------------------------------- tools

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v wrk >/dev/null 2>&1; then
    echo "== installing wrk" >&2
    if ! as_root apt-get install -y wrk; then
        as_root apt-get update
        as_root apt-get install -y wrk
    fi
fi
command -v curl >/dev/null 2>&1 || { echo "curl is needed" >&2; exit 1; }

SERVER_PIN=()
CLIENT_PIN=()
PINNING="none (taskset missing or fewer than 2 CPUs)"
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    SERVER_PIN=(taskset -c "$SERVER_CPU")
    CLIENT_PIN=(taskset -c "$CLIENT_CPU")
    PINNING="server on CPU $SERVER_CPU, wrk and curl on CPU $CLIENT_CPU (taskset)"
fi

echo "== building http-target (release)" >&2
cargo build --release -p mfa-benches --features http --bin http-target >&2

# ---------------------------------------------------------------- server

SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
trap stop_server EXIT

# start_server FRAMEWORK PORT: starts it and waits for "ready".
start_server() {
    local fw="$1" port="$2" log="$LOGS/server-$1.log"
    # Emptied here, not by the child's redirection: the wait below must not
    # see the "ready" of an earlier run.
    : >"$log"
    "${SERVER_PIN[@]}" "$BIN" "$fw" "$port" >>"$log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 600); do
        if grep -q '^ready' "$log"; then return 0; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "http-target $fw exited:" >&2
            cat "$log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "http-target $fw not ready after 60 s" >&2
    exit 1
}

# login_all PORT FILE: logs every user in; writes "sid=…<TAB>fa_…" lines.
login_all() {
    local port="$1" file="$2" i user answer cookie factor
    : >"$file"
    for i in $(seq 0 $((USERS - 1))); do
        user="$(printf 'bench-user-%02d' "$i")"
        answer="$("${CLIENT_PIN[@]}" curl -sS -D - -H 'Content-Type: application/json' \
            -d "{\"user\":\"$user\",\"password\":\"$PASSWORD\"}" "http://127.0.0.1:$port/login")"
        cookie="$(printf '%s\n' "$answer" | tr -d '\r' | grep -i '^set-cookie: sid=' | tail -n 1 |
            sed -E 's/^[^:]*: *(sid=[^;]*).*/\1/')"
        factor="$(printf '%s\n' "$answer" | grep -o '"id":"fa_[a-z0-9]*"' | head -n 1 | cut -d'"' -f4)"
        if [ -z "$cookie" ] || [ -z "$factor" ] || ! printf '%s' "$answer" | grep -q '"state":"pending"'; then
            echo "login of $user failed:" >&2
            printf '%s\n' "$answer" >&2
            exit 1
        fi
        printf '%s\t%s\n' "$cookie" "$factor" >>"$file"
    done
}

# check PORT PATH COOKIE BODY STATUS: one request as wrk sends it, must
# answer STATUS.
check() {
    local port="$1" path="$2" cookie="$3" body="$4" want="$5" got
    local extra=()
    if [ -n "$cookie" ]; then extra=(-H "Cookie: $cookie"); fi
    got="$("${CLIENT_PIN[@]}" curl -sS -o "$LOGS/check.body" -w '%{http_code}' \
        -H 'Content-Type: application/json' -H "Origin: http://127.0.0.1:$port" \
        -H 'Sec-Fetch-Site: same-origin' "${extra[@]}" -d "$body" "http://127.0.0.1:$port$path")"
    if [ "$got" != "$want" ]; then
        echo "POST $path answered $got, expected $want:" >&2
        cat "$LOGS/check.body" >&2
        exit 1
    fi
}

# ---------------------------------------------------------------- runs

MODES="bare bare-session verify"
INVALID=0
CLK_TCK="$(getconf CLK_TCK)"

# Per "framework/mode": space-separated values, one per round.
declare -A RPS P50 P99 CPUREQ BUSY CLIENT
# Per "framework/mode": totals over the rounds.
declare -A OKS BAD BADSTAT ERRS CLOSED

# field NAME LINE: the value of NAME=… in a RESULT line.
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# cpu_ticks PID: user + system CPU time of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run_wrk PORT MODE DURATION SESSIONS: one wrk run (see verify.lua).
run_wrk() {
    local port="$1" mode="$2" duration="$3" sessions="$4"
    "${CLIENT_PIN[@]}" wrk -t1 -c"$CONNECTIONS" -d"$duration" --latency -s "$LUA" \
        "http://127.0.0.1:$port" -- "$mode" "$sessions" "http://127.0.0.1:$port"
}

# wrk_cmd PORT MODE DURATION SESSIONS: run_wrk's command line, for the report.
wrk_cmd() {
    local port="$1" mode="$2" duration="$3" sessions="$4"
    echo "${CLIENT_PIN[*]} wrk -t1 -c$CONNECTIONS -d$duration --latency -s benches/http/verify.lua" \
        "http://127.0.0.1:$port -- $mode $sessions http://127.0.0.1:$port"
}

# psi: the share of time some runnable task waited for a CPU (last 60 s).
psi() {
    if [ -r /proc/pressure/cpu ]; then
        sed -n 's/^some .*avg60=\([0-9.]*\).*/\1 %/p' /proc/pressure/cpu
    else
        echo "n/a"
    fi
}

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
PSI_START="$(psi)"
declare -A LOAD_AT
port="$PORT_BASE"
for fw in $FRAMEWORKS; do
    port=$((port + 1))
    echo "== $fw on 127.0.0.1:$port" >&2
    start_server "$fw" "$port"
    sessions="$LOGS/sessions-$fw.tsv"
    login_all "$port" "$sessions"
    read -r cookie factor <"$sessions"
    check "$port" /bare "" '{}' 200
    check "$port" /bare-session "$cookie" '{}' 200
    check "$port" /mfa/verify "$cookie" "{\"method\":\"totp\",\"factor_id\":\"$factor\",\"code\":\"000000\"}" 422
    grep -q '"invalid_code"' "$LOGS/check.body" || { echo "verify did not answer invalid_code" >&2; exit 1; }
    LOAD_AT[$fw]="$(cut -d' ' -f1-3 /proc/loadavg)"
    for mode in $MODES; do
        echo "-- $fw $mode: warm-up $WARMUP" >&2
        run_wrk "$port" "$mode" "$WARMUP" "$sessions" >/dev/null
        key="$fw/$mode"
        OKS[$key]=0 BAD[$key]=0 BADSTAT[$key]="" ERRS[$key]="" CLOSED[$key]=0
    done
    # The endpoints take turns, round after round, so that a change in the
    # machine's other load hits all of them alike.
    for round in $(seq 1 "$ROUNDS"); do
        for mode in $MODES; do
            echo "-- $fw $mode: round $round/$ROUNDS, $DURATION" >&2
            log="$LOGS/wrk-$fw-$mode-$round.log"
            before="$(cpu_ticks "$SERVER_PID")"
            # bash's `time`: wrk's user and system CPU seconds, on the last
            # line of the file.
            { TIMEFORMAT='%U %S'; time run_wrk "$port" "$mode" "$DURATION" "$sessions" >"$log"; } \
                2>"$log.time"
            after="$(cpu_ticks "$SERVER_PID")"
            cat "$log" >&2
            line="$(grep '^RESULT ' "$log")"
            key="$fw/$mode"
            requests="$(field requests "$line")"
            secs="$(field duration_s "$line")"
            RPS[$key]+="$(field rps "$line") "
            P50[$key]+="$(field p50_us "$line") "
            P99[$key]+="$(field p99_us "$line") "
            CPUREQ[$key]+="$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$requests" \
                'BEGIN { printf "%.2f", (n > 0 ? t / hz * 1e6 / n : 0) }') "
            BUSY[$key]+="$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v s="$secs" \
                'BEGIN { printf "%.0f", (s > 0 ? 100 * t / hz / s : 0) }') "
            CLIENT[$key]+="$(tail -n 1 "$log.time" | awk -v s="$secs" \
                '{ printf "%.0f", (s > 0 ? 100 * ($1 + $2) / s : 0) }') "
            ok="$(field expected "$line")"
            bad="$(field unexpected "$line")"
            OKS[$key]=$((OKS[$key] + ok))
            BAD[$key]=$((BAD[$key] + bad))
            CLOSED[$key]=$((CLOSED[$key] + $(field connection_close "$line")))
            if [ "$bad" != "0" ]; then BADSTAT[$key]+="$(field unexpected_statuses "$line") "; fi
            ERRS[$key]+="$(field errors_connect "$line")/$(field errors_read "$line")/$(field errors_write "$line")/$(field errors_timeout "$line") "
            # A run where more than 1 % of the answers are not the expected
            # one is invalid.
            closed="$(field connection_close "$line")"
            if ! awk -v ok="$ok" -v bad="$bad" -v c="$closed" \
                'BEGIN { exit !(ok > 0 && bad * 100 <= ok + bad && c * 100 <= ok + bad) }'; then
                echo "!! $key round $round: $bad unexpected answers, $closed closed: run INVALID" >&2
                INVALID=1
            fi
        done
    done
    stop_server
done
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
PSI_END="$(psi)"

# ---------------------------------------------------------------- report

# median "V V V": the middle value (the lower middle of an even count).
median() { printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# span "V V V": "min–max".
span() { printf '%s\n' $1 | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f–%.0f", lo, hi }'; }
us() { awk -v u="$1" 'BEGIN { if (u < 1000) printf "%d µs", u; else printf "%.2f ms", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
share() { awk -v ok="$1" -v bad="$2" 'BEGIN { t = ok + bad; if (t > 0) printf "%.2f %%", 100 * ok / t; else print "-" }'; }

label() {
    case "$1" in
        bare) echo '`POST /bare`' ;;
        bare-session) echo '`POST /bare-session`' ;;
        verify) echo '`POST /mfa/verify` (wrong TOTP code → 422)' ;;
    esac
}

CPU_MODEL="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
{
    echo "# HTTP load: the verify endpoint vs a bare endpoint"
    echo
    echo "Generated by \`benches/http/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo "wrk, one thread, $CONNECTIONS keep-alive connections, over loopback; the server has one"
    echo "worker thread. Each endpoint ran $ROUNDS × $DURATION, the endpoints taking turns; the"
    echo "figures are the median round (req/s also min–max over the rounds)."
    if [ "$INVALID" -ne 0 ]; then
        echo
        echo "**INVALID RUN: some rounds had more than 1 % unexpected answers (see the last column)"
        echo "or of \`Connection: close\` answers (see the notes).**"
    fi
    for fw in $FRAMEWORKS; do
        echo
        case "$fw" in
            axum) echo "## mfa-axum (axum 0.8, tower-sessions \`MemoryStore\`)" ;;
            actix) echo "## mfa-actix (actix-web 4, actix-session with \`mfa_actix::MemorySessionStore\`)" ;;
            *) echo "## $fw" ;;
        esac
        echo
        echo "| endpoint | req/s (min–max) | p50 | p99 | req/s vs \`/bare\` | server CPU per request | CPU vs \`/bare\` | server / wrk CPU busy | answers as expected |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
        base_rps="$(median "${RPS[$fw/bare]}")"
        base_cpu="$(median "${CPUREQ[$fw/bare]}")"
        for mode in $MODES; do
            key="$fw/$mode"
            rps="$(median "${RPS[$key]}")"
            cpu="$(median "${CPUREQ[$key]}")"
            note="$(share "${OKS[$key]}" "${BAD[$key]}")"
            if [ "${BAD[$key]}" != "0" ]; then note="$note (other: ${BADSTAT[$key]% })"; fi
            printf '| %s | %.0f (%s) | %s | %s | %s | %.1f µs | %s | %s %% / %s %% | %s |\n' \
                "$(label "$mode")" "$rps" "$(span "${RPS[$key]}")" \
                "$(us "$(median "${P50[$key]}")")" "$(us "$(median "${P99[$key]}")")" \
                "$(ratio "$rps" "$base_rps")" "$cpu" "$(ratio "$cpu" "$base_cpu")" \
                "$(median "${BUSY[$key]}")" "$(median "${CLIENT[$key]}")" "$note"
        done
    done
    echo
    echo "Server CPU per request: the server process's user + system CPU time during"
    echo "the round (\`/proc/PID/stat\`, ${CLK_TCK} ticks/s) divided by the requests"
    echo "answered. It depends less on the machine's other load than req/s does."
    echo "Server / wrk CPU busy: each one's CPU time over the round's wall time (100 % ="
    echo "a core fully used). When neither is near 100 %, both spent much of the round"
    echo "waiting for a CPU held by other jobs (see the CPU pressure below): req/s and"
    echo "latencies then measure the machine's contention as much as the code, while"
    echo "the CPU per request still compares the endpoints. Every column is the median"
    echo "of the rounds on its own."
    echo
    echo "## How it was measured"
    echo
    echo "- Machine: $(nproc) CPUs ($CPU_MODEL), $(uname -sr); shared with other jobs."
    echo "  Load average (1/5/15 min): $LOAD_START at the start,"
    for fw in $FRAMEWORKS; do
        echo "  ${LOAD_AT[$fw]} before the $fw runs,"
    done
    echo "  $LOAD_END at the end. CPU pressure (\`/proc/pressure/cpu\`, some, avg60):"
    echo "  $PSI_START at the start, $PSI_END at the end."
    echo "- $(rustc --version), release profile; $(wrk -v 2>&1 | head -n 1 | sed -E 's/ Copyright.*//')."
    echo "- Pinning: $PINNING."
    echo "  The server runs one worker: a tokio multi-thread runtime with \`worker_threads(1)\`"
    echo "  (axum), \`HttpServer::workers(1)\` (actix)."
    echo "- Command, per endpoint and round (MODE \`bare\`, \`bare-session\`, \`verify\`; a"
    echo "  $WARMUP warm-up run of each endpoint first, not counted):"
    echo
    echo '  ```sh'
    echo "  $(wrk_cmd PORT MODE "$DURATION" SESSIONS.tsv)"
    echo '  ```'
    echo
    echo "  \`verify.lua\` pre-builds one request per session and rotates over the $USERS"
    echo "  sessions; it checks every answer (status, and \`\"error\":\"invalid_code\"\` for"
    echo "  verify) and counts the others, and the answers with \`Connection: close\`"
    echo "  (keep-alive broken: the run would measure TCP set-up). wrk socket errors"
    echo "  (connect/read/write/timeout, per round) and \`Connection: close\` answers:"
    for fw in $FRAMEWORKS; do
        for mode in $MODES; do
            echo "  $fw $mode: ${ERRS[$fw/$mode]% }; ${CLOSED[$fw/$mode]} closed."
        done
    done
    echo "- Every request is a \`POST\` with \`Content-Type: application/json\`,"
    echo "  \`Origin: http://127.0.0.1:PORT\` (same origin) and \`Sec-Fetch-Site: same-origin\`,"
    echo "  as a browser sends them (they pass \`mfa_core::http::csrf_check\`)."
    echo "- Endpoints (\`benches/src/bin/http_target.rs\`):"
    echo "  - \`/bare\`: the framework's minimal JSON handler: parses the JSON body \`{}\`"
    echo "    (\`Json<serde_json::Value>\`), answers \`{\"ok\":true}\`; no session layer, no"
    echo "    MFA guard, no cookie. The baseline. (It must read the body: an actix-web"
    echo "    handler that leaves a POST body unread gets its connection closed after"
    echo "    the answer, \`connection: close\`, and the run then measures TCP set-up.)"
    echo "  - \`/bare-session\`: the same handler behind the same session layer as the MFA"
    echo "    routes (no MFA guard); it reads one session key, so the session is loaded"
    echo "    from the in-memory session store. The request carries a pending session's"
    echo "    cookie. What the session layer costs."
    echo "  - \`/mfa/verify\`: the MFA route with the session layer, the MFA guard (the"
    echo "    engine's \`check_session\`) and the CSRF rule; body"
    echo "    \`{\"method\":\"totp\",\"factor_id\":\"fa_…\",\"code\":\"000000\"}\` for the pending"
    echo "    login of one of $USERS users (each logged in once with the fake \`POST /login\`"
    echo "    before the runs, each with one confirmed TOTP factor); the code is"
    echo "    well-formed and wrong: \`422 invalid_code\`. The engine reserves an attempt"
    echo "    (the account failure count), loads the factor, opens the sealed seed and"
    echo "    compares HOTP codes over the allowed steps, and emits a \`VerifyFailed\`"
    echo "    event (default \`TracingSink\`, no subscriber installed)."
    echo "- Engine: \`MemoryStore\`, \`Keys::generate_ephemeral\`, policy"
    echo "  \`Policy::required_from(Timestamp::EPOCH)\`, system clock, default configuration"
    echo "  except the lock-out below."
    echo "- **Bench-only lock-out setting.** A run sends over a thousand wrong codes to"
    echo "  each of the $USERS accounts, which would lock them (back-off from the 5th"
    echo "  failure, hard stop at 100). \`MfaConfig::builder\` refuses a \`hard_stop\` above"
    echo "  100, so lock-out cannot be switched off through it: the engine is built with"
    echo "  \`LockoutRules { free_failures: 98, hard_stop: 100, .. }\` and a side thread of"
    echo "  \`http-target\` clears every user's failure count (\`MfaStore::clear_failures\`)"
    echo "  every 50 ms, so no account reaches the back-off (a locked account would answer"
    echo "  \`423\`, counted as unexpected). The verify path does the same work as in"
    echo "  production (the attempt is reserved and counted). Never use this arrangement"
    echo "  outside a bench."
    echo "- Caveats: wrk measures latency from its own send time (not corrected for"
    echo "  coordinated omission; these are closed-loop figures at $CONNECTIONS connections);"
    echo "  client and server share the machine and the loopback; the machine is shared"
    echo "  with other jobs (see the load average), so compare rows within a framework"
    echo "  rather than absolute numbers, and prefer the CPU-per-request columns. When wrk"
    echo "  (one thread, with a Lua \`response\` callback) is near 100 % busy on \`/bare\`,"
    echo "  the client is the limit there, and the req/s ratios are upper bounds of the"
    echo "  cost. On the 2-vCPU VM this was first run on, pinning server and wrk to the"
    echo "  same CPU gave about 40 % more req/s on \`/bare\` than two CPUs (for the same"
    echo "  server CPU per request): with neither side saturated, cross-CPU wake-ups"
    echo "  weigh on the req/s and latency figures."
} >"$OUT"

echo "== wrote $OUT" >&2
cat "$OUT"
exit "$INVALID"
