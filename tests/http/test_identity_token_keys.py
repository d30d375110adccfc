"""The trusted issuers' keys in a running app: rotation without a restart, the rate-limited refetch
of an unknown ``kid``, the stale bound while the issuer is unreachable, and stored (air-gapped)
keys.  Time is the keys' monotonic clock, moved by hand (FetchCounter); fetches are counted."""

from __future__ import annotations

import json
import uuid

import pytest
from joserfc.jwk import ECKey, KeySet

from authsvc.core.policy import OPERATOR
from authsvc.services.authn.issuer_keys import NEW_KID_SECONDS, REFETCH_SECONDS, REFRESH_SECONDS, STALE_SECONDS
from authsvc.services.credentials import trust as trust_service
from tests.support.keyless import (
    AUDIENCE,
    PULL_PUSH,
    FetchCounter,
    basic_login,
    error_code,
    exchange,
    issuer_fixture,
    keyless_robot,
    robot,
    stopped,
    trust,
    trust_issuer,
)
from tests.support.token_issuer import Issuer
from tests.support.units import call

own_issuer = issuer_fixture("function")
MAIN = "sub=repo:acme/app:ref:refs/heads/main"


@pytest.fixture
def counter(monkeypatch):
    return FetchCounter(monkeypatch)


@pytest.fixture
def login(seeded, own_issuer):
    return keyless_robot(own_issuer, MAIN)


def _status(client, login, issuer) -> int:
    return basic_login(client, login, issuer.github(AUDIENCE), PULL_PUSH).status_code


def test_rotation_old_key_dropped_needs_no_restart(client, login, own_issuer, counter):
    old_token = own_issuer.github(AUDIENCE)
    assert _status(client, login, own_issuer) == 200
    own_issuer.rotate()  # the new key published, the old one gone
    counter.advance(REFETCH_SECONDS)  # the next job comes along later than the refetch interval
    assert _status(client, login, own_issuer) == 200, "the unknown kid refetched the keys"
    assert counter.jwks_fetches == 2
    assert basic_login(client, login, old_token, PULL_PUSH).status_code == 401, "the dropped key no longer counts"


def test_rotation_keeping_the_old_key_published(client, login, own_issuer, counter):
    old_token = own_issuer.github(AUDIENCE)
    assert _status(client, login, own_issuer) == 200
    own_issuer.rotate(keep_old=True, kind="RSA")
    counter.advance(REFETCH_SECONDS)
    assert _status(client, login, own_issuer) == 200
    assert basic_login(client, login, old_token, PULL_PUSH).status_code == 200


def test_the_job_right_after_a_rotation_works(client, login, own_issuer, counter):
    """A platform that rotates uses its new key at once: the first job with it may fetch (a kid
    never looked for, a second after the last fetch), and a kid a fetch did not find waits."""
    assert _status(client, login, own_issuer) == 200
    own_issuer.rotate()
    counter.advance(NEW_KID_SECONDS)
    assert _status(client, login, own_issuer) == 200 and counter.jwks_fetches == 2
    stranger = ECKey.generate_key("P-256", {"kid": "forged-kid"})
    forged = own_issuer.sign(own_issuer.claims(AUDIENCE), key=stranger)
    counter.advance(NEW_KID_SECONDS)
    assert basic_login(client, login, forged, PULL_PUSH).status_code == 401 and counter.jwks_fetches == 3
    counter.advance(NEW_KID_SECONDS)  # the same forged kid again: already looked for, no fetch
    assert basic_login(client, login, forged, PULL_PUSH).status_code == 401 and counter.jwks_fetches == 3


def test_an_unknown_kid_refetches_at_most_once_per_interval(client, login, own_issuer, counter):
    assert _status(client, login, own_issuer) == 200
    assert counter.jwks_fetches == 1
    for _ in range(5):  # unknown kids within the interval: none refetches
        stranger = ECKey.generate_key("P-256", {"kid": uuid.uuid4().hex})
        assert basic_login(client, login, own_issuer.sign(own_issuer.claims(AUDIENCE), key=stranger),
                           PULL_PUSH).status_code == 401
    assert counter.jwks_fetches == 1
    counter.advance(REFETCH_SECONDS)
    tokens = [own_issuer.sign(own_issuer.claims(AUDIENCE, sub="x"), key=ECKey.generate_key("P-256", {"kid": uuid.uuid4().hex}))
              for _ in range(5)]
    for token in tokens:
        assert basic_login(client, login, token, PULL_PUSH).status_code == 401
    assert counter.jwks_fetches == 2, "one refetch for five unknown kids"
    assert _status(client, login, own_issuer) == 200, "the known kid needs no fetch"
    assert counter.jwks_fetches == 2
    counter.advance(REFRESH_SECONDS)
    assert _status(client, login, own_issuer) == 200 and counter.jwks_fetches == 3, "refreshed after an hour"


def test_unreachable_issuer_keeps_known_keys_for_the_stale_bound_then_503(client, login, own_issuer, counter):
    assert _status(client, login, own_issuer) == 200
    with stopped(own_issuer):
        counter.advance(REFRESH_SECONDS + 1)
        assert _status(client, login, own_issuer) == 200, "briefly away: what it said last still holds"
        counter.advance(STALE_SECONDS - REFRESH_SECONDS - 2 * REFETCH_SECONDS)
        assert _status(client, login, own_issuer) == 200
        counter.advance(2 * REFETCH_SECONDS)
        response = basic_login(client, login, own_issuer.github(AUDIENCE), PULL_PUSH)
        assert response.status_code == 503 and error_code(response) == "UNAVAILABLE"
        assert int(response.headers["Retry-After"]) > 0
        assert exchange(client, own_issuer.github(AUDIENCE), login, PULL_PUSH).status_code == 503


def test_the_stale_bound_is_not_stretched_by_the_refetch_interval(client, login, own_issuer, counter):
    """A failed fetch just inside the bound must not let the keys serve past it (bug: the
    refetch interval returned the kept keys whatever their age)."""
    assert _status(client, login, own_issuer) == 200
    with stopped(own_issuer):
        counter.advance(STALE_SECONDS - 5)
        assert _status(client, login, own_issuer) == 200
        counter.advance(10)  # past the bound, within REFETCH_SECONDS of that failed fetch
        assert _status(client, login, own_issuer) == 503


def test_an_unreachable_issuer_is_not_asked_again_at_every_request(client, login, own_issuer, counter):
    """With no keys kept, every token naming the issuer used to make a fresh fetch (up to two
    5 s timeouts each): a failed fetch now waits out the refetch interval too."""
    with stopped(own_issuer):
        for _ in range(5):
            assert _status(client, login, own_issuer) == 503
        assert len(counter.urls) == 1, counter.urls
        counter.advance(REFETCH_SECONDS)
        assert _status(client, login, own_issuer) == 503
        assert len(counter.urls) == 2


def _offline_issuer(tmp_path, url: str = "http://127.0.0.1:9") -> Issuer:
    """Keys and tokens with no process behind the URL: nothing listens on the discard port."""
    (tmp_path / "offline").mkdir()
    return Issuer(url, tmp_path / "offline", process=None)


def test_stored_jwks_works_air_gapped_and_set_keys_replaces_it(client, seeded, tmp_path, counter):
    cluster = _offline_issuer(tmp_path)
    cluster.rotate(kind="RSA")
    trust_issuer(cluster, "cluster", jwks=json.dumps(KeySet(cluster.keys).as_dict(private=False)))
    login = robot("priv", "puller", acts="pull").login
    trust("priv", "puller", "cluster", "kubernetes.io/namespace=ci")
    old = cluster.kubernetes(AUDIENCE)
    assert exchange(client, old, login, PULL_PUSH).status_code == 200
    cluster.rotate()
    assert exchange(client, cluster.kubernetes(AUDIENCE), login, PULL_PUSH).status_code == 401, "not stored yet"
    call(trust_service.set_issuer_keys, OPERATOR, "cluster", json.dumps(KeySet(cluster.keys).as_dict(private=False)))
    assert exchange(client, cluster.kubernetes(AUDIENCE), login, PULL_PUSH).status_code == 200
    assert exchange(client, old, login, PULL_PUSH).status_code == 401, "the replaced keys are gone"
    assert counter.urls == [], "no issuer was ever asked"


def test_set_keys_back_to_discovery_fetches_from_the_issuer(client, login, own_issuer, counter):
    call(trust_service.set_issuer_keys, OPERATOR, "ci", json.dumps(KeySet(own_issuer.keys).as_dict(private=False)))
    assert _status(client, login, own_issuer) == 200 and counter.urls == []
    call(trust_service.set_issuer_keys, OPERATOR, "ci", None)
    assert _status(client, login, own_issuer) == 200 and counter.jwks_fetches == 1
