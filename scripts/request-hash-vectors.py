#!/usr/bin/env python3
"""Writes request-hash test vectors: the contract's hash formula computed by
Python itself, whose dicts keep every key in the order it was sent
(integer-like names and `__proto__` included), over bodies as clients send
them. The TypeScript test parses each body and must reach the same hash.

    python3 scripts/request-hash-vectors.py > packages/contract/src/fixtures/request-hash-vectors.json
"""

import hashlib
import json
import random


def sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def packages_hash(names):
    return sha256(" ".join(sorted({name.removeprefix("+") for name in names})))


def request_hash(body):
    """The contract's formula over a body after defaults, as the server reads it."""
    packages_versions = body.get("packages_versions", {})
    packages = list(packages_versions) if packages_versions else body.get("packages", [])
    rootfs = body.get("rootfs_size_mb")
    parts = [
        body.get("distro", "openwrt"),
        body["version"],
        body.get("version_code", ""),
        body["target"],
        body["profile"].replace(",", "_"),
        packages_hash(packages),
        sha256(json.dumps(packages_versions, sort_keys=True)),
        str(body.get("diff_packages", False)),
        body.get("filesystem") or "",
        sha256(body.get("defaults") or ""),
        str(rootfs),
        str(body.get("repository_keys", [])),
        str(body.get("repositories", {})),
        body.get("repositories_mode", "replace"),
    ]
    return sha256("".join(parts))


NAMES = ["1", "10", "2", "0", "__proto__", "constructor", "b", "a", "feed", "99", "007", "ü"]
PACKAGES = ["luci", "+luci-ssl", "owut", "1", "__proto__", "kmod-usb", "tcpdump", "10"]
URLS = ["https://feed.example.org/", "http://mirror.example.com/p", "https://example.net/o'k"]


def random_body(rng):
    body = {
        "version": rng.choice(["24.10.0", "23.05.4", "SNAPSHOT"]),
        "target": "ath79/generic",
        "profile": rng.choice(["tplink_archer-a7-v5", "tplink,archer-c7-v2"]),
        "packages": rng.sample(PACKAGES, rng.randint(0, 5)),
    }
    if rng.random() < 0.7:
        names = rng.sample(NAMES, rng.randint(1, 5))
        body["repositories"] = {name: rng.choice(URLS) + name for name in names}
    if rng.random() < 0.5:
        names = rng.sample(NAMES, rng.randint(1, 4))
        body["packages_versions"] = {name: f"{rng.randint(0, 9)}.{rng.randint(0, 9)}-r1" for name in names}
    if rng.random() < 0.3:
        body["diff_packages"] = True
    if rng.random() < 0.3:
        body["repositories_mode"] = "append"
    if rng.random() < 0.2:
        body["rootfs_size_mb"] = rng.randint(1, 1024)
    return body


def main():
    rng = random.Random(12)
    vectors = []
    for _ in range(150):
        body = random_body(rng)
        vectors.append({"body": json.dumps(body), "request_hash": request_hash(body)})
    print(json.dumps(vectors, indent=1))


main()
