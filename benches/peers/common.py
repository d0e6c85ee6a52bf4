"""Helpers shared by the Python peer benches (pyotp_bench.py, django_otp_bench.py).

Only the standard library: the benches import this before the peer library.
"""

import json
import statistics
import sys
import time

# RFC 6238's test seed "12345678901234567890" in base32: the same for every
# peer (20 bytes, HMAC-SHA1, 6 digits, 30 s steps).
SECRET_B32 = "GEZDGNBVGY3DOOBZGEZDGNBVGY3DOOBZ"
SECRET_RAW = b"12345678901234567890"
STEP_SECS = 30
DIGITS = 6


def wrong_code(right: str, window_codes: list[str]) -> str:
    """(right + 500000) mod 10^6, moved on by one until it matches none of
    `window_codes` (the codes of the steps around "now")."""
    v = (int(right) + 500_000) % 10**DIGITS
    while f"{v:0{DIGITS}d}" in window_codes:
        v = (v + 1) % 10**DIGITS
    return f"{v:0{DIGITS}d}"


def time_repeats(run_batch, iterations: int, repeats: int) -> list[float]:
    """Calls `run_batch(iterations)` `repeats` times; each call returns the
    nanoseconds its timed part took. Returns ns/op of each repeat."""
    return [run_batch(iterations) / iterations for _ in range(repeats)]


def calibrate(run_batch, target_ns: float, start: int = 16, cap: int = 10_000_000) -> int:
    """Doubles the iteration count until one batch takes at least `target_ns`
    (as timeit.Timer.autorange does), then returns the count."""
    n = start
    while n < cap:
        if run_batch(n) >= target_ns:
            return n
        n *= 2
    return cap


def summary(per_op: list[float], iterations: int) -> dict:
    return {
        "median_ns": statistics.median(per_op),
        "min_ns": min(per_op),
        "max_ns": max(per_op),
        "repeats": len(per_op),
        "iterations_per_repeat": iterations,
    }


def emit(doc: dict, path: str | None) -> None:
    """Writes `doc` as JSON to `path` (or stdout) and a one-line digest to stderr."""
    text = json.dumps(doc, indent=2)
    if path:
        with open(path, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    for case, r in doc["cases"].items():
        print(
            f"  {doc['implementation']:<28} {case:<6} median {r['median_ns']:>12,.0f} ns/op"
            f"  (min {r['min_ns']:,.0f}, max {r['max_ns']:,.0f}, "
            f"{r['repeats']} x {r['iterations_per_repeat']} iterations)",
            file=sys.stderr,
        )


def now_ns() -> int:
    return time.perf_counter_ns()
