"""A running app switches to a rotated key by itself, and keeps honouring the old key's API tokens."""

from __future__ import annotations

import jwt

from authsvc.services import context as context_module
from authsvc.signing import rotation
from tests.support.http import basic_header, bearer_header


def kid_of(response) -> str:
    assert response.status_code == 200, response.get_json()
    return jwt.get_unverified_header(response.get_json()["token"])["kid"]


def expire_key_check(app) -> None:
    """Make the next request look at the key files now instead of after KEY_RECHECK_SECONDS."""
    app.extensions["authsvc"]._key_check_due = 0.0


def rotate_files(app) -> None:
    ctx = app.extensions["authsvc"]
    s = ctx.settings
    rotation.stage(ctx.key_paths, common_name=s.issuer, validity_days=30, kid_format=s.kid_format)
    rotation.activate(ctx.key_paths, kid_format=s.kid_format, token_lifetime=s.token_ttl)


def test_workers_sign_with_the_activated_key_without_a_restart(served_app):
    client = served_app.test_client()
    before = kid_of(client.get("/token", query_string={"service": "registry"}, headers=basic_header("alice")))
    api_header = bearer_header(client, "alice")
    rotate_files(served_app)
    expire_key_check(served_app)
    after = kid_of(client.get("/token", query_string={"service": "registry"}, headers=basic_header("alice")))
    assert after != before
    assert after == rotation.key_id(rotation.trusted_keys(served_app.extensions["authsvc"].key_paths)[0].public_key,
                                    "libtrust")
    # An API bearer token signed by the old key stays good for its lifetime.
    assert client.get("/api/v1/users/current", headers=api_header).status_code == 200


def test_the_key_files_are_not_read_again_before_the_recheck_interval(served_app):
    client = served_app.test_client()
    before = kid_of(client.get("/token", query_string={"service": "registry"}, headers=basic_header("alice")))
    rotate_files(served_app)
    assert context_module.KEY_RECHECK_SECONDS >= 1
    same = kid_of(client.get("/token", query_string={"service": "registry"}, headers=basic_header("alice")))
    assert same == before


def test_a_half_replaced_pair_keeps_the_current_key(served_app):
    client = served_app.test_client()
    before = kid_of(client.get("/token", query_string={"service": "registry"}, headers=basic_header("alice")))
    ctx = served_app.extensions["authsvc"]
    rotation.stage(ctx.key_paths, common_name="authsvc", validity_days=30, kid_format="libtrust")
    # a crash between the two renames of activate(): the new key beside the old certificate
    ctx.key_paths.next_key.replace(ctx.key_paths.key)
    expire_key_check(served_app)
    response = client.get("/token", query_string={"service": "registry"}, headers=basic_header("alice"))
    assert kid_of(response) == before
