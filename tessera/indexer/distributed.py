"""Feature extraction on a Dask cluster whose workers run on other machines.

A task carries a URL the worker can fetch, never a path that only the scheduler's machine can read: a
local folder mapped to a shared file system or an object store (read through ``fsspec``), the server's
own audio endpoint, or the source's own download URL. The worker downloads to a temporary file (bounded
by the size limit), checks its md5 against the catalogue's so that a file changed since it was registered
is reported rather than indexed under the old checksum, analyses it with the same ``process_one`` as the
local pool, and deletes it. Results stream back as they finish; a failure costs only its file.

Everything that can be wrong with the set-up (the scheduler unreachable or without workers, a file no
configured URL reaches) is reported before the first result, so the catalogue is left as it was.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tessera.core.vocab import ARCHIVE_SUFFIXES
from tessera.indexer.dictionary import EXTRACTOR_VERSION
from tessera.indexer.errors import NoWorkerURL, SchedulerUnreachable
from tessera.indexer.store import IndexTask

if TYPE_CHECKING:
    from tessera.indexer.run import IndexParams, Result

log = logging.getLogger(__name__)

SCHEDULER_SETTING = "--scheduler or TESSERA_DASK_SCHEDULER"
CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteAccess:
    """How workers on other machines reach the audio; tried in this order for each file."""

    # a local folder -> the URL prefix under which workers read the same files (file:// on a shared mount,
    # s3://, gs://, http(s)://): TESSERA_DASK_PATH_MAP
    path_map: Mapping[str, str] = field(default_factory=dict)
    # a URL with {id}, usually this server's /api/items/{id}/audio: TESSERA_DASK_AUDIO_URL (or PUBLIC_URL)
    audio_url: str | None = None
    # an API key workers send to ``audio_url`` only (restricted items, audio that needs a key)
    audio_key: str | None = None
    # last resort, for crawled files: the source's own download URL (not for members of an archive)
    source_urls: bool = True
    fetch_timeout: float = 60.0
    connect_timeout: float = 10.0  # to reach the scheduler
    workers_timeout: float = 30.0  # for at least one worker to be there
    in_flight: int = 0  # tasks submitted ahead of their results; 0: four per worker thread


@dataclass(frozen=True)
class RemoteTask:
    """What a worker receives: a URL, the checksum to expect, and nothing of the scheduler's file system."""

    file_id: int
    url: str
    md5: str
    size: int
    suffix: str  # the decoders and the truncation check read the format from it
    duration: float | None = None
    bearer: str | None = None  # sent only to this server's own audio URL, never to a source archive
    timeout: float = 60.0


def _is_archive_member(filename: str) -> bool:
    return any(part.lower().endswith(ARCHIVE_SUFFIXES) for part in PurePosixPath(filename).parts[:-1])


def _mapped(path: str, path_map: Mapping[str, str]) -> str | None:
    p = PurePath(path)
    # the longest root first: a nested mount wins over its parent
    for root in sorted(path_map, key=len, reverse=True):
        try:
            rel = p.relative_to(root)
        except ValueError:
            continue
        prefix = path_map[root].rstrip("/")
        if prefix.startswith(("http://", "https://")):
            return f"{prefix}/{quote(rel.as_posix())}"
        return f"{prefix}/{rel.as_posix()}"
    return None


def locate(task: IndexTask, access: RemoteAccess) -> RemoteTask | None:
    """The URL a worker on another machine fetches this file from, or None when no setting reaches it.

    The operator's own copy comes first (the mapped folder, then the server's audio URL): it is the copy
    whose md5 the catalogue holds, and many workers must not pull from a source archive without the
    crawler's rate limits. The source's URL is the fallback for crawled files.
    """
    suffix = PurePosixPath(task.filename or task.path).suffix.lower()

    def at(url: str, bearer: str | None = None) -> RemoteTask:
        return RemoteTask(task.file_id, url, task.md5, task.size, suffix, task.duration, bearer,
                          access.fetch_timeout)

    if task.path and (url := _mapped(task.path, access.path_map)):
        return at(url)
    if access.audio_url:
        return at(access.audio_url.format(id=task.file_id), access.audio_key)
    if (access.source_urls and task.url and task.kind != "folder" and task.url.startswith(("http://", "https://"))
            and not _is_archive_member(task.filename)):
        return at(task.url)
    return None


def remote_tasks(tasks: list[IndexTask], access: RemoteAccess) -> list[RemoteTask]:
    """Every task as a URL, or NoWorkerURL naming the settings when some file cannot be reached."""
    out: list[RemoteTask] = []
    missing: list[int] = []
    for t in tasks:
        r = locate(t, access)
        if r is None:
            missing.append(t.file_id)
        else:
            out.append(r)
    if missing:
        shown = ", ".join(str(i) for i in missing[:10]) + (" …" if len(missing) > 10 else "")
        raise NoWorkerURL(
            f"{len(missing)} file(s) have no URL a Dask worker on another machine can fetch (items {shown}): "
            "set TESSERA_DASK_PATH_MAP (a local folder to a shared or object-store URL), TESSERA_DASK_AUDIO_URL "
            "or TESSERA_PUBLIC_URL (workers then fetch {public_url}/api/items/{id}/audio); nothing was indexed",
            items=missing[:100])
    return out


class FetchFailed(Exception):
    pass


def _fetch_http(task: RemoteTask, dest: Path, max_bytes: int) -> str:
    import httpx

    headers = {"Authorization": f"Bearer {task.bearer}"} if task.bearer else {}
    h = hashlib.md5(usedforsecurity=False)
    try:
        with httpx.stream("GET", task.url, headers=headers, timeout=task.timeout, follow_redirects=True) as r:
            if r.status_code == 404:
                raise FetchFailed(f"not found at {task.url} (HTTP 404)")
            if r.status_code >= 400:
                raise FetchFailed(f"HTTP {r.status_code} from {task.url}")
            declared = r.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchFailed(f"too large: {task.url} is {declared} bytes, the limit is {max_bytes}")
            got = 0
            with dest.open("wb") as fh:
                for block in r.iter_bytes(CHUNK):
                    got += len(block)
                    if got > max_bytes:
                        raise FetchFailed(f"too large: {task.url} sent more than {max_bytes} bytes")
                    h.update(block)
                    fh.write(block)
    except httpx.TimeoutException:
        raise FetchFailed(f"timed out fetching {task.url} (after {task.timeout:.0f} s without data)") from None
    except httpx.HTTPError as exc:
        raise FetchFailed(f"could not fetch {task.url}: {type(exc).__name__}: {exc}") from None
    return h.hexdigest()


def _fetch_fsspec(task: RemoteTask, dest: Path, max_bytes: int) -> str:
    try:
        import fsspec
    except ImportError:
        raise FetchFailed(f"cannot read {task.url}: fsspec is not installed on this worker "
                          "(pip install 'tessera[dask]')") from None
    h = hashlib.md5(usedforsecurity=False)
    got = 0
    try:
        with fsspec.open(task.url, "rb") as src, dest.open("wb") as fh:
            while block := src.read(CHUNK):
                got += len(block)
                if got > max_bytes:
                    raise FetchFailed(f"too large: {task.url} holds more than {max_bytes} bytes")
                h.update(block)
                fh.write(block)
    except FileNotFoundError:
        raise FetchFailed(f"not found at {task.url}") from None
    except (OSError, ValueError, ImportError) as exc:  # unknown protocol, missing backend, I/O
        raise FetchFailed(f"could not read {task.url}: {type(exc).__name__}: {exc}") from None
    return h.hexdigest()


def fetch_and_process(task: RemoteTask, params: IndexParams) -> Result:
    """Runs on a worker: fetch, check the md5, analyse, delete. Never raises: a failure is a reason."""
    from tessera.indexer.run import process_one

    tmp = Path(tempfile.mkdtemp(prefix="tessera-index-"))
    try:
        dest = tmp / f"audio{task.suffix}"
        try:
            fetch = _fetch_http if task.url.startswith(("http://", "https://")) else _fetch_fsspec
            md5 = fetch(task, dest, params.max_file_bytes)
        except FetchFailed as exc:
            return task.file_id, None, str(exc)
        if md5 != task.md5:
            return task.file_id, None, (f"changed since it was registered: {task.url} has md5 {md5}, the catalogue "
                                        f"holds {task.md5}; not indexed (register the file again)")
        local = IndexTask(task.file_id, str(dest), task.md5, dest.stat().st_size, task.duration)
        return process_one(local, params)
    except OSError as exc:  # the worker's own disk: full, unwritable temp dir
        return task.file_id, None, f"worker could not store {task.url}: {exc}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def worker_extractor_version() -> str:
    """Runs on every worker before any task: proves Tessera imports there, and says which extractor."""
    return EXTRACTOR_VERSION


class DaskRun:
    """A connection to a Dask scheduler that has workers, made before anything changes in the catalogue."""

    def __init__(self, client: Any, owned: bool, access: RemoteAccess) -> None:
        self.client = client
        self.owned = owned
        self.access = access

    @classmethod
    def connect(cls, scheduler: Any, access: RemoteAccess) -> DaskRun:
        try:
            from distributed import Client
        except ImportError:
            raise SchedulerUnreachable(f"a Dask scheduler was given ({SCHEDULER_SETTING}) but Dask is not "
                                       "installed: pip install 'tessera[dask]', or unset it") from None
        if isinstance(scheduler, Client):
            return cls(scheduler, False, access)
        try:
            client = Client(scheduler, timeout=access.connect_timeout, set_as_default=False)
        except (OSError, ValueError) as exc:
            raise SchedulerUnreachable(
                f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); fix {SCHEDULER_SETTING}, or leave it "
                "unset to index on this machine; nothing was changed", scheduler=str(scheduler)) from None
        try:
            client.wait_for_workers(1, timeout=access.workers_timeout)
        except (TimeoutError, OSError):
            client.close()
            raise SchedulerUnreachable(
                f"the Dask scheduler at {scheduler!r} has no workers after {access.workers_timeout:.0f} s; start "
                f"dask worker {scheduler} on the machines that analyse audio, or fix {SCHEDULER_SETTING}; nothing "
                "was changed", scheduler=str(scheduler)) from None
        try:
            # workers without Tessera, or with another feature extractor, would fail or spoil every file
            versions = client.run(worker_extractor_version)
        except Exception as exc:
            client.close()
            raise SchedulerUnreachable(
                f"the workers of {scheduler!r} cannot run Tessera's analysis ({type(exc).__name__}: {exc}): install "
                "the same Tessera version on them (pip install 'tessera[dask]'); nothing was changed",
                scheduler=str(scheduler)) from None
        if other := sorted({v for v in versions.values() if v != EXTRACTOR_VERSION}):
            client.close()
            raise SchedulerUnreachable(
                f"workers of {scheduler!r} run feature extractor {', '.join(other)}, this catalogue "
                f"{EXTRACTOR_VERSION}: install the same Tessera version on them; nothing was changed",
                scheduler=str(scheduler))
        return cls(client, True, access)

    def close(self) -> None:
        if self.owned:
            self.client.close()

    def run(self, tasks: list[IndexTask], params: IndexParams) -> Iterator[Result]:
        """Resolve every URL first (NoWorkerURL before any result), then stream the results as they finish."""
        try:
            remote = remote_tasks(tasks, self.access)
        except Exception:
            self.close()
            raise
        return self._stream(remote, params)

    def _stream(self, remote: list[RemoteTask], params: IndexParams) -> Iterator[Result]:
        from distributed import as_completed

        from tessera.indexer.run import WORKER_DIED

        try:
            window = self.access.in_flight or 4 * max(1, sum(self.client.nthreads().values()))
            todo = iter(remote)
            futures: dict[Any, RemoteTask] = {}

            def submit() -> Any:
                t = next(todo, None)
                if t is None:
                    return None
                f = self.client.submit(fetch_and_process, t, params, pure=False)
                futures[f] = t
                return f

            # a bounded number in flight: a million tasks must not sit in the scheduler's memory at once
            first = [f for f in (submit() for _ in range(window)) if f is not None]
            ac = as_completed(first, loop=self.client.loop)  # the client is not the process's default one
            for fut in ac:
                t = futures.pop(fut)
                try:
                    file_id, out, err = fut.result()
                except Exception as exc:  # KilledWorker: the file took down a worker each time it was tried
                    log.warning("dask task for file %d failed: %s", t.file_id, exc)
                    file_id, out, err = t.file_id, None, f"{WORKER_DIED} [{type(exc).__name__}]"
                fut.release()
                if out is not None and out.extractor_version != EXTRACTOR_VERSION:
                    err = (f"the worker runs feature extractor {out.extractor_version}, this catalogue "
                           f"{EXTRACTOR_VERSION}: install the same Tessera version on the workers")
                    out = None
                yield file_id, out, err
                if (nxt := submit()) is not None:
                    ac.add(nxt)
        finally:
            self.close()
