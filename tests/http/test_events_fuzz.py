"""Property-based fuzzing of the registry's notifications: a bad event is skipped, never a 5xx.

Why: the registry re-sends an envelope until it is answered 2xx and holds back every later event
meanwhile, so one event the parser cannot handle stalls the inventory for good (finding 8 of the
security review: a timestamp near year 1 or 9999 raised OverflowError, a 500).  The events here
are mostly shaped like the registry's, with any field replaced by arbitrary JSON (lone surrogates,
NULs, huge and negative numbers, nesting, extreme and malformed timestamps), so that every branch
of ``services/inventory.parse_event`` sees both what it expects and what it does not.

Bounded and deterministic for CI: ``derandomize=True`` and no example database.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as observe
from hypothesis import strategies as st

from authsvc.services.inventory import MalformedEvent, RegistryEvent, parse_event
from tests.http.conftest import served
from tests.support.http import basic_header

SECRET = "registry-events-secret-fuzz"
DIGESTS = ["sha256:" + "a" * 64, "sha256:" + "d" * 64, "sha512:" + "b" * 86, "sha256:short", "",
           "sha256:" + "c" * 200]

#: Any text, lone surrogates and NULs included (hypothesis leaves surrogates out by default).
any_text = st.text(st.characters(blacklist_categories=()), max_size=20) | st.sampled_from(
    ["", "\x00", "\ud800", "x" * 300, "pub/app\n", "latest\n", "push\n"])
json_scalar = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
               | st.floats(allow_nan=False, allow_infinity=False) | any_text)
any_json = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(any_text, inner, max_size=3), max_leaves=8)

extreme_times = st.sampled_from([
    "0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59+14:00",
    "2026-01-01T10:00:00.123456789Z", "2026-02-30T10:00:00Z", "2026-01-01T25:00:00Z", "now", "",
    "2026-01-01T10:00:00+24:00", "2026-01-01T10:00:00.1234567891234Z",
])
any_time = (extreme_times
            | st.datetimes(timezones=st.timezones() | st.just(dt.timezone(dt.timedelta(hours=-23, minutes=-59))))
            .map(dt.datetime.isoformat)
            | any_json)


def one_in(n: int, rare: st.SearchStrategy, usual: st.SearchStrategy) -> st.SearchStrategy:
    """``rare`` once in ``n`` draws, else ``usual`` (one_of would weigh them alike)."""
    return st.integers(1, n).flatmap(lambda k: rare if k == 1 else usual)


def often(valid: list, odd: list) -> st.SearchStrategy:
    """Each of ``valid`` four (or eight) times as likely as each of ``odd``."""
    return st.sampled_from(valid * 4 + odd) if len(valid) >= len(odd) else st.sampled_from(valid * 8 + odd)


target = st.fixed_dictionaries({
    "repository": often(["pub/app", "priv/app", "pub/a/b"], ["ghost/app", "toplevel", "pub/", "pub/" + "x" * 252]),
    "tag": often(["v1", "latest", "t" * 128], ["-bad", "t" * 129, "v1\n"]),
    "digest": often(DIGESTS[:3], DIGESTS[3:]),
    "mediaType": often(["application/vnd.oci.image.manifest.v1+json", "application/octet-stream"], ["x" * 300]),
    "size": st.integers(min_value=-2**40, max_value=2**40),
    "url": st.sampled_from(["http://r/v2/pub/app/manifests/sha256:x", "http://r/v2/pub/app/blobs/y"]),
}, optional={"length": any_json})

usual_event = st.fixed_dictionaries({
    "id": one_in(6, st.sampled_from(["dup-1", "dup-2", "i" * 101]), st.uuids().map(str)),
    "action": st.sampled_from(["push", "push", "delete", "pull", "mount"]),
    "target": target,
    "timestamp": any_time,
    "actor": st.fixed_dictionaries({"name": often(["alice", ""], ["a" * 2000])}),
})
FIELDS = ["id", "action", "target", "timestamp", "actor", "target.repository", "target.tag", "target.digest",
          "target.mediaType", "target.size", "target.url", "actor.name"]


@st.composite
def event(draw) -> dict:
    """An event as the registry writes it (with odd but typed values), then up to two of its fields
    replaced by arbitrary JSON, so that some events are applied and each field is also broken
    (``--hypothesis-show-statistics`` shows how many envelopes applied an event)."""
    raw = draw(usual_event)
    broken = draw(st.sampled_from([0, 0, 0, 0, 1, 1, 2]))
    for where in draw(st.lists(st.sampled_from(FIELDS), min_size=broken, max_size=broken, unique=True)):
        head, _, key = where.partition(".")
        holder = raw if not key else raw[head]
        if isinstance(holder, dict):
            holder[key or head] = draw(any_json)
    return raw


envelope = st.fixed_dictionaries({"events": st.lists(one_in(8, any_json, event()), max_size=4)},
                                 optional={"extra": any_json})


@settings(max_examples=600, derandomize=True, database=None, deadline=None)
@given(raw=st.one_of(event(), any_json))
def test_parse_event_returns_an_event_or_says_what_is_wrong(raw):
    """No exception but MalformedEvent, whatever the JSON: anything else would be a 500."""
    try:
        parsed = parse_event(raw)
    except MalformedEvent as exc:
        assert str(exc)
    else:
        assert isinstance(parsed, RegistryEvent) and parsed.at.tzinfo is None
        for text in (parsed.id, parsed.action, parsed.repository, parsed.tag or "", parsed.digest or "",
                     parsed.media_type, parsed.actor, parsed.url):
            text.encode("utf-8")  # storable: no lone surrogate (and no NUL, checked by the parser)
            assert "\x00" not in text


@pytest.fixture
def fuzz_app(tmp_path):
    """A seeded app receiving notifications; one for every example, as a long-running server is."""
    with served(tmp_path, notification_secret=SECRET) as application:
        yield application


@settings(max_examples=150, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(body=envelope)
def test_every_envelope_is_a_200_and_the_inventory_stays_readable(fuzz_app, body):
    client = fuzz_app.test_client()
    response = client.post("/registry/events", data=json.dumps(body),
                           headers={"Authorization": f"Bearer {SECRET}",
                                    "Content-Type": "application/vnd.docker.distribution.events.v1+json"})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    summary = response.get_json()
    assert summary["events"] == len(body["events"])
    assert summary["events"] == sum(summary[k] for k in ("applied", "duplicates", "ignored", "skipped"))
    observe("some event applied" if summary["applied"] else "none applied")  # --hypothesis-show-statistics
    # Whatever was applied can be read back (a stored year-1 or year-9999 time must not break reading).
    for project in ("pub", "priv"):
        listed = client.get(f"/api/v1/projects/{project}/repositories?page_size=100", headers=basic_header("root"))
        assert listed.status_code == 200, listed.get_data(as_text=True)[:500]
        for repository in listed.get_json():
            path = repository["name"].partition("/")[2]
            tags = client.get(f"/api/v1/projects/{project}/repositories/{path}/tags?page_size=100",
                              headers=basic_header("root"))
            assert tags.status_code == 200, tags.get_data(as_text=True)[:500]
