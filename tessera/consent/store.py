"""The consent stage's store: the only SQL that changes consent state. Only ``ConsentService`` calls it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from tessera.catalog.models import AudioFile, FileFeatures, Segment
from tessera.catalog.visibility import now_utc
from tessera.consent.models import ConsentEvent, OptOut, PurgeJob
from tessera.core.audit import audit
from tessera.core.db import Database
from tessera.core.errors import InvalidInput, NotFound
from tessera.core.vocab import OPT_OUT_KINDS

# what a scrubbed row says in place of its title, file name and attribution
WITHDRAWN_TITLE = "(withdrawn)"

# purges after which a file never comes back by itself (a crawler takedown may be restored: its row is kept)
SCRUBBED_AFTER = ("consent withdrawn", "consent period ended")


class ConsentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _files_in_scope(self, s: Session, scope: str, target: str) -> list[int]:
        if scope == "file":
            q = select(AudioFile.id).where(AudioFile.id == int(target))
        elif scope == "record":
            q = select(AudioFile.id).where(AudioFile.record_id == int(target))
        elif scope == "creator":
            q = select(AudioFile.id).where(func.lower(AudioFile.creator) == target.strip().lower())
        else:
            raise InvalidInput(f"unknown consent scope {scope!r}; one of file, record, creator")
        ids = set(s.scalars(q))
        if not ids:
            return []
        # withdrawn means withdrawn for the bytes: the same md5 anywhere (a mirror, another record or
        # source) goes with it, or a copy would bring the recording back
        same = select(AudioFile.md5).where(AudioFile.id.in_(sorted(ids)))
        return sorted(ids | set(s.scalars(select(AudioFile.id).where(AudioFile.md5.in_(same)))))

    @staticmethod
    def _take_out(s: Session, ids: list[int], event: ConsentEvent, purge_reason: str) -> int:
        """Hide ``ids`` at once, drop their features, and journal the purge they owe; returns the job id.

        All in the caller's transaction: the consent change and its purge job commit together or not at all.
        """
        s.execute(update(AudioFile).where(AudioFile.id.in_(ids)).values(
            consent_state="withdrawn", fingerprint=None, status="pending", extractor_version=None))
        s.execute(delete(FileFeatures).where(FileFeatures.file_id.in_(ids)))
        s.execute(delete(Segment).where(Segment.file_id.in_(ids)))
        s.add(event)
        job = PurgeJob(file_ids=sorted(ids), reason=purge_reason, attempts=0, result={})
        s.add(job)
        s.flush()
        return int(job.id)

    def withdraw(self, scope: str, target: str, actor: str | None, reason: str | None,
                 purge_reason: str = "consent withdrawn") -> tuple[list[int], int]:
        """Withdraw consent for a scope; returns the file ids and the id of the purge job it owes."""
        with self.db.session() as s:
            ids = self._files_in_scope(s, scope, target)
            if not ids:
                raise NotFound(f"nothing to withdraw for {scope} {target!r}")
            job = self._take_out(s, ids, ConsentEvent(scope=scope, target=str(target), action="withdraw",
                                                      actor=actor, reason=reason, file_ids=ids), purge_reason)
            return ids, job

    def set_consent_expiry(self, scope: str, target: str, expires_at: datetime | None,
                           actor: str | None, reason: str | None) -> list[int]:
        with self.db.session() as s:
            ids = self._files_in_scope(s, scope, target)
            if not ids:
                raise NotFound(f"nothing found for {scope} {target!r}")
            s.execute(update(AudioFile).where(AudioFile.id.in_(ids)).values(consent_expires_at=expires_at))
            s.add(ConsentEvent(scope=scope, target=str(target), action="grant", actor=actor, reason=reason,
                               expires_at=expires_at, file_ids=ids))
            return ids

    def expire_lapsed(self, at: datetime | None = None) -> tuple[list[int], int | None]:
        """Turn consents whose period ended into withdrawals; returns the ids and their purge job."""
        at = at or now_utc()
        with self.db.session() as s:
            ids = list(s.scalars(select(AudioFile.id).where(
                AudioFile.consent_state == "active", AudioFile.consent_expires_at.is_not(None),
                AudioFile.consent_expires_at <= at)))
            if not ids:
                return [], None
            ev = ConsentEvent(scope="file", target=",".join(map(str, ids)), action="expire", actor="system",
                              reason="consent period ended", file_ids=ids)
            return ids, self._take_out(s, ids, ev, "consent period ended")

    def scrub(self, file_ids: Sequence[int]) -> int:
        """Forget what a withdrawn recording was called and where it lay; returns how many rows were scrubbed.

        The row stays for the audit trail and for the block on its bytes (id, md5, record, licence, consent
        history); its title, creator, file name, paths and full-text entry go. Only files still withdrawn
        are touched, so a purge retried after a restore changes nothing.
        """
        ids = sorted(file_ids)
        if not ids:
            return 0
        with self.db.session() as s:
            gone = list(s.scalars(select(AudioFile.id).where(
                AudioFile.id.in_(ids), AudioFile.consent_state == "withdrawn")))
            if not gone:
                return 0
            s.execute(update(AudioFile).where(AudioFile.id.in_(gone)).values(
                title=WITHDRAWN_TITLE, creator=None, filename=WITHDRAWN_TITLE, path=None, url=None,
                attribution=WITHDRAWN_TITLE, error=None))
            # the full-text rows (the search stage's tables, kept by triggers on title/creator) go too
            if s.get_bind().dialect.name == "sqlite":
                s.execute(text(f"DELETE FROM item_fts WHERE rowid IN ({','.join(map(str, gone))})"))
            else:
                s.execute(text("DELETE FROM item_search WHERE file_id = ANY(:ids)").bindparams(ids=gone))
            return len(gone)

    # -- purge jobs ----------------------------------------------------------------------
    def pending_jobs(self) -> list[PurgeJob]:
        with self.db.session() as s:
            return list(s.scalars(select(PurgeJob).where(PurgeJob.done_at.is_(None)).order_by(PurgeJob.id)))

    def get_job(self, job_id: int) -> PurgeJob | None:
        with self.db.session() as s:
            return s.get(PurgeJob, job_id)

    def finish_job(self, job_id: int, result: dict[str, Any], error: str | None) -> None:
        with self.db.session() as s:
            job = s.get(PurgeJob, job_id)
            if job is None:
                return
            job.attempts = (job.attempts or 0) + 1
            job.error = error
            job.result = result
            if error is None:
                job.done_at = now_utc()

    def cached_paths(self, file_ids: Sequence[int], cache_dir: str) -> dict[int, str]:
        """Paths of these files that are Tessera's own downloads (never a user's folder)."""
        root = cache_dir.rstrip("/") + "/"
        with self.db.session() as s:
            rows = s.execute(select(AudioFile.id, AudioFile.path).where(AudioFile.id.in_(list(file_ids)))).all()
            return {r.id: r.path for r in rows if r.path and r.path.startswith(root)}

    def forget_paths(self, file_ids: Sequence[int]) -> None:
        with self.db.session() as s:
            s.execute(update(AudioFile).where(AudioFile.id.in_(list(file_ids))).values(path=None))

    def consent_events(self) -> list[ConsentEvent]:
        with self.db.session() as s:
            return list(s.scalars(select(ConsentEvent).order_by(ConsentEvent.id)))

    def blocked_files(self, record_id: int, reason_prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
        """(md5, filename) of a record's withdrawn files that a re-crawl must not fetch again.

        Every withdrawn file but those the crawler alone withdrew for one of ``reason_prefixes`` (a
        licence that may become open again, see ``restore_withdrawn_files``).
        """
        with self.db.session() as s:
            rows = {int(r.id): (r.md5, r.filename) for r in s.execute(
                select(AudioFile.id, AudioFile.md5, AudioFile.filename).where(
                    AudioFile.record_id == record_id, AudioFile.consent_state == "withdrawn"))}
            if not rows:
                return []
            licence_only, blocked = self._withdrawal_kinds(s, set(rows), reason_prefixes)
        return [rows[i] for i in sorted(set(rows) - (licence_only - blocked))]

    @staticmethod
    def _withdrawal_kinds(s: Session, ids: set[int], reason_prefixes: tuple[str, ...]) -> tuple[set[int], set[int]]:
        """Of ``ids``: those a crawler withdrawal for ``reason_prefixes`` touched, and those any other did."""
        licence_only: set[int] = set()
        blocked: set[int] = set()
        for ev in s.scalars(select(ConsentEvent).where(ConsentEvent.action.not_in(["grant", "restore"]))):
            hit = ids.intersection(int(i) for i in ev.file_ids or [])
            if not hit:
                continue
            if ev.actor == "crawler" and ev.action == "withdraw" and (ev.reason or "").startswith(reason_prefixes):
                licence_only |= hit
            else:
                blocked |= hit
        return licence_only, blocked

    def restore_withdrawn_files(self, record_id: int, md5s: set[str], reason_prefixes: tuple[str, ...],
                                reason: str) -> list[int]:
        """Bring back a record's files that the crawler alone withdrew, for one of ``reason_prefixes``.

        For a licence that is open again. A file any other withdrawal ever touched (consent, expiry, a
        takedown, another crawler reason) stays withdrawn: only its owner can bring it back. Returns the ids.
        """
        with self.db.session() as s:
            ids = set(s.scalars(select(AudioFile.id).where(
                AudioFile.record_id == record_id, AudioFile.consent_state == "withdrawn",
                AudioFile.md5.in_(sorted(md5s)))))
            if not ids:
                return []
            licence_only, blocked = self._withdrawal_kinds(s, ids, reason_prefixes)
            back = sorted(licence_only - blocked)
            if back:
                s.execute(update(AudioFile).where(AudioFile.id.in_(back)).values(consent_state="active"))
                s.add(ConsentEvent(scope="file", target=",".join(map(str, back)), action="restore",
                                   actor="crawler", reason=reason, file_ids=back))
            return back

    def take_down(self, record_id: int, reason: str, keep_md5s: set[str] | None = None) -> tuple[list[int], int | None]:
        """A crawler takedown of a record's files still in search (but ``keep_md5s``): one consent event per
        file (actor "crawler"), so a licence that is open again can bring back exactly what it took."""
        with self.db.session() as s:
            q = select(AudioFile.id).where(AudioFile.record_id == record_id, AudioFile.consent_state == "active")
            if keep_md5s:
                q = q.where(AudioFile.md5.not_in(list(keep_md5s)))
            ids = list(s.scalars(q.order_by(AudioFile.id)))
            if not ids:
                return [], None
            for fid in ids[:-1]:
                s.add(ConsentEvent(scope="file", target=str(fid), action="withdraw", actor="crawler", reason=reason,
                                   file_ids=[fid]))
            last = ConsentEvent(scope="file", target=str(ids[-1]), action="withdraw", actor="crawler", reason=reason,
                                file_ids=[ids[-1]])
            return ids, self._take_out(s, ids, last, reason)

    # -- opt-out registry ---------------------------------------------------------------
    def add_opt_out(self, kind: str, value: str, reason: str | None, by: str | None) -> int:
        if kind not in OPT_OUT_KINDS:
            raise InvalidInput(f"unknown opt-out kind {kind!r}; one of {', '.join(OPT_OUT_KINDS)}")
        v = normalise_opt_out(kind, value)
        if not v:
            raise InvalidInput("an opt-out needs a value")
        with self.db.session() as s:
            row = s.scalar(select(OptOut).where(OptOut.kind == kind, OptOut.value == v))
            if row is None:
                row = OptOut(kind=kind, value=v, reason=reason, created_by=by)
                s.add(row)
                s.flush()
                # the audit names the kind only: the value may be a person's e-mail or name
                audit(s, by, "opt_out_added", "opt_out", row.id, kind=kind, reason=reason)
            return row.id

    def list_opt_outs(self) -> list[OptOut]:
        with self.db.session() as s:
            return list(s.scalars(select(OptOut).order_by(OptOut.id)))

    def opted_out(self, **values: str | list[str] | None) -> str | None:
        """The first opt-out entry matching any of creator=, orcid=, ia_uploader=, zenodo_community=."""
        wanted: list[tuple[str, str]] = []
        for kind, v in values.items():
            if kind not in OPT_OUT_KINDS or not v:
                continue
            for one in [v] if isinstance(v, str) else v:
                if one:
                    wanted.append((kind, normalise_opt_out(kind, one)))
        if not wanted:
            return None
        with self.db.session() as s:
            for kind, v in wanted:
                if s.scalar(select(OptOut.id).where(OptOut.kind == kind, OptOut.value == v)) is not None:
                    return f"{kind}:{v}"
        return None


def normalise_opt_out(kind: str, value: str) -> str:
    v = " ".join(value.strip().split()).lower()
    if kind == "orcid":
        v = v.removeprefix("https://orcid.org/").removeprefix("http://orcid.org/")
    return v
