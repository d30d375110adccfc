"""The verifier chain, called as the token endpoint and the API call it, without either."""

from __future__ import annotations

import datetime as dt

import pytest

from authsvc.core.policy import OPERATOR, CredentialKind, may_create_credentials
from authsvc.services.authn import BearerTokenPresented, NameAndSecret, RefreshTokenPresented, Throttled
from authsvc.services.authn.bearer import claims_for
from authsvc.services.credentials import personal_tokens, refresh_tokens, robots
from authsvc.services.errors import Unauthorized
from tests.conftest import PASSWORDS


def authenticate(units, credential, source="127.0.0.1"):
    work = units.new(source)
    try:
        identity = work.context.authenticator.authenticate(work, credential)
    except BaseException:
        work.rollback()
        raise
    work.commit()
    return identity


@pytest.mark.parametrize("make, kind, root", [
    (lambda u: NameAndSecret("bob", PASSWORDS["bob"]), "password", CredentialKind.PASSWORD),
    (lambda u: NameAndSecret("BOB", PASSWORDS["bob"]), "password", CredentialKind.PASSWORD),
    (lambda u: NameAndSecret("bob", u.run(personal_tokens.create, OPERATOR, "bob", "ci",
                                          expires_in=dt.timedelta(days=1)).token),
     "personal_token", CredentialKind.PERSONAL_TOKEN),
    (lambda u: NameAndSecret("robot.priv.ci", u.run(robots.create, OPERATOR, "priv", "ci", actions="pull",
                                                    never_expires=True).secret),
     "robot", CredentialKind.ROBOT_SECRET),
])
def test_each_verifier_names_its_kind_and_root(seeded_units, make, kind, root):
    identity = authenticate(seeded_units, make(seeded_units))
    assert identity.kind == kind and identity.principal.credential is root
    assert identity.may_refresh == (kind == "password")
    assert may_create_credentials(identity.principal) == (root is CredentialKind.PASSWORD)


def test_stand_ins_carry_their_root_through_refresh_and_bearer_tokens(seeded_units):
    login = authenticate(seeded_units, NameAndSecret("bob", PASSWORDS["bob"]))
    refresh = seeded_units.run(refresh_tokens.issue, login, "docker")
    via_refresh = authenticate(seeded_units, RefreshTokenPresented(refresh))
    assert via_refresh.kind == "refresh_token" and not may_create_credentials(via_refresh.principal)
    signer = seeded_units.context.signer
    audience = seeded_units.settings.api_audience
    for source, creates in ((login, True), (via_refresh, False)):
        token = signer.issue(subject="bob", audience=audience, access=[], extra_claims=claims_for(source)).token
        bearer = authenticate(seeded_units, BearerTokenPresented(token))
        assert bearer.kind == "api_token" and may_create_credentials(bearer.principal) is creates


def test_the_throttle_is_looked_at_before_the_cache(seeded_units):
    right = NameAndSecret("bob", PASSWORDS["bob"])
    authenticate(seeded_units, right)  # now in the cache
    cache = seeded_units.context.authenticator.cache
    for n in range(seeded_units.settings.throttle_threshold):
        with pytest.raises(Unauthorized):
            authenticate(seeded_units, NameAndSecret("bob", f"guess-{n}"))
    hits = cache.hits
    with pytest.raises(Throttled):
        authenticate(seeded_units, right)
    assert cache.hits == hits  # refused before the cache was consulted
    assert authenticate(seeded_units, right, source="198.51.100.7").name == "bob"  # another pair
