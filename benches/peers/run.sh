#!/usr/bin/env bash
# TOTP verification, side by side: mfa-rs (criterion, this workspace) next to
# pyotp, npm otpauth and django-otp. Writes benches/peers/RESULTS.md.
#
#   benches/peers/run.sh                     # everything, ~10 min on 2 cores
#   PEERS_SKIP_CARGO=1 benches/peers/run.sh  # peers only; our figures are read
#                                            # from the last criterion run
#
# Knobs: PEERS_REPEATS (7), PEERS_PY_REPEAT_SECS / PEERS_JS_REPEAT_SECS (0.5 s
# per repeat), PEERS_DJANGO_USERS (1000), PEERS_FRESH=1 (rebuild the venv and
# node dir), PYTHON (python3), CARGO_TARGET_DIR (criterion's output is read
# from ${CARGO_TARGET_DIR:-target}/criterion).
#
# Everything installed goes to target/peers/ (gitignored): a virtualenv
# (target/peers/venv) and a node prefix (target/peers/node), pinned below.
set -euo pipefail

# Pinned peer versions. Django 5.2 (LTS) is the last series that runs on
# Python 3.10/3.11; Django 6 needs Python 3.12.
PYOTP_VERSION=2.12.0
DJANGO_OTP_VERSION=1.7.5
DJANGO_VERSION=5.2.19
OTPAUTH_VERSION=9.5.2

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK="$ROOT/target/peers"
RESULTS="$WORK/results"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
PYTHON=${PYTHON:-python3}
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ beside the sources

say() { printf '\n== %s\n' "$*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

export PEERS_STARTED PEERS_LOAD_START PEERS_LOAD_AFTER_CARGO PEERS_CARGO_RAN
PEERS_STARTED=$(date +%s)
PEERS_LOAD_START=$(loadavg)
say "start $(date -u '+%F %T') UTC, nproc $(nproc), load $PEERS_LOAD_START"

# ------------------------------------------------------------------ installs
if [[ "${PEERS_FRESH:-0}" == 1 ]]; then
    rm -rf "$WORK/venv" "$WORK/node"
fi
mkdir -p "$WORK" "$RESULTS"
rm -f "$RESULTS"/*.json

say "Python virtualenv $WORK/venv (pyotp $PYOTP_VERSION, django-otp $DJANGO_OTP_VERSION, Django $DJANGO_VERSION)"
if [[ ! -x "$WORK/venv/bin/python" ]]; then
    "$PYTHON" -m venv "$WORK/venv"
fi
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install --quiet --disable-pip-version-check \
    "pyotp==$PYOTP_VERSION" "django-otp==$DJANGO_OTP_VERSION" "Django==$DJANGO_VERSION"

say "node prefix $WORK/node (otpauth $OTPAUTH_VERSION)"
mkdir -p "$WORK/node"
[[ -f "$WORK/node/package.json" ]] || echo '{ "private": true }' >"$WORK/node/package.json"
(cd "$WORK/node" && npm install --silent --no-audit --no-fund --save-exact "otpauth@$OTPAUTH_VERSION")

# ------------------------------------------------------- ours (criterion)
if [[ "${PEERS_SKIP_CARGO:-0}" == 1 ]]; then
    PEERS_CARGO_RAN=0
    say "PEERS_SKIP_CARGO=1: our figures are read from $TARGET_DIR/criterion as they are"
else
    PEERS_CARGO_RAN=1
    cd "$ROOT"
    say "cargo bench (engine): totp_verify wrong/right, engine and totp-rs"
    cargo bench -p mfa-benches --bench engine -- 'totp_verify/(wrong|right)/(engine|totp_rs_check)'
    say "cargo bench (sql): SQLite WAL file, 1k users, wrong/right (the setup also fills 100k users, unmeasured)"
    cargo bench -p mfa-benches --bench sql -- 'sql_totp_verify/sqlite_wal_file/(wrong|right)/1000_users'
fi
PEERS_LOAD_AFTER_CARGO=$(loadavg)

# ------------------------------------------------------------------- peers
say "pyotp"
(cd "$HERE" && "$VPY" pyotp_bench.py "$RESULTS/pyotp.json")
say "otpauth (node $(node --version))"
PEERS_NODE_DIR="$WORK/node" node "$HERE/otpauth_bench.mjs" "$RESULTS/otpauth.json"
say "django-otp on SQLite (WAL), database under $WORK/django"
(cd "$HERE" && "$VPY" django_otp_bench.py "$WORK/django" "$RESULTS/django_otp.json")

# ------------------------------------------------------------------ report
say "report -> benches/peers/RESULTS.md"
"$VPY" "$HERE/report.py" "$RESULTS" "$TARGET_DIR/criterion" "$HERE/RESULTS.md"
