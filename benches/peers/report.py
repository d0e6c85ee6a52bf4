#!/usr/bin/env python3
"""Builds benches/peers/RESULTS.md from the peers' JSON and criterion's output.

    report.py RESULTS_DIR CRITERION_DIR OUT.md

RESULTS_DIR holds pyotp.json, otpauth.json and django_otp.json (written by
the *_bench scripts). Our figures are criterion's medians
(`median.point_estimate`, ns) read from
CRITERION_DIR/<group>/<function>/new/estimates.json. Criterion makes each
level of the id filename-safe by turning `/` into `_`, so the benchmark
`sql_totp_verify/sqlite_wal_file` + `wrong/1000_users` lives in
`sql_totp_verify_sqlite_wal_file/wrong_1000_users/`; rather than rebuild that
name, the files are found by the `full_id` recorded next to them in
`new/benchmark.json` (as benches/report.py does).

Environment (set by run.sh): PEERS_STARTED (epoch s: criterion files older
than that are flagged as not from this run), PEERS_CARGO_RAN (1/0),
PEERS_LOAD_START, PEERS_LOAD_AFTER_CARGO (load averages).
"""

import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Our figures: (criterion full_id, label).
OURS_MEM = {
    "wrong": "totp_verify/wrong/engine",
    "right": "totp_verify/right/engine",
}
TOTP_RS = {
    "wrong": "totp_verify/wrong/totp_rs_check",
    "right": "totp_verify/right/totp_rs_check",
}
OURS_SQLITE = {
    "wrong": "sql_totp_verify/sqlite_wal_file/wrong/1000_users",
    "right": "sql_totp_verify/sqlite_wal_file/right/1000_users",
}


def sh(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def load_criterion(crit: Path) -> dict:
    """full_id -> (median ns, estimates.json path, mtime)."""
    found = {}
    for meta_path in crit.glob("**/new/benchmark.json"):
        meta = json.loads(meta_path.read_text())
        est_path = meta_path.parent / "estimates.json"
        est = json.loads(est_path.read_text())
        found[meta["full_id"]] = (est["median"]["point_estimate"], est_path, est_path.stat().st_mtime)
    return found


def lock_version(name: str) -> str:
    """The version of crate `name` in Cargo.lock."""
    text = (ROOT / "Cargo.lock").read_text()
    m = re.search(rf'name = "{re.escape(name)}"\nversion = "([^"]+)"', text)
    return m.group(1) if m else "?"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def shown(path: Path) -> str:
    """`path` relative to the workspace root when it is under it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def fmt_ns(ns: float) -> str:
    return f"{ns:,.0f}"


def fmt_human(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def main() -> None:
    results_dir, crit_dir, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    started = float(os.environ.get("PEERS_STARTED", "0"))
    cargo_ran = os.environ.get("PEERS_CARGO_RAN", "0") == "1"

    crit = load_criterion(crit_dir)
    missing = [i for d in (OURS_MEM, TOTP_RS, OURS_SQLITE) for i in d.values() if i not in crit]
    if missing:
        sys.exit(f"report.py: no criterion result under {crit_dir} for: {', '.join(missing)}")
    stale = [i for d in (OURS_MEM, TOTP_RS, OURS_SQLITE) for i in d.values() if crit[i][2] < started]
    if cargo_ran and stale:
        sys.exit(f"report.py: criterion results older than this run: {', '.join(stale)}")

    peers = {name: json.loads((results_dir / f"{name}.json").read_text()) for name in ("pyotp", "otpauth", "django_otp")}
    pyotp, otpauth, dj = peers["pyotp"], peers["otpauth"], peers["django_otp"]

    # ------------------------------------------------------------- rows
    # (implementation, what is timed, code, storage, ns, reference ns or None)
    rows = []
    for case in ("wrong", "right"):
        ours = crit[OURS_MEM[case]][0]
        rows.append(("**mfa-core** engine, MemoryStore (ours)", "`Mfa::verify` (TOTP factor)", case, "in memory", ours, ours))
        rows.append((f"totp-rs {lock_version('totp-rs')} (Rust)", "`TOTP::check(code, t)`, skew 1", case, "in memory", crit[TOTP_RS[case]][0], ours))
        rows.append((f"pyotp {pyotp['version']} (Python)", "`TOTP.verify(code, valid_window=1)`", case, "in memory", pyotp["cases"][case]["median_ns"], ours))
        rows.append((f"otpauth {otpauth['version']} (Node)", "`TOTP.validate({token, window: 1})`", case, "in memory", otpauth["cases"][case]["median_ns"], ours))
    for case in ("wrong", "right"):
        ours = crit[OURS_SQLITE[case]][0]
        rows.append(("**mfa-store-sqlx** SqliteStore, 1k users (ours)", "`Mfa::verify` (TOTP factor)", case, "SQLite WAL file", ours, ours))
        for variant, what in (
            ("verify_token", "`device.verify_token(token)` (device already loaded)"),
            ("load+verify_token", "`TOTPDevice.objects.get(pk=…)` + `verify_token`"),
        ):
            rows.append((f"django-otp {dj['version']} (Django {dj['django_version']})", what, case, "SQLite WAL file", dj["variants"][variant][case]["median_ns"], ours))

    lines = []
    w = lines.append
    now = dt.datetime.now(dt.timezone.utc)
    w("# TOTP verification: mfa-rs next to peer OTP libraries")
    w("")
    w(f"Generated by `benches/peers/run.sh` on {now:%Y-%m-%d %H:%M} UTC. "
      "Median ns per verification; ratio = peer / ours (above 1: the peer is slower). "
      "In-memory rows are compared with `totp_verify/*/engine` (mfa-core on MemoryStore), "
      "SQLite rows with `sql_totp_verify/sqlite_wal_file/*/1000_users` (mfa-store-sqlx). "
      "See README.md beside this file for what is and is not comparable.")
    w("")
    w("| implementation | operation | code | storage | ns/op (median) | (same, readable) | ratio peer / ours |")
    w("|---|---|---|---|---:|---:|---:|")
    for impl, what, case, storage, ns, ref in rows:
        ratio = "1.00× (reference)" if ns == ref and "ours" in impl else f"{ns / ref:.2f}×"
        w(f"| {impl} | {what} | {case} | {storage} | {fmt_ns(ns)} | {fmt_human(ns)} | {ratio} |")
    w("")
    w("## How each figure was taken")
    w("")
    w(f"- ours and totp-rs: criterion medians ({'measured by this run' if cargo_ran else 'NOT re-run: PEERS_SKIP_CARGO=1, read from disk'}), "
      "`cargo bench -p mfa-benches --bench engine -- 'totp_verify/(wrong|right)/(engine|totp_rs_check)'` and "
      "`--bench sql -- 'sql_totp_verify/sqlite_wal_file/(wrong|right)/1000_users'`. "
      "Right code: a `ManualClock` moved one step per verify, codes precomputed untimed. "
      "Wrong code: failures cleared untimed every 64 calls.")
    for d in (OURS_MEM, TOTP_RS, OURS_SQLITE):
        for fid in d.values():
            ns, path, mtime = crit[fid]
            when = dt.datetime.fromtimestamp(mtime, dt.timezone.utc)
            flag = "" if mtime >= started else " **(older than this run)**"
            w(f"  - `{fid}`: {fmt_ns(ns)} ns, `{shown(path)}` ({when:%H:%M:%S} UTC){flag}")
    for p in (pyotp, otpauth, dj):
        w(f"- {p['library']} {p['version']}: {p['operation']}; {p['runtime']}; {p['timing']}.")
        for case, r in p["cases"].items():
            w(f"  - {case}: median {fmt_ns(r['median_ns'])} ns (min {fmt_ns(r['min_ns'])}, max {fmt_ns(r['max_ns'])}; "
              f"{r['repeats']} repeats × {r['iterations_per_repeat']:,} calls)")
    w(f"- django-otp database: a fresh SQLite file, journal_mode={dj['sqlite']['journal_mode']}, "
      f"synchronous={dj['sqlite']['synchronous']} (as mfa-store-sqlx sets it), {dj['sqlite']['users']:,} users with one "
      "confirmed TOTPDevice each, Django autocommit (one UPDATE per save).")
    w(f"- django-otp right code (replay check, `last_t`): {dj['replay_handling']}.")
    w(f"- django-otp wrong code (throttling): {dj['throttling_handling']}.")
    w(f"- The figures were taken one after another (criterion first, then pyotp, otpauth, django-otp), "
      f"not interleaved, on a machine that may be shared ({sh('nproc')} cores; load averages below): "
      "a change of load between them moves the ratios. Compare ratios, and only within one run.")
    w("")
    w("## Machine and versions")
    w("")
    w(f"- date: {now:%Y-%m-%d %H:%M:%S} UTC")
    w(f"- CPU: {cpu_model()}; nproc: {sh('nproc')}; kernel: {platform.release()}")
    w(f"- load average (1/5/15 min): start {os.environ.get('PEERS_LOAD_START', '?')}; "
      f"after the cargo benches {os.environ.get('PEERS_LOAD_AFTER_CARGO', '?')}; end {loadavg()}")
    w(f"- ours: mfa-core {lock_version('mfa-core')}, mfa-store-sqlx {lock_version('mfa-store-sqlx')} at "
      f"commit {sh('git', 'rev-parse', '--short', 'HEAD')}"
      f"{' (work tree has uncommitted changes)' if sh('git', 'status', '--porcelain', '--untracked-files=no') not in ('', '?') else ''}; "
      f"{sh('rustc', '--version')}; criterion {lock_version('criterion')}; sqlx {lock_version('sqlx')}")
    w(f"- peers: pyotp {pyotp['version']} ({pyotp['runtime']}); otpauth {otpauth['version']} ({otpauth['runtime']}); "
      f"django-otp {dj['version']} with Django {dj['django_version']} ({dj['runtime']})")
    w("")

    text = "\n".join(lines)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
