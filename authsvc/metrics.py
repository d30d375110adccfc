"""Prometheus metrics: the few numbers an operator alerts on, counted where they happen.

Why a module of its own: the services count (a bcrypt run, a cache hit, a
throttled attempt) with one-line calls, the web layer counts whole token
requests, and ``/metrics`` renders everything; none of them should know how
prometheus_client is set up.  ``core`` and ``signing`` stay free of it.

Labels come from small closed sets only (outcomes, actions, kinds), never a
user, repository or address: every label value is a time series kept
forever by Prometheus, and a user name would also leak who tried to log in.

``/metrics`` is open by default, so no series may move differently for a user
name that exists and one that does not: a failed password login counts the
same (one cache miss, one "invalid" bcrypt run, one failure) whatever the
name.  That is why an unknown name is counted as "invalid" and why cache
misses are counted with the bcrypt runs rather than where the cache is
looked up (only an existing user's entry can be looked up).

Under gunicorn each worker is a process with its own counters.
prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, which
``config/gunicorn.conf.py`` provides) makes each process write its values to
memory-mapped files in that directory, and :func:`render` adds up every
process's files, so any worker answering a scrape reports the whole service,
including workers that have since died (counters must never go backwards).
Without the variable (tests, ``flask run``, one process) the ordinary
in-memory registry is used.  The mode is chosen when prometheus_client is
first imported, so the variable must be set before the app is loaded.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "TOKEN_OUTCOMES", "Deferred", "render"]

#: Every outcome of a token request.  "granted": every requested action (or a login without
#: scopes); "partial": some; "denied": scopes asked, none granted — all three are HTTP 200.
TOKEN_OUTCOMES = ("granted", "partial", "denied", "bad_request", "unauthorized", "throttled",
                  "unavailable", "error")
_OUTCOME_BY_STATUS = {400: "bad_request", 401: "unauthorized", 405: "bad_request", 413: "bad_request",
                      415: "bad_request", 429: "throttled", 503: "unavailable"}
#: Actions as labels; any other word a client may send is counted as "other".
ACTIONS = ("pull", "push", "delete", "*", "other")
#: How a caller authenticated on the token path.
LOGIN_KINDS = ("password", "personal_token", "robot", "identity_token", "refresh_token", "api_token")

_token_requests = Counter(
    "authsvc_token_requests", "Token requests answered, by outcome (granted, partial and denied are 200s).",
    ["outcome"])
_token_latency = Histogram(
    "authsvc_token_request_duration_seconds", "Time to answer a token request, from routing to response.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
_actions = Counter(
    "authsvc_token_actions", "Actions requested in token scopes, by action and whether the token got it.",
    ["action", "result"])
_password_checks = Counter(
    "authsvc_password_verifications", "bcrypt runs: valid, or invalid (a wrong password or an unknown "
    "user name, which are not told apart).", ["result"])
_cache_lookups = Counter(
    "authsvc_credential_cache_lookups", "Password logins answered from the verified-password cache (hit) "
    "or by bcrypt (miss).", ["result"])
_throttled = Counter(
    "authsvc_throttled_attempts", "Password attempts refused with 429 before any bcrypt work.")
_logins = Counter(
    "authsvc_logins", "Credential checks on the token path, by kind of credential and result.",
    ["kind", "result"])

# Children bound once: the hot path then skips the label lookup, and every series exists (at 0)
# from the start, so rate() and absent-series alerts behave from the first scrape.
_TOKEN = {outcome: _token_requests.labels(outcome) for outcome in TOKEN_OUTCOMES}
_ACTION = {(action, result): _actions.labels(action, result)
           for action in ACTIONS for result in ("granted", "denied")}
_PASSWORD = {True: _password_checks.labels("valid"), False: _password_checks.labels("invalid")}
_CACHE = {True: _cache_lookups.labels("hit"), False: _cache_lookups.labels("miss")}
_LOGIN = {(kind, ok): _logins.labels(kind, "success" if ok else "failure")
          for kind in LOGIN_KINDS for ok in (True, False)}


class _Deferral(threading.local):
    counts: list | None = None


_deferral = _Deferral()


def _inc(child) -> None:
    counts = _deferral.counts
    if counts is None:
        child.inc()
    else:
        counts.append(child)


class Deferred:
    """Counts made inside the block are held back until :meth:`apply`, and dropped without it.

    For the fast token path (web/fast_token.py): it runs a request's services and hands the
    request to the full Flask path when it meets anything it does not answer itself (a refusal,
    a cache miss, a write).  What the services counted until then must not count, or the full
    path's own counts would make that request count twice.
    """

    def __init__(self):
        self.counts: list = []

    def __enter__(self) -> Deferred:
        _deferral.counts = self.counts
        return self

    def __exit__(self, *_exc) -> None:
        _deferral.counts = None

    def apply(self) -> None:
        for child in self.counts:
            child.inc()
        self.counts.clear()


def token_answered(status: int, outcome: str | None, seconds: float) -> str:
    """Count one answered token request; ``outcome`` is the decision's for a 200.  Returns the
    outcome counted, for the request log."""
    if status == 200:
        outcome = outcome if outcome in _TOKEN else "granted"
    else:
        outcome = _OUTCOME_BY_STATUS.get(status, "bad_request" if 400 <= status < 500 else "error")
    _inc(_TOKEN[outcome])
    _token_latency.observe(seconds)
    return outcome


def token_decided(requested: Iterable, granted: Iterable) -> str:
    """Count each requested action as granted or denied and say what the request got overall.

    ``requested`` and ``granted`` are :class:`authsvc.core.scopes.Scope` lists as
    ``policy.decide`` takes and returns them.  A requested ``*`` counts as granted when the
    token carries any action on that resource (``decide`` spells ``*`` out as the caller's
    actions).
    """
    held = {(scope.type, scope.name): scope.actions for scope in granted}
    asked = given = 0
    for scope in requested:
        actions = held.get((scope.type, scope.name), ())
        for action in scope.actions:
            ok = bool(actions) if action == "*" else action in actions
            asked += 1
            given += ok
            _inc(_ACTION[(action if action in ACTIONS else "other", "granted" if ok else "denied")])
    if given == asked:
        return "granted"
    return "denied" if given == 0 else "partial"


def password_checked(valid: bool | None) -> None:
    """One bcrypt run on the password path, which is also one cache miss.

    None (the run against the dummy hash for a name that does not exist) counts exactly as
    False: telling them apart here would tell anyone who can scrape /metrics which names exist.
    """
    _inc(_PASSWORD[bool(valid)])
    _inc(_CACHE[False])


def cache_lookup(hit: bool) -> None:
    """A lookup in the verified-password cache.  Only hits are counted here: a lookup happens
    only for an existing user, so counting its misses would tell existing names from unknown
    ones; every miss is counted by :func:`password_checked` instead, for every name alike."""
    if hit:
        _inc(_CACHE[True])


def throttled() -> None:
    _inc(_throttled)


def login(kind: str, ok: bool) -> None:
    _inc(_LOGIN[(kind, ok)])


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


class _CertificateCollector:
    """Seconds until the signing certificate expires, computed at scrape time.

    Both registry generations reject every token once the certificate has
    expired, so this is the one gauge worth an alert.  It is read from the
    certificate the answering process has loaded rather than stored as a
    gauge: that needs no multiprocess bookkeeping and is never stale.
    """

    def __init__(self, not_after: dt.datetime | None):
        self.not_after = not_after

    def collect(self):
        if self.not_after is None:  # no usable key: the series is absent (alert on absent())
            return
        left = (self.not_after - dt.datetime.now(dt.UTC)).total_seconds()
        yield GaugeMetricFamily("authsvc_signing_certificate_expiry_seconds",
                                "Seconds until the signing certificate expires (negative: expired).",
                                value=round(left))


def render(certificate_not_after: dt.datetime | None) -> bytes:
    """The text exposition of every metric, summed over all worker processes when under gunicorn."""
    if multiprocess_dir():
        from prometheus_client import multiprocess
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    extra = CollectorRegistry(auto_describe=False)
    extra.register(_CertificateCollector(certificate_not_after))
    return generate_latest(registry) + generate_latest(extra)
