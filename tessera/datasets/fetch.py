#!/usr/bin/env python3
"""Download every file of this dataset from its source and verify its MD5 checksum.

Plain Python 3 (standard library only). Reads manifest.jsonl next to this
script, writes audio/<file_name>. Resumable: files already present with the
right checksum are skipped; partial downloads (*.part) resume with an HTTP
Range request. Polite: one file at a time; a 429 or 5xx waits as long as the
server's Retry-After asks (up to --max-wait), else with exponential backoff, as do
dropped connections and truncated bodies; other 4xx are not retried. Every failure
is named on stderr (file, item id, URL, reason). Exit status 0 when every file is
present and verified, 1 otherwise.

If the Tessera server asks for an API key, set TESSERA_API_KEY (or --api-key): it
is sent only to that server (rows with url_kind "server"), never to a source archive.

    python fetch.py [--base-url http://mirror.example/] [--out DIR] [--retries N] [--backoff S] [--api-key K]
"""

import argparse
import email.utils
import hashlib
import http.client
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
    src = urllib.parse.urlsplit(url)
    if not base or src.scheme == "file":
        return url
    b = urllib.parse.urlsplit(base)
    path = b.path.rstrip("/") + src.path
    return urllib.parse.urlunsplit((b.scheme, b.netloc, path, src.query, ""))


def retry_after(value: "str | None", cap: float) -> "float | None":
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), at most ``cap``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), cap)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(when.timestamp() - time.time(), 0.0), cap)


def download(url: str, dest: str, retries: int, backoff: float = 1.0, max_wait: float = 120.0,
             headers: "dict[str, str] | None" = None) -> "str | None":
    """Fetch ``url`` to ``dest`` (via dest.part, resuming with Range); None when done, else why not."""
    part = dest + ".part"
    err = "gave up"
    local = urllib.parse.urlsplit(url).scheme == "file"  # a missing local file will not appear by waiting
    for attempt in range(retries + 1):
        have = os.path.getsize(part) if os.path.exists(part) else 0
        req = urllib.request.Request(url, headers={"User-Agent": "tessera-fetch/1 (dataset fetch script)",
                                                   **(headers or {})})
        if have:
            req.add_header("Range", f"bytes={have}-")
        wait = min(backoff * 2 ** attempt, max_wait)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                # only append when the server resumed exactly where the partial file ends
                resumed = have and resp.status == 206 and (resp.headers.get("Content-Range") or "").startswith(
                    f"bytes {have}-")
                declared = resp.headers.get("Content-Length")
                got = 0
                with open(part, "ab" if resumed else "wb") as fh:
                    while True:
                        block = resp.read(CHUNK)
                        if not block:
                            break
                        fh.write(block)
                        got += len(block)
                # read(n) returns b"" when the server closes early: a short body must be caught here
                if declared and declared.isdigit() and got < int(declared):
                    raise http.client.IncompleteRead(b"", int(declared) - got)
            os.replace(part, dest)
            return None
        except urllib.error.HTTPError as exc:
            err = f"HTTP {exc.code}"
            if exc.code == 416 and have:  # our partial file is stale: start again
                os.remove(part)
            elif exc.code not in (408, 425, 429) and exc.code < 500:
                return err  # the file is not there for us: asking again will not help
            asked = retry_after(exc.headers.get("Retry-After"), max_wait)
            if asked is not None:
                wait = asked
                err += f" (Retry-After {exc.headers.get('Retry-After')})"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            err = f"{type(exc).__name__}: {exc}"
            if local:
                return err
        if attempt < retries:
            sys.stderr.write(f"retrying {url} in {wait:.1f} s after {err}\n")
            time.sleep(wait)
    return err


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", help="download from this mirror instead of each file's source host")
    ap.add_argument("--out", default=HERE, help="dataset folder (default: next to this script)")
    ap.add_argument("--retries", type=int, default=5, help="attempts after the first, per file")
    ap.add_argument("--backoff", type=float, default=1.0, help="first wait in seconds; doubles each retry")
    ap.add_argument("--max-wait", type=float, default=120.0, help="longest single wait, Retry-After included")
    ap.add_argument("--api-key", default=os.environ.get("TESSERA_API_KEY"),
                    help="API key for the Tessera server (default: $TESSERA_API_KEY); sent to that server only")
    args = ap.parse_args(argv)
    server_headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    with open(os.path.join(HERE, "manifest.jsonl"), encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    ok, skipped = 0, 0
    bad: list[tuple[str, str]] = []
    done: set[str] = set()
    for row in rows:
        if row.get("status") != "active":
            skipped += 1  # withdrawn, lapsed or restricted: not distributed
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
        label = f"{name} (item {row.get('file_id')})"
        if not row.get("url"):
            bad.append((label, "no download URL" + (f": {row['note']}" if row.get("note") else "")))
            continue
        url = rebase(row["url"], args.base_url)
        label += f" from {url}"
        err = download(url, dest, args.retries, args.backoff, args.max_wait,
                       server_headers if row.get("url_kind") == "server" else None)
        if err:
            bad.append((label, err))
            continue
        got = md5_of(dest)
        if got != row["md5"]:
            os.replace(dest, dest + ".bad")
            bad.append((label, f"md5 checksum mismatch: expected {row['md5']}, got {got} (kept as {name}.bad)"))
            continue
        ok += 1
    for label, why in bad:
        sys.stderr.write(f"FAILED {label}: {why}\n")
    sys.stdout.write(f"{ok} verified, {len(bad)} failed, {skipped} not distributed (withdrawn, lapsed or "
                     "restricted)\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
