#!/usr/bin/env python3
"""Download every file of this dataset from its source and verify its MD5 checksum.

Plain Python 3 (standard library only). Reads manifest.jsonl next to this
script, writes audio/<file_name>. Resumable: files already present with the
right checksum are skipped; partial downloads (*.part) resume with an HTTP
Range request. Exit status 0 when every file is present and verified, 1 otherwise.

    python fetch.py [--base-url http://mirror.example/] [--out DIR] [--retries N]
"""

import argparse
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CHUNK = 1 << 16


def md5_of(path: str) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def rebase(url: str, base: "str | None") -> str:
    """Point a source URL at a mirror: same path, other scheme/host/prefix."""
    if not base:
        return url
    src = urllib.parse.urlsplit(url)
    b = urllib.parse.urlsplit(base)
    path = b.path.rstrip("/") + src.path
    return urllib.parse.urlunsplit((b.scheme, b.netloc, path, src.query, ""))


def download(url: str, dest: str, retries: int) -> "str | None":
    part = dest + ".part"
    for attempt in range(retries + 1):
        have = os.path.getsize(part) if os.path.exists(part) else 0
        req = urllib.request.Request(url, headers={"User-Agent": "tessera-fetch/1"})
        if have:
            req.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                mode = "ab" if have and resp.status == 206 else "wb"
                with open(part, mode) as fh:
                    while True:
                        block = resp.read(CHUNK)
                        if not block:
                            break
                        fh.write(block)
            os.replace(part, dest)
            return None
        except (urllib.error.URLError, OSError) as exc:
            if attempt == retries:
                return str(exc)
            time.sleep(min(2 ** attempt, 30))
    return "gave up"


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", help="download from this mirror instead of each file's source host")
    ap.add_argument("--out", default=HERE, help="dataset folder (default: next to this script)")
    ap.add_argument("--retries", type=int, default=3)
    args = ap.parse_args(argv)
    with open(os.path.join(HERE, "manifest.jsonl"), encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    ok, skipped = 0, 0
    bad: list[tuple[str, str]] = []
    done: set[str] = set()
    for row in rows:
        if row.get("status") != "active":
            skipped += 1  # consent withdrawn: not distributed
            continue
        name = row["file_name"]
        if name in done:
            continue
        done.add(name)
        dest = os.path.join(args.out, name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.exists(dest) and md5_of(dest) == row["md5"]:
            ok += 1
            continue
        if not row.get("url"):
            bad.append((name, "no source URL"))
            continue
        err = download(rebase(row["url"], args.base_url), dest, args.retries)
        if err:
            bad.append((name, err))
            continue
        got = md5_of(dest)
        if got != row["md5"]:
            os.replace(dest, dest + ".bad")
            bad.append((name, f"checksum mismatch: expected {row['md5']}, got {got}"))
            continue
        ok += 1
    for name, why in bad:
        sys.stderr.write(f"FAILED {name}: {why}\n")
    sys.stdout.write(f"{ok} verified, {len(bad)} failed, {skipped} withdrawn (not distributed)\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
