#!/usr/bin/env python3
"""Prints the docs/PERFORMANCE.md table from criterion's results.

Run right after `cargo bench -p mfa-benches` (one full run: every figure
and its baseline come from the same run; the script refuses results whose
files are more than 30 minutes apart). Reads
target/criterion/*/*/new/{benchmark,estimates}.json and prints medians in
ns/op with their ratios to the baselines.
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRITERION = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "criterion"

# (figure, baseline or None, note)
ROWS = [
    ("totp_verify/wrong/engine", "totp_verify/wrong/totp_rs_check", "engine vs raw totp-rs `check` (target <= 1.5x, never > 2x)"),
    ("totp_verify/wrong/engine", "totp_verify/wrong/raw_hmac_precomputed", "engine vs the physical bound (3 HMAC-SHA1, key state precomputed)"),
    ("totp_verify/wrong/totp_rs_check", "totp_verify/wrong/raw_hmac_precomputed", "totp-rs vs the bound"),
    ("totp_verify/component/aes256gcm_open_seed", "totp_verify/wrong/totp_rs_check", "opening the sealed seed (format 2, ring AES-256-GCM; part of every engine verify) vs totp-rs"),
    ("totp_verify/component/xchacha20poly1305_open_seed", "totp_verify/component/aes256gcm_open_seed", "format 1 (XChaCha20-Poly1305, read only) vs format 2"),
    ("totp_verify/right/engine", "totp_verify/right/totp_rs_check", "right code, clock advancing a step per verify"),
    ("totp_verify/right/engine", "totp_verify/right/raw_hmac_precomputed", "right code vs 1 HMAC (current step first)"),
    ("totp_verify/right/totp_rs_check", "totp_verify/right/raw_hmac_precomputed", "totp-rs (checks the step behind first) vs 1 HMAC"),
    ("oob_verify/right/engine", "oob_verify/raw_hmac_sha256_compare", "SMS/email code, right (target <= 1 us)"),
    ("oob_verify/wrong/engine", "oob_verify/raw_hmac_sha256_compare", "SMS/email code, wrong"),
    ("recovery_verify/right/engine", "recovery_verify/right/bare_argon2id_verify", "recovery code vs one bare Argon2id verify (19 MiB, t=2, p=1)"),
    ("login/trusted_device/engine_begin_login", "login/trusted_device/raw_hmac_sha256_of_token", "begin_login with a valid trust cookie vs hashing the token"),
    ("login/choose_factor/engine_begin_login", "login/store_reads/user_state_and_factors", "begin_login -> ChooseFactor vs its two store reads"),
    ("login/must_enroll/engine_begin_login", "login/store_reads/user_state_and_factors", "begin_login -> MustEnroll (no factor) vs the store reads"),
    ("sql_totp_verify/memory/wrong/1_users", "totp_verify/wrong/totp_rs_check", "(sql bench file) MemoryStore reference, wrong code"),
    ("sql_totp_verify/sqlite_wal_file/wrong/1000_users", "sql_totp_verify/memory/wrong/1_users", "SQLite file (WAL), 1k users, wrong code vs MemoryStore"),
    ("sql_totp_verify/sqlite_wal_file/right/1000_users", "sql_totp_verify/memory/right/1_users", "SQLite file (WAL), 1k users, right code vs MemoryStore"),
    ("sql_totp_verify/sqlite_wal_file/wrong/100000_users", "sql_totp_verify/sqlite_wal_file/wrong/1000_users", "SQLite growth 1k -> 100k users, wrong code (target <= 1.3x)"),
    ("sql_totp_verify/sqlite_wal_file/right/100000_users", "sql_totp_verify/sqlite_wal_file/right/1000_users", "SQLite growth 1k -> 100k users, right code (target <= 1.3x)"),
    ("sql_totp_verify/postgres/wrong/1000_users", "sql_totp_verify/memory/wrong/1_users", "PostgreSQL (loopback), 1k users, wrong code vs MemoryStore"),
    ("sql_totp_verify/postgres/right/1000_users", "sql_totp_verify/memory/right/1_users", "PostgreSQL (loopback), 1k users, right code vs MemoryStore"),
    ("sql_totp_verify/postgres/wrong/100000_users", "sql_totp_verify/postgres/wrong/1000_users", "PostgreSQL growth 1k -> 100k users, wrong code (target <= 1.3x)"),
    ("sql_totp_verify/postgres/right/100000_users", "sql_totp_verify/postgres/right/1000_users", "PostgreSQL growth 1k -> 100k users, right code (target <= 1.3x)"),
    ("policy/requirement/last_cohort", None, "Policy::requirement, audience matching the 3rd cohort"),
    ("policy/requirement/defaults", None, "Policy::requirement, no cohort matches"),
    ("policy/settings_for/last_cohort", "policy/baseline/settings_clone", "Policy::settings_for vs cloning a Settings"),
    ("policy/settings_for/defaults", "policy/baseline/settings_clone", "Policy::settings_for (defaults) vs cloning a Settings"),
]


def load():
    results = {}
    mtimes = []
    for bench in CRITERION.glob("**/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())
        results[meta["full_id"]] = est["median"]["point_estimate"]
        mtimes.append(bench.stat().st_mtime)
    return results, mtimes


def fmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:,.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:,.2f} us"
    return f"{ns:,.0f} ns"


def main():
    results, mtimes = load()
    if not results:
        sys.exit(f"no criterion results under {CRITERION}: run `cargo bench -p mfa-benches` first")
    if max(mtimes) - min(mtimes) > 30 * 60:
        sys.exit("results come from runs more than 30 minutes apart: run the whole bench once")
    print("| figure | median | baseline | median | ratio | what |")
    print("|---|---:|---|---:|---:|---|")
    for fig, base, note in ROWS:
        if fig not in results:
            continue
        a = results[fig]
        if base and base in results:
            b = results[base]
            print(f"| `{fig}` | {fmt(a)} | `{base}` | {fmt(b)} | {a / b:.2f}x | {note} |")
        else:
            print(f"| `{fig}` | {fmt(a)} | - | - | - | {note} |")


if __name__ == "__main__":
    main()
