"""Reads `cargo metadata` on stdin; fails if a package needs a newer Rust than the workspace's rust-version."""
import json
import sys


def version(s):
    parts = [int(x) for x in s.split(".")[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
ours = {p["rust_version"] for p in meta["packages"] if p["id"] in members and p.get("rust_version")}
if len(ours) != 1:
    sys.exit(f"workspace members must share one rust-version, found {sorted(ours)}")
msrv = ours.pop()
too_new = [
    f"{p['name']} {p['version']} (rust {p['rust_version']})"
    for p in meta["packages"]
    if p.get("rust_version") and version(p["rust_version"]) > version(msrv)
]
if too_new:
    sys.exit(f"these packages need a newer Rust than {msrv}: " + ", ".join(too_new))
print(f"MSRV {msrv}: ok for {len(meta['packages'])} packages")
