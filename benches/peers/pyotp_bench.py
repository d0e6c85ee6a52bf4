#!/usr/bin/env python3
"""pyotp: ns per `TOTP(secret).verify(code, valid_window=1)`, wrong and right code.

    pyotp_bench.py [OUT.json]

The TOTP object is built once (as an application would cache it); each
timed call reads the wall clock (`time.time()` inside pyotp), computes the
HOTPs of the window and compares strings. pyotp holds no state: there is no
replay refusal, no attempt counting and no seed decryption.

Order of the window in pyotp 2.x: steps t-1, t, t+1 (it does not stop early
on the step before), so a right code for step t costs 2 HMACs and a wrong
code 3.

Timing: `timeit.Timer`, the loop count from `autorange()` scaled to about
PEERS_PY_REPEAT_SECS (default 0.5 s) per repeat, PEERS_REPEATS (default 7)
repeats; the median of the per-repeat ns/op is reported.
"""

import os
import sys
import time
import timeit
from importlib.metadata import version

import pyotp

from common import SECRET_B32, STEP_SECS, emit, summary, wrong_code

REPEATS = int(os.environ.get("PEERS_REPEATS", "7"))
REPEAT_SECS = float(os.environ.get("PEERS_PY_REPEAT_SECS", "0.5"))


def measure(totp: pyotp.TOTP, code_for_repeat, expect: bool) -> dict:
    """Times `totp.verify(code, valid_window=1)`; `code_for_repeat()` gives
    the code for each repeat (a right code is fetched anew each repeat so a
    step boundary cannot turn it wrong mid-run), and every repeat is checked
    afterwards to have given `expect`."""
    code = code_for_repeat()
    timer = timeit.Timer("totp.verify(code, valid_window=1)", globals={"totp": totp, "code": code})
    n, secs = timer.autorange()  # n such that one loop takes >= 0.2 s
    n = max(1, int(n * REPEAT_SECS / secs))
    per_op = []
    for _ in range(REPEATS):
        code = code_for_repeat()
        timer = timeit.Timer("totp.verify(code, valid_window=1)", globals={"totp": totp, "code": code})
        per_op.append(timer.timeit(n) * 1e9 / n)
        got = totp.verify(code, valid_window=1)
        if got is not expect:
            sys.exit(f"pyotp: verify({code}) gave {got}, expected {expect}")
    return summary(per_op, n)


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else None
    totp = pyotp.TOTP(SECRET_B32)  # SHA1, 6 digits, 30 s by default
    assert totp.digits == 6 and totp.interval == STEP_SECS

    # A wrong code: the right one + 500000 mod 10^6, checked against the
    # steps t-1 .. t+2 (t+2: the clock may move on during the run).
    now = time.time()
    window = [totp.at(now + k * STEP_SECS) for k in (-1, 0, 1, 2)]
    wrong = wrong_code(totp.now(), window)

    cases = {
        "wrong": measure(totp, lambda: wrong, expect=False),
        "right": measure(totp, totp.now, expect=True),
    }
    emit(
        {
            "implementation": "pyotp",
            "library": "pyotp",
            "version": version("pyotp"),
            "runtime": f"CPython {sys.version.split()[0]}",
            "storage": "memory",
            "operation": "TOTP(secret).verify(code, valid_window=1)",
            "timing": f"timeit, median of {REPEATS} repeats of ~{REPEAT_SECS} s",
            "cases": cases,
        },
        out,
    )


if __name__ == "__main__":
    main()
