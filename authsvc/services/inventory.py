"""The repository inventory: which repositories and tags each project holds, from the registry's own word.

The registry POSTs a notification envelope (``{"events": [...]}``) to ``web/notifications.py`` for
every manifest and blob it stores, serves or deletes; :func:`record_events` applies the ones that
change what a project holds:

* ``push`` of a manifest with a tag: the repository and the tag (digest, media type, size,
  pushed by, pushed at) are created or updated — OCI and Docker manifests and indexes alike;
* ``push`` of a manifest by digest (an index's children, a push by digest): the repository only;
* ``delete`` with a digest (a manifest delete): the repository's tags pointing to that digest go;
  with a tag only (the registry's tag delete): that tag goes; with neither (a repository
  delete): the whole repository goes.  A repository left without tags by a delete is removed,
  since nothing in it can be pulled by name any more;
* pulls, mounts and blob pushes change nothing and are ignored.

The registry retries a batch until it is answered 2xx, so the answer must not depend on a single
event: an event that cannot be parsed, or names a repository outside every project, is logged and
skipped.  Each applied event's id is stored in the same unit of work as its change, so a batch
sent again (the registry timed out waiting for our answer) changes nothing the second time; a
batch that loses a race with a concurrent delivery is answered 409 and rolled back whole, and the
registry's retry then finds its events applied.  The
registry's timestamps order the changes: a push older than the tag's stored push, or a delete
older than the push it would remove, is outdated and changes nothing, should two registry
instances deliver out of order.

Reading goes through :mod:`.projects`' visibility: a private project's repositories are as
invisible as the project itself.  Who pushed a tag is shown only to those who may see the
project's members (``policy.may_see_members``).  No audit event is written per notification: the
token grant that allowed the push or delete is already in the audit log.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, union_all

from ..core.policy import Principal, may_see_members
from ..core.scopes import project_of
from ..core.text import unstorable_reason
from ..store.models import PRINCIPAL_NAME_MAX, NotificationEvent, Project, Repository, Tag, utcnow
from .access import projects
from .errors import Invalid, NotFound, Unauthorized
from .unit_of_work import UnitOfWork

log = logging.getLogger("authsvc.inventory")

#: Where the registry posts its notifications (``web/notifications.py`` serves it, and
#: ``registry_config`` derives the URL from ``realm``).
EVENTS_PATH = "/registry/events"

#: Manifest media types: image manifests and indexes of both families, and the older ones.
MANIFEST_MEDIA_TYPES = frozenset({
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.artifact.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
})

#: How long applied event ids are kept: the registry re-sends a batch only when our answer did not
#: reach it, which is a matter of seconds or minutes, never of days.
SEEN_EVENTS_RETENTION = dt.timedelta(days=7)

_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)  # both applied with fullmatch
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{1,90}")
_MAX_SIZE = 2**31 - 1  # the size column is a 32-bit integer; manifests are at most a few MiB


class MalformedEvent(ValueError):
    """An event this inventory cannot read; it is skipped, never a reason to refuse the batch."""


@dataclass(frozen=True)
class RegistryEvent:
    """The parts of one notification event the inventory uses."""

    id: str
    action: str
    repository: str
    tag: str | None
    digest: str | None
    media_type: str
    size: int | None
    actor: str
    at: dt.datetime  # naive UTC, like every timestamp in the database
    url: str = ""

    @property
    def is_manifest(self) -> bool:
        """Manifests have a manifest media type; blobs are application/octet-stream (or whatever the
        uploader said), and their URL names /blobs/ instead of /manifests/."""
        return bool(self.tag) or self.media_type in MANIFEST_MEDIA_TYPES or "/manifests/" in self.url


@dataclass
class Outcome:
    """What one envelope did; returned to the registry (which ignores it) and to tests."""

    events: int = 0
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    skipped: int = 0

    def summary(self) -> dict:
        return {"events": self.events, "applied": self.applied, "duplicates": self.duplicates,
                "ignored": self.ignored, "skipped": self.skipped}


@dataclass(frozen=True)
class RepositoryInfo:
    name: str  # the full name, as clients pull it: PROJECT/PATH
    tag_count: int
    updated_at: dt.datetime


@dataclass(frozen=True)
class TagInfo:
    name: str
    digest: str
    media_type: str
    size: int | None
    pushed_by: str | None  # None for callers who may not see the project's members
    pushed_at: dt.datetime


# -- receiving ---------------------------------------------------------------------------------

def verify_registry_secret(uow: UnitOfWork, presented: str | None) -> None:
    """Accept the registry's notification only with the configured shared secret.

    Disabled (no secret configured) is a 404, as for a route that does not exist; a missing or
    wrong secret is a 401.  The comparison takes the same time wherever the strings differ.
    """
    secret = uow.settings.notification_secret
    if not secret:
        raise NotFound("registry notifications are not enabled: set notification_secret")
    if presented is None or not hmac.compare_digest(presented.encode("utf-8", "replace"),
                                                    secret.encode("utf-8")):
        raise Unauthorized("registry notifications need the shared secret (Authorization: Bearer …)")


def record_events(uow: UnitOfWork, envelope: Any) -> Outcome:
    """Apply a notification envelope, event by event, in the caller's unit of work.

    Only an envelope that is not ``{"events": [...]}`` at all is refused (the registry never sends
    one); a bad event inside a good envelope is logged and skipped.  Database failures propagate
    (the caller answers 503 and the registry retries later, which is what should happen).
    """
    if not isinstance(envelope, dict) or not isinstance(envelope.get("events"), list):
        raise Invalid('a notification envelope is a JSON object {"events": [...]}')
    outcome = Outcome(events=len(envelope["events"]))
    for index, raw in enumerate(envelope["events"]):
        try:
            event = parse_event(raw)
        except MalformedEvent as exc:
            log.warning("registry notification: event %d skipped: %s", index, exc)
            outcome.skipped += 1
            continue
        result = _record(uow, event)
        setattr(outcome, result, getattr(outcome, result) + 1)
    _forget_old_events(uow)
    return outcome


def parse_event(raw: Any) -> RegistryEvent:
    """One event of the envelope, checked field by field; :class:`MalformedEvent` says what is wrong."""
    if not isinstance(raw, dict):
        raise MalformedEvent("not a JSON object")
    event_id = _string(raw.get("id"), "id", 100, required=True)
    action = _string(raw.get("action"), "action", 20, required=True)
    target = raw.get("target")
    if not isinstance(target, dict):
        raise MalformedEvent(f"event {event_id}: no target object")
    repository = _string(target.get("repository"), "target.repository", 255, required=True)
    tag = _string(target.get("tag"), "target.tag", 128)
    if tag is not None and not _TAG.fullmatch(tag):
        raise MalformedEvent(f"event {event_id}: target.tag is not a tag")
    digest = _string(target.get("digest"), "target.digest", 100)
    if digest is not None and not _DIGEST.fullmatch(digest):
        raise MalformedEvent(f"event {event_id}: target.digest is not a digest")
    media_type = _string(target.get("mediaType"), "target.mediaType", 255) or ""
    size = target.get("size", target.get("length"))
    if type(size) is not int or not 0 <= size <= _MAX_SIZE:
        size = None
    actor = raw.get("actor")
    actor_name = (_string(actor.get("name"), "actor.name", 1000) if isinstance(actor, dict) else None) or ""
    url = _string(target.get("url"), "target.url", 4096) or ""
    return RegistryEvent(id=event_id, action=action, repository=repository, tag=tag, digest=digest,
                         media_type=media_type[:100], size=size, actor=actor_name[:PRINCIPAL_NAME_MAX],
                         at=_timestamp(raw.get("timestamp")), url=url)


def _string(value: Any, name: str, limit: int, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise MalformedEvent(f"{name} is missing")
        return None
    reason = unstorable_reason(value, limit)  # the one rule for every stored text (core.text)
    if reason is not None:
        raise MalformedEvent(f"{name} {reason}")
    return value


def _timestamp(value: Any) -> dt.datetime:
    """RFC 3339 with nanoseconds, as Go writes it; unreadable or missing means 'now'.

    A time that exists in its own offset but not in UTC (``0001-01-01T00:00:00+01:00``,
    ``9999-12-31T23:59:59-01:00``) cannot be stored or ordered: :class:`MalformedEvent`, so the
    event is skipped rather than the whole batch answered 500 and re-sent for ever.
    """
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None:
            if parsed.tzinfo is not None:
                try:
                    parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
                except OverflowError:
                    raise MalformedEvent(f"timestamp {value[:40]!r} is out of range in UTC") from None
            return parsed
    return utcnow()


def _record(uow: UnitOfWork, event: RegistryEvent) -> str:
    """Apply one event; returns the Outcome counter it belongs to."""
    if event.action not in ("push", "delete") or (event.action == "push" and not event.is_manifest):
        return "ignored"  # pulls, mounts, blob pushes
    project_name = project_of(event.repository)
    project_id = None
    if project_name is not None:
        project_id = uow.session.execute(
            select(Project.id).where(Project.name == project_name)).scalar_one_or_none()
    if project_id is None:
        log.warning("registry notification: event %s (%s %s) skipped: no project %r", event.id,
                    event.action, event.repository, project_name)
        return "skipped"
    if _seen(uow, event.id):
        return "duplicates"
    # The id first: a concurrent delivery of the same event waits here, then fails (IntegrityError:
    # the batch is answered 409 and re-sent by the registry, which then finds it applied).
    uow.session.execute(insert(NotificationEvent).values(id=event.id, received_at=utcnow()))
    if event.action == "push":
        _apply_push(uow, project_id, event)
    else:
        _apply_delete(uow, project_id, event)
    uow.session.flush()
    return "applied"


def _seen(uow: UnitOfWork, event_id: str) -> bool:
    return uow.session.execute(
        select(NotificationEvent.id).where(NotificationEvent.id == event_id)).first() is not None


def _repository(uow: UnitOfWork, project_id: int, name: str, at: dt.datetime) -> Repository:
    repository = uow.session.execute(select(Repository).where(Repository.name == name)).scalar_one_or_none()
    if repository is None:
        repository = Repository(project_id=project_id, name=name, updated_at=at)
        uow.session.add(repository)
        uow.session.flush()
    elif repository.updated_at < at:
        repository.updated_at = at
    return repository


def _apply_push(uow: UnitOfWork, project_id: int, event: RegistryEvent) -> None:
    repository = _repository(uow, project_id, event.repository, event.at)
    if not event.tag or not event.digest:
        return  # a manifest by digest (an index's child): the repository exists, no tag moved
    tag = uow.session.execute(select(Tag).where(Tag.repository_id == repository.id,
                                               Tag.name == event.tag)).scalar_one_or_none()
    if tag is None:
        uow.session.add(Tag(repository_id=repository.id, name=event.tag, digest=event.digest,
                           media_type=event.media_type, size=event.size, pushed_by=event.actor,
                           pushed_at=event.at))
    elif tag.pushed_at <= event.at:  # an older push delivered late must not move the tag back
        tag.digest, tag.media_type, tag.size = event.digest, event.media_type, event.size
        tag.pushed_by, tag.pushed_at = event.actor, event.at


def _apply_delete(uow: UnitOfWork, project_id: int, event: RegistryEvent) -> None:
    repository = uow.session.execute(
        select(Repository).where(Repository.name == event.repository)).scalar_one_or_none()
    if repository is None:
        return
    if event.digest is None and event.tag is None:  # the whole repository (registry 3.x)
        uow.session.execute(delete(Tag).where(Tag.repository_id == repository.id))
        uow.session.delete(repository)
        return
    # Only tags pushed before the delete: a tag re-pushed since then stays.
    doomed = delete(Tag).where(Tag.repository_id == repository.id, Tag.pushed_at <= event.at)
    doomed = doomed.where(Tag.digest == event.digest) if event.digest else doomed.where(Tag.name == event.tag)
    uow.session.execute(doomed)
    if repository.updated_at < event.at:
        repository.updated_at = event.at
    remaining = uow.session.execute(
        select(func.count()).select_from(Tag).where(Tag.repository_id == repository.id)).scalar()
    if not remaining:
        uow.session.delete(repository)


def _forget_old_events(uow: UnitOfWork) -> None:
    uow.session.execute(delete(NotificationEvent).where(
        NotificationEvent.received_at < utcnow() - SEEN_EVENTS_RETENTION))


# -- reading -----------------------------------------------------------------------------------

def list_repositories(uow: UnitOfWork, actor: Principal, project: str, *, offset: int = 0,
                      limit: int | None = None) -> tuple[list[RepositoryInfo], int]:
    """One page of the project's repositories by name, and how many there are in all."""
    found, _ = projects.get_project(uow, actor, project)
    where = Repository.project_id == found.id
    total = uow.session.execute(select(func.count()).select_from(Repository).where(where)).scalar()
    tag_count = (select(func.count()).select_from(Tag).where(Tag.repository_id == Repository.id)
                 .correlate(Repository).scalar_subquery())
    rows = uow.session.execute(select(Repository.name, tag_count, Repository.updated_at).where(where)
                              .order_by(Repository.name).offset(offset).limit(limit)).all()
    return [RepositoryInfo(name, count, updated) for name, count, updated in rows], total


def list_tags(uow: UnitOfWork, actor: Principal, project: str, repository: str, *, offset: int = 0,
              limit: int | None = None) -> tuple[list[TagInfo], int]:
    """One page of a repository's tags by name, and how many there are in all.

    ``repository`` is the path inside the project (``app`` or ``team/app`` for ``PROJECT/team/app``).
    """
    found, view = projects.get_project(uow, actor, project)
    name = f"{project}/{repository}"
    repository_id = uow.session.execute(select(Repository.id).where(
        Repository.project_id == found.id, Repository.name == name)).scalar_one_or_none()
    if repository_id is None:
        raise NotFound(f"repository {name[:200]!r} does not exist")
    show_pusher = may_see_members(actor, view)
    where = Tag.repository_id == repository_id
    total = uow.session.execute(select(func.count()).select_from(Tag).where(where)).scalar()
    tags = uow.session.execute(select(Tag).where(where).order_by(Tag.name).offset(offset).limit(limit)).scalars()
    return [TagInfo(t.name, t.digest, t.media_type, t.size, t.pushed_by if show_pusher else None, t.pushed_at)
            for t in tags], total


def project_images(uow: UnitOfWork, actor: Principal, project: str, *, offset: int = 0, limit: int = 20,
                   tags_per_repository: int = 20) -> tuple[list[tuple[RepositoryInfo, list[TagInfo]]], int]:
    """One page of the project's repositories, each with its newest tags (at most
    ``tags_per_repository``; ``RepositoryInfo.tag_count`` says how many there are), and how many
    repositories there are: four queries whatever the page holds (a console's project page)."""
    page, total = list_repositories(uow, actor, project, offset=offset, limit=limit)
    if not page:
        return [], total
    _, view = projects.get_project(uow, actor, project)
    show_pusher = may_see_members(actor, view)
    # One statement of per-repository "newest N" selects: each reads only its repository's rows
    # through the (repository_id, name) index, where one window over all of them ranked every tag.
    columns = (Repository.name.label("repository"), Tag.name, Tag.digest, Tag.media_type, Tag.size,
               Tag.pushed_by, Tag.pushed_at)
    newest = [select(*columns).join(Repository, Tag.repository_id == Repository.id)
              .where(Repository.name == info.name).order_by(Tag.pushed_at.desc(), Tag.name)
              .limit(tags_per_repository).subquery() for info in page]
    rows = uow.session.execute(union_all(*(select(sub) for sub in newest))).all()
    tags: dict[str, list[TagInfo]] = {info.name: [] for info in page}
    for row in rows:
        tags[row.repository].append(TagInfo(row.name, row.digest, row.media_type, row.size,
                                            row.pushed_by if show_pusher else None, row.pushed_at))
    for found in tags.values():  # a UNION ALL keeps no order of its own
        found.sort(key=lambda tag: (-tag.pushed_at.timestamp(), tag.name))
    return [(info, tags[info.name]) for info in page], total


def _time(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def repository_summary(info: RepositoryInfo) -> dict:
    return {"name": info.name, "tags": info.tag_count, "updated_at": _time(info.updated_at)}


def tag_summary(info: TagInfo) -> dict:
    return {"name": info.name, "digest": info.digest, "media_type": info.media_type, "size": info.size,
            "pushed_by": info.pushed_by, "pushed_at": _time(info.pushed_at)}
