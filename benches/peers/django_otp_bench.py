#!/usr/bin/env python3
"""django-otp: ns per `TOTPDevice.verify_token(token)` on a SQLite file in WAL mode.

    django_otp_bench.py WORK_DIR [OUT.json]

A standalone Django (settings configured here, no project): INSTALLED_APPS
auth, contenttypes, django_otp, django_otp.plugins.otp_totp; a fresh SQLite
file WORK_DIR/django_otp.sqlite3, `migrate`, then PEERS_DJANGO_USERS
(default 1000, like our 1k-user SQL bench) users with one confirmed
TOTPDevice each; the measured user's device has the RFC 6238 seed (20 bytes,
SHA1, 6 digits, 30 s, tolerance 1).

Every connection is set to `PRAGMA journal_mode=WAL` and
`PRAGMA synchronous=NORMAL` (what mfa-store-sqlx sets on its SQLite pool;
SQLite's default would be FULL). Django's autocommit: each `save()` is one
UPDATE committed on its own. DEBUG is off (no query log).

Two ways to call it, both timed:
  * `verify_token` on a device instance loaded once (the call django-otp
    documents; it writes the row: throttle counter on a wrong code,
    last_t/drift/throttle/last_used_at on a right one);
  * `load+verify_token`: `TOTPDevice.objects.get(pk=...)` then
    `verify_token`, which is what a login request does (a SELECT + the
    UPDATE) and closer to what our engine's verify does on the store.

Honesty notes (also printed in the results):
  * Replay: django-otp refuses a token whose step is not > last_t. For the
    right code, django-otp's clock is advanced: `time` in
    django_otp.plugins.otp_totp.models is replaced by a fake whose `time()`
    moves one 30 s step before each call (the move is a float add, inside
    the timed loop), and the codes of those future steps are computed
    beforehand (untimed) with django-otp's own TOTP class. Nothing is
    reset in the database: last_t really advances one step per call, as our
    bench's ManualClock does.
  * Throttling: OTP_TOTP_THROTTLE_FACTOR = 0, so verify_is_allowed() never
    refuses a wrong code. The code path is otherwise the default one:
    throttle_increment() still runs and saves the row on every wrong code.

Timing: time.perf_counter_ns() around a loop; loop count doubled until a
loop takes >= 0.2 s, then scaled to ~PEERS_PY_REPEAT_SECS (default 0.5 s);
PEERS_REPEATS (default 7) repeats; median of the per-repeat ns/op.
"""

import os
import sys
import time
from importlib.metadata import version
from pathlib import Path

from common import (
    DIGITS,
    SECRET_RAW,
    STEP_SECS,
    calibrate,
    emit,
    now_ns,
    summary,
    time_repeats,
    wrong_code,
)

REPEATS = int(os.environ.get("PEERS_REPEATS", "7"))
REPEAT_SECS = float(os.environ.get("PEERS_PY_REPEAT_SECS", "0.5"))
USERS = int(os.environ.get("PEERS_DJANGO_USERS", "1000"))


def setup_django(db_path: Path) -> None:
    """The minimal standalone settings, and the WAL pragmas on every connection."""
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="peers-bench-not-secret",
        USE_TZ=True,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django_otp",
            "django_otp.plugins.otp_totp",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(db_path)}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        # See the module docstring: wrong codes are never refused early.
        OTP_TOTP_THROTTLE_FACTOR=0,
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],  # setup speed only
    )

    from django.db.backends.signals import connection_created

    def pragmas(sender, connection, **kwargs):
        if connection.vendor == "sqlite":
            with connection.cursor() as c:
                c.execute("PRAGMA journal_mode=WAL")
                c.execute("PRAGMA synchronous=NORMAL")

    # weak=False: `pragmas` is a local function, a weak reference would let
    # it be collected as soon as this function returns.
    connection_created.connect(pragmas, weak=False)
    django.setup()


class FakeTime:
    """Stands in for the `time` module inside django-otp's TOTP model: `time()`
    returns a clock the bench moves by hand."""

    def __init__(self, start: float):
        self.now = start

    def time(self) -> float:
        return self.now


def main() -> None:
    work = Path(sys.argv[1])
    out = sys.argv[2] if len(sys.argv) > 2 else None
    work.mkdir(parents=True, exist_ok=True)
    db = work / "django_otp.sqlite3"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    setup_django(db)

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp import models as totp_models
    from django_otp.plugins.otp_totp.models import TOTPDevice

    # ---------------------------------------------------------------- setup
    t = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    User = get_user_model()
    user = User.objects.create_user("measured-user", password="x")
    device = TOTPDevice.objects.create(
        user=user, name="Phone", confirmed=True, key=SECRET_RAW.hex(),
        step=STEP_SECS, t0=0, digits=DIGITS, tolerance=1, drift=0,
    )
    fillers = User.objects.bulk_create(
        [User(username=f"filler-{i:06d}", password="!") for i in range(1, USERS)]
    )
    TOTPDevice.objects.bulk_create(
        [
            TOTPDevice(user=u, name="Phone", confirmed=True, key=os.urandom(20).hex(), last_t=1)
            for u in fillers
        ]
    )
    with connection.cursor() as c:
        c.execute("ANALYZE")
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        journal = c.execute("PRAGMA journal_mode").fetchone()[0]
        sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[c.execute("PRAGMA synchronous").fetchone()[0]]
    if journal.lower() != "wal":
        sys.exit(f"django-otp: journal_mode is {journal}, not WAL")
    print(
        f"  django-otp: {USERS} users + devices, journal_mode={journal}, synchronous={sync}, "
        f"setup {time.perf_counter() - t:.1f} s",
        file=sys.stderr,
    )

    # -------------------------------------------------------- wrong code
    real_now = time.time()
    key = device.bin_key

    def token_at(ts: float) -> str:
        o = TOTP(key, STEP_SECS, 0, DIGITS, 0)
        o.time = ts
        return f"{o.token():0{DIGITS}d}"

    window = [token_at(real_now + k * STEP_SECS) for k in (-1, 0, 1, 2)]
    wrong = wrong_code(token_at(real_now), window)

    def wrong_instance(n: int) -> int:
        t0 = now_ns()
        for _ in range(n):
            if device.verify_token(wrong):
                raise AssertionError("wrong code accepted")
        return now_ns() - t0

    def wrong_load(n: int) -> int:
        t0 = now_ns()
        for _ in range(n):
            if TOTPDevice.objects.get(pk=device.pk).verify_token(wrong):
                raise AssertionError("wrong code accepted")
        return now_ns() - t0

    # -------------------------------------------------------- right code
    # The fake clock starts 10 s into the current step and moves one step
    # before each verification; the codes of the coming steps are computed
    # untimed, before each batch.
    clock = FakeTime((int(real_now) // STEP_SECS) * STEP_SECS + 10)
    totp_models.time = clock

    def make_right(load: bool):
        def run(n: int) -> int:
            start = clock.now
            codes = [token_at(start + (i + 1) * STEP_SECS) for i in range(n)]
            t0 = now_ns()
            for code in codes:
                clock.now += STEP_SECS
                d = TOTPDevice.objects.get(pk=device.pk) if load else device
                if not d.verify_token(code):
                    raise AssertionError("right code refused")
            return now_ns() - t0

        return run

    target = REPEAT_SECS * 1e9
    cases, impls = {}, {}
    for name, fn in [
        ("verify_token/wrong", wrong_instance),
        ("verify_token/right", make_right(False)),
        ("load+verify_token/wrong", wrong_load),
        ("load+verify_token/right", make_right(True)),
    ]:
        device.refresh_from_db()
        n = calibrate(fn, 2e8)
        n = max(1, int(n * target / fn(n)))
        cases[name] = summary(time_repeats(fn, n, REPEATS), n)

    # A sanity check that the writes happened: last_t moved with the clock.
    device.refresh_from_db()
    if device.last_t != int(clock.now) // STEP_SECS:
        sys.exit(f"django-otp: last_t {device.last_t} != fake clock step {int(clock.now) // STEP_SECS}")

    for impl in ("verify_token", "load+verify_token"):
        impls[impl] = {
            "wrong": cases[f"{impl}/wrong"],
            "right": cases[f"{impl}/right"],
        }
    emit(
        {
            "implementation": "django-otp",
            "library": "django-otp",
            "version": version("django-otp"),
            "django_version": version("Django"),
            "runtime": f"CPython {sys.version.split()[0]}, SQLite {connection.Database.sqlite_version}",
            "storage": "sqlite_wal",
            "sqlite": {"journal_mode": journal, "synchronous": sync, "users": USERS},
            "operation": "TOTPDevice.verify_token(token) (and TOTPDevice.objects.get + verify_token)",
            "timing": f"perf_counter_ns, median of {REPEATS} repeats of ~{REPEAT_SECS} s",
            "replay_handling": "fake clock: django-otp's time.time() advanced one 30 s step per right-code call "
            "(codes precomputed untimed); last_t advances in the db, nothing reset",
            "throttling_handling": "OTP_TOTP_THROTTLE_FACTOR=0 (never refused); throttle_increment() still saves "
            "the row on each wrong code",
            "cases": cases,
            "variants": impls,
        },
        out,
    )


if __name__ == "__main__":
    main()
