"""Property-based fuzzing of /token (hypothesis) through the in-process WSGI app.

Whatever a client sends -- any query string (repeated, huge, empty or undecodable parameters,
percent-escapes that are not UTF-8), any ``Authorization`` header (random bytes in base64, no
colon, no user, Latin-1 and UTF-8 text, other schemes), any POST body under any content type,
any grant type -- the token endpoint must answer with:

* never a 5xx (neither a crash nor a spurious "database unavailable");
* on 4xx: a JSON body ``{"errors": [{"code": str, "message": str}, ...]}``;
* on 200: a JSON body with a signed ``token`` (three base64url parts), ``access_token`` equal to
  it and an integer ``expires_in``;
* no other status than 200, 400, 401, 405, 413, 415 and 429.

Valid credentials, scopes and a live refresh token are mixed into the generated input, so the
200 path is fuzzed as well as the refusals.  The app is ``tests/http/conftest.py``'s
``served_app`` (the ``app`` fixture of tests/conftest.py, seeded like ``seeded``, but with no app
context kept pushed): every request gets its own database session, as under gunicorn, so a
request that breaks its session cannot hide or cause a failure in the next one.  On
tests/run's PostgreSQL pass the same examples run against PostgreSQL.

It found one bug so far, kept as a plain regression test below: on PostgreSQL a NUL in a
claimed user name was answered 503 (fixed by escaping such names before throttling and auditing).

Bounded and repeatable for CI: ``derandomize=True`` (the examples depend only on this file and
the hypothesis version), no example database, ``MAX_EXAMPLES`` per test.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote_from_bytes, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import PASSWORDS

MAX_EXAMPLES = 200

FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])

ALLOWED_STATUSES = {200, 400, 401, 405, 413, 415, 429}

# -- building blocks ---------------------------------------------------------------------------

VALID_SCOPES = ["repository:pub/app:pull", "repository:priv/app:pull,push", "repository:priv/app:*",
                "repository:pub/a/b/c:pull,push,delete", "registry:catalog:*",
                "repository(plugin):pub/app:pull", "repository:localhost:5000/pub/app:pull",
                "repository:nosuch/app:pull", "repository:pub/app:pull repository:priv/app:push"]

SERVICES = ["registry", "authsvc-api", "", "nosuch", "REGISTRY"]

#: Text a client might put anywhere: any code point (lone surrogates excluded, they cannot be
#: sent), short or long, or a known-meaningful value.
any_text = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=500, max_size=3000),
    st.sampled_from(["", " ", "%", "%zz", "\x00", "a" * 600, "true", "1", "offline"]),
)

scope_text = st.one_of(st.sampled_from(VALID_SCOPES), any_text,
                       st.lists(st.sampled_from(VALID_SCOPES), min_size=2, max_size=4).map(" ".join),
                       st.text(alphabet="repository:/ab,*()pushl.-_0123456789", max_size=80))

#: Raw bytes of a query-string key or value: UTF-8 text, or bytes that are not UTF-8 at all.
raw_bytes = st.one_of(any_text.map(lambda text: text.encode("utf-8")),
                      st.binary(max_size=60),
                      st.binary(min_size=2000, max_size=6000))

PARAM_NAMES = ["service", "scope", "offline_token", "client_id", "account", "grant_type",
               "username", "password", "refresh_token", "access_type"]


@st.composite
def query_strings(draw) -> str:
    """A raw query string: percent-encoded pairs (possibly repeated, undecodable, huge), and
    sometimes stray separators and broken escapes."""
    parts = []
    for _ in range(draw(st.integers(0, 12))):
        name = draw(st.one_of(st.sampled_from(PARAM_NAMES).map(str.encode), raw_bytes))
        kind = draw(st.sampled_from(["raw", "scope", "service", "bare"]))
        if kind == "scope":
            value = draw(scope_text).encode("utf-8")
        elif kind == "service":
            value = draw(st.sampled_from(SERVICES)).encode()
        else:
            value = draw(raw_bytes)
        pair = quote_from_bytes(name, safe="") + ("" if kind == "bare" else "=" + quote_from_bytes(value, safe=""))
        parts.append(pair)
    if draw(st.booleans()):
        parts.extend(draw(st.lists(st.sampled_from(["", "&", "=", "==", "%", "%f", "%zz", "%FF%FE", "%C0%80",
                                                    "%ED%A0%80", "scope", "scope=", "+", ";"]),
                                   max_size=4)))
    if draw(st.booleans()):
        parts.insert(0, "service=registry")
    return "&".join(parts)


def _basic(payload: bytes) -> str:
    return "Basic " + base64.b64encode(payload).decode("ascii")


#: Header values travel as Latin-1 in WSGI; control characters other than tab are not sendable.
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
                      max_size=200)

known_user = st.sampled_from(sorted(PASSWORDS))
credentials = st.one_of(
    known_user.map(lambda user: f"{user}:{PASSWORDS[user]}".encode()),       # right password
    known_user.map(lambda user: f"{user.upper()}:{PASSWORDS[user]}".encode()),
    st.tuples(known_user, any_text).map(lambda p: f"{p[0]}:{p[1]}".encode()),  # wrong password
    st.tuples(any_text, any_text).map(lambda p: f"{p[0]}:{p[1]}".encode()),
    any_text.map(lambda text: text.replace(":", "").encode()),                 # no colon
    any_text.map(lambda text: f":{text}".encode()),                            # no user
    st.binary(max_size=100),                                                   # not UTF-8
    st.tuples(any_text, any_text).map(lambda p: f"{p[0]}:{p[1]}".encode("latin-1", "replace")),
)

right_credentials = known_user.map(lambda user: f"{user}:{PASSWORDS[user]}".encode())

authorization = st.one_of(
    st.none(),
    right_credentials.map(_basic),  # the 200 path, weighted up: one_of picks a branch uniformly
    credentials.map(_basic),
    credentials.map(lambda payload: "basic   " + base64.b64encode(payload).decode() + "  "),
    credentials.map(lambda payload: "Basic " + base64.b64encode(payload).decode().rstrip("=")),
    credentials.map(lambda payload: "Basic " + base64.urlsafe_b64encode(payload).decode()),
    st.sampled_from(["Basic", "Basic ", "Basic ====", "Basic !!!!", "Bearer", "Bearer x.y.z", "Digest a=b",
                     "Negotiate", "", " ", "Basic " + "A" * 6000]),
    st.tuples(st.sampled_from(["Basic", "Bearer", "basic", "BASIC", "Token"]), header_text)
    .map(lambda p: f"{p[0]} {p[1]}"),
    header_text,
)

FORM = "application/x-www-form-urlencoded"
CONTENT_TYPES = [FORM, "application/x-www-form-urlencoded; charset=utf-8",
                 "application/x-www-form-urlencoded; charset=latin-1", "application/json",
                 "multipart/form-data", "multipart/form-data; boundary=xyz", "text/plain", "", None,
                 "application/x-www-form-urlencoded; charset=nosuch", "x/y; a=\"b"]


# -- checks ------------------------------------------------------------------------------------

def check_answer(response, what: str) -> None:
    status = response.status_code
    body = response.get_data()
    where = f"{what}\n-> {status} {body[:500]!r}"
    assert status < 500, f"server error for {where}"
    assert status in ALLOWED_STATUSES, f"unexpected status for {where}"
    assert response.mimetype == "application/json", f"not JSON for {where}"
    document = json.loads(body)
    if status == 200:
        token = document.get("token")
        assert isinstance(token, str) and token.count(".") == 2, f"200 without a token for {where}"
        assert document.get("access_token") == token, where
        assert isinstance(document.get("expires_in"), int), where
        return
    errors = document.get("errors")
    assert isinstance(errors, list) and errors, f"4xx without errors[] for {where}"
    for error in errors:
        assert isinstance(error.get("code"), str) and error["code"], where
        assert isinstance(error.get("message"), str) and error["message"], where
    if status == 401:  # no challenge: clients send credentials unasked; Basic would make browsers prompt
        assert "WWW-Authenticate" not in response.headers, where
    if status == 429:
        assert int(response.headers["Retry-After"]) >= 1, where


@pytest.fixture
def fuzz_client(served_app):
    return served_app.test_client()


@pytest.fixture
def refresh_token(fuzz_client) -> str:
    """A live refresh token of bob's, so the refresh grant is fuzzed past its lookup too."""
    response = fuzz_client.get("/token?service=registry&offline_token=true",
                               headers={"Authorization": _basic(f"bob:{PASSWORDS['bob']}".encode())})
    assert response.status_code == 200, response.get_data()
    return response.get_json()["refresh_token"]


# -- the properties ------------------------------------------------------------------------------

@FUZZ
@given(query=query_strings(), auth=authorization)
def test_get_with_any_query_and_authorization(fuzz_client, query, auth):
    headers = {} if auth is None else {"Authorization": auth}
    response = fuzz_client.get("/token?" + query if query else "/token", headers=headers)
    check_answer(response, f"GET /token?{query[:300]} Authorization={auth!r:.300}")


#: Optional form fields with values that are usually meaningful and sometimes hostile.
EXTRA_FIELDS = {
    "scope": st.one_of(st.sampled_from(VALID_SCOPES), st.sampled_from(VALID_SCOPES), scope_text),
    "service": st.one_of(st.just("registry"), st.sampled_from(SERVICES), any_text),
    "access_type": st.one_of(st.just("offline"), any_text),
    "client_id": any_text,
    "grant_type": any_text,  # a repeated grant_type: the first one counts
}


@st.composite
def forms(draw, refresh: str) -> bytes:
    """A form body: a grant type (known or not) with plausible or hostile fields, repeated
    fields, undecodable bytes, or no form at all."""
    shape = draw(st.sampled_from(["password", "refresh_token", "other", "raw"]))
    if shape == "raw":
        return draw(st.one_of(st.binary(max_size=300), st.binary(min_size=60_000, max_size=70_000),
                              any_text.map(lambda text: text.encode("utf-8"))))
    fields: list[tuple[str, str]] = []
    if shape == "password":
        fields.append(("grant_type", "password"))
        mode = draw(st.sampled_from(["right", "right", "right", "wrong", "random", "missing"]))
        user = draw(any_text) if mode == "random" else draw(known_user)
        password = PASSWORDS[user] if mode == "right" else draw(any_text)
        if mode != "missing" or draw(st.booleans()):
            fields.append(("username", user))
        if mode != "missing" or draw(st.booleans()):
            fields.append(("password", password))
    elif shape == "refresh_token":
        fields.append(("grant_type", "refresh_token"))
        token = draw(st.sampled_from([refresh, refresh, refresh + "x", "", None]))
        fields.append(("refresh_token", draw(any_text) if token is None else token))
    else:
        fields.append(("grant_type", draw(any_text)))
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(sorted(EXTRA_FIELDS)))
        fields.append((name, draw(EXTRA_FIELDS[name])))
    body = urlencode(fields).encode()
    if draw(st.booleans()):
        body += b"&" + draw(st.sampled_from([b"%ff%fe=%80", b"scope=%zz", b"=", b"&&", b"username=%C3%28",
                                             b"password", b"refresh_token=%00"]))
    return body


@FUZZ
@given(data=st.data(), content_type=st.sampled_from([FORM] * 6 + CONTENT_TYPES), auth=authorization,
       query=st.one_of(st.just(""), query_strings()))
def test_post_with_any_body_and_content_type(fuzz_client, refresh_token, data, content_type, auth, query):
    body = data.draw(forms(refresh_token), label="body")
    headers = {} if auth is None else {"Authorization": auth}
    if content_type is not None:
        headers["Content-Type"] = content_type
    path = "/token?" + query if query else "/token"
    response = fuzz_client.post(path, data=body, headers=headers)
    check_answer(response, f"POST {path[:300]} Content-Type={content_type!r} body={body[:300]!r} "
                           f"Authorization={auth!r:.200}")


@FUZZ
@given(method=st.sampled_from(["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"]),
       query=query_strings(), auth=authorization, body=st.binary(max_size=200))
def test_other_methods(fuzz_client, method, query, auth, body):
    headers = {} if auth is None else {"Authorization": auth}
    response = fuzz_client.open("/token?" + query, method=method, headers=headers, data=body)
    if method == "OPTIONS":  # Flask answers OPTIONS itself with the allowed methods
        assert response.status_code == 200 and "GET" in response.headers.get("Allow", "")
        return
    check_answer(response, f"{method} /token?{query[:300]}")
    assert response.status_code == 405 and "GET" in response.headers.get("Allow", "")


@pytest.mark.parametrize("where", ["basic", "form"])
def test_nul_in_a_user_name_is_401_not_503(fuzz_client, where):
    """Found by the fuzzer above.  A user name with a NUL character cannot name an account, so
    the answer is 401 like for any unknown name.  On PostgreSQL it used to be 503 "the database
    is unavailable": the name went on to the throttle and audit rows, psycopg refused the NUL in
    a text parameter (DataError) and web/errors.py maps every DBAPIError to 503."""
    if where == "basic":
        response = fuzz_client.get("/token?service=registry", headers={"Authorization": _basic(b"a\x00b:secret")})
    else:
        response = fuzz_client.post("/token", data={"grant_type": "password", "username": "a\x00b",
                                                    "password": "secret"})
    assert response.status_code == 401, response.get_data()
    assert response.get_json()["errors"][0]["code"] == "UNAUTHORIZED"
