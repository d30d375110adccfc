"""The token endpoint of the distribution token-auth spec (GET) and its OAuth2 form (POST).

This module only translates HTTP into a :class:`TokenRequest` and back:

* GET: ``service``, repeated ``scope``, ``offline_token``, ``client_id``,
  ``account`` (informational only: ``sub`` is always the authenticated
  name), with HTTP Basic credentials or none (anonymous);
* POST form: ``grant_type=password`` (``username``, ``password``) as
  containerd sends first, or ``grant_type=refresh_token`` as docker sends
  after ``docker login``; ``access_type=offline`` asks for a refresh token; or the RFC 8693
  token exchange (``subject_token``: a CI job's or a pod's identity token; ``requested_subject``:
  the robot it acts as).

Credentials that are present but wrong are always a 401, never a quiet
anonymous token, so a mistyped ``docker login`` fails at once.  The 401 has
no ``WWW-Authenticate`` challenge: docker, podman, skopeo and containerd send
their credentials here unasked (the registry's challenge sent them) and read
only the status, while a Basic challenge would let a page on another web site
(a form posting a bad grant here) bring up the browser's password prompt and
have the typed credentials sent with its later requests to the API.
"""

from __future__ import annotations

import binascii
import json
from base64 import b64decode

from flask import Blueprint, Response, g, request

from ..core.names import parse_robot_login
from ..services.authn.identity_token import looks_like_jwt
from ..services.errors import Invalid, Unauthorized
from ..services.grants import TokenGrant, TokenRequest, issue_token
from .unit import unit

#: RFC 8693: an identity token (a CI job's, a pod's) exchanged for a registry token, acting as
#: the robot named by ``requested_subject`` (services/authn/identity_token.py decides).
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
SUBJECT_TOKEN_TYPES = ("urn:ietf:params:oauth:token-type:jwt", "urn:ietf:params:oauth:token-type:id_token")
GRANT_TYPES = ("password", "refresh_token", TOKEN_EXCHANGE)
#: A token must never be kept by a cache between the client and us.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """Username and password from an ``Authorization: Basic`` header; None if absent."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorized("the token endpoint accepts only Basic credentials")
    try:
        decoded = b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise Unauthorized("malformed Basic credentials") from None
    username, colon, password = decoded.partition(":")
    if not colon or not username:
        raise Unauthorized("malformed Basic credentials")
    return username, password


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def token_request(req) -> TokenRequest:
    """The :class:`TokenRequest` in a werkzeug request (Flask's, or the fast path's)."""
    return _from_get(req) if req.method == "GET" else _from_post(req)


def _from_get(req) -> TokenRequest:
    credentials = basic_credentials(req.headers.get("Authorization"))
    args = req.args
    return TokenRequest(
        service=args.get("service"),
        scopes=args.getlist("scope"),
        username=credentials[0] if credentials else None,
        password=credentials[1] if credentials else None,
        offline=_truthy(args.get("offline_token")),
        client_id=args.get("client_id", ""),
    )


def _from_post(req) -> TokenRequest:
    if req.mimetype != "application/x-www-form-urlencoded":
        raise Invalid("POST /token takes an application/x-www-form-urlencoded form")
    form = req.form
    grant_type = form.get("grant_type", "")
    common = dict(service=form.get("service"), scopes=form.getlist("scope"),
                  offline=form.get("access_type") == "offline", client_id=form.get("client_id", ""))
    if grant_type == "password":
        username, password = form.get("username"), form.get("password")
        if not username or password is None:
            raise Invalid("grant_type=password needs username and password", field="username")
        return TokenRequest(username=username, password=password, **common)
    if grant_type == "refresh_token":
        token = form.get("refresh_token")
        if not token:
            raise Invalid("grant_type=refresh_token needs refresh_token", field="refresh_token")
        return TokenRequest(refresh_token=token, **common)
    if grant_type == TOKEN_EXCHANGE:
        return _exchange(form, common)
    raise Invalid(f"unsupported grant_type {grant_type[:40]!r}: use one of {', '.join(GRANT_TYPES)}",
                  field="grant_type")


def _exchange(form, common: dict) -> TokenRequest:
    """The token exchange as the identity-token verifier takes it: the robot's login and the
    token, exactly as ``docker login -u ROBOT --password-stdin`` would present them.  Anything
    that is not a robot and a JWT is a 400 here, so that no other verifier ever sees it."""
    subject, token_type = form.get("requested_subject", ""), form.get("subject_token_type", "")
    token = form.get("subject_token", "")
    if token_type not in SUBJECT_TOKEN_TYPES:
        raise Invalid(f"subject_token_type must be one of {', '.join(SUBJECT_TOKEN_TYPES)}",
                      field="subject_token_type")
    if parse_robot_login(subject.lower()) is None:
        raise Invalid("requested_subject must be the robot to act as (robot.PROJECT.NAME)", field="requested_subject")
    if not looks_like_jwt(token):
        raise Invalid("subject_token must be a signed JWT (the CI job's or pod's identity token)",
                      field="subject_token")
    return TokenRequest(username=subject, password=token, token_exchange=True, **{**common, "offline": False})


def grant_for(uow, req) -> TokenGrant:
    """Parse, authenticate, decide and sign: the whole request, for either path."""
    return issue_token(uow, token_request(req))


def answer_body(grant: TokenGrant) -> bytes:
    """The JSON answer: what jsonify would write (compact, and a newline), without its machinery.

    Written member by member: the token appears twice (``token`` and ``access_token``), and
    escaping a kilobyte and a half of it once instead of twice is most of the encoding's cost.
    Strings are escaped by the function ``json.dumps`` itself uses; anything else is json's."""
    parts = []
    last, escaped = None, ""
    for key, value in grant.body.items():
        if type(value) is str:
            if value is not last:
                last, escaped = value, _escape(value)
            parts.append(f"{_escape(key)}:{escaped}")
        else:
            parts.append(f"{_escape(key)}:{_ANSWER.encode(value)}")
    return ("{" + ",".join(parts) + "}\n").encode()


_escape = json.encoder.encode_basestring_ascii
_ANSWER = json.JSONEncoder(separators=(",", ":"))


def create_blueprint(path: str) -> Blueprint:
    blueprint = Blueprint("token", __name__)

    @blueprint.route(path, methods=["GET", "POST"])
    def token():
        grant = grant_for(unit(kept_connection=True), request)
        g.token_outcome = grant.outcome  # for the request log and the metrics (web/requestlog.py)
        return Response(answer_body(grant), mimetype="application/json", headers=NO_STORE)

    return blueprint
