"""The fast token path's own request parsing (web/fast_token.py: ``_request``) against werkzeug's.

The fast path parses a query string once and keeps it, and parses a small form from the bytes it
has already read; tests/http/test_token_fast_path.py compares whole answers of everyday requests,
this checks the parsing itself on unusual input, and that no redacted value is kept.
"""

from __future__ import annotations

import io

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from authsvc.web import fast_token

BODIES = [
    b"grant_type=refresh_token&refresh_token=abc.def-ghi_j&service=registry&scope=repository%3Apriv%2Fapp%3Apull",
    b"scope=a&scope=b&scope=&=x&novalue&&service=reg+istry",
    b"username=%E2%82%AC%ZZ&password=%&x=%41%4",
    b"name=\xff\xfe",  # not UTF-8: werkzeug's form is then empty, ours must be too
    b"a=1;b=2&c=%20+%2B",
    b"",
]


def _environ(body: bytes, content_type: str = "application/x-www-form-urlencoded") -> dict:
    environ = EnvironBuilder(path="/token", method="POST", data=body, content_type=content_type).get_environ()
    environ["authsvc.form_body"] = body  # as FastTokenPath._buffer_form leaves it
    environ["wsgi.input"] = io.BytesIO(body)
    return environ


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded",
                                          "Application/X-WWW-Form-Urlencoded; charset=utf-8"])
def test_a_form_is_parsed_as_werkzeug_parses_it(body, content_type):
    ours = fast_token._request(_environ(body, content_type))
    theirs = Request(_environ(body, content_type))
    assert list(ours.form.items(multi=True)) == list(theirs.form.items(multi=True))
    assert type(ours.form) is type(theirs.form) and not ours.files and ours.mimetype == theirs.mimetype


@pytest.mark.parametrize("query", ["service=registry&scope=repository%3Apriv%2Fapp%3Apull%2Cpush&scope=x",
                                   "service=registry&account=b%C3%B6b&offline_token=true&client_id=docker",
                                   "scope=%ZZ&service=&&scope"])
def test_a_query_is_parsed_as_werkzeug_parses_it_also_when_kept(query, monkeypatch):
    monkeypatch.setattr(fast_token, "_ARGS", {})
    environ = EnvironBuilder(path="/token", query_string=query).get_environ()
    first, again = fast_token._request(dict(environ)), fast_token._request(dict(environ))
    expected = list(Request(dict(environ)).args.items(multi=True))
    assert list(first.args.items(multi=True)) == list(again.args.items(multi=True)) == expected
    assert fast_token._ARGS[environ["QUERY_STRING"]] is again.args


def test_a_query_with_a_redacted_parameter_is_not_kept(monkeypatch):
    monkeypatch.setattr(fast_token, "_ARGS", {})
    environ = EnvironBuilder(path="/token", query_string="service=registry&password=secret-1").get_environ()
    assert fast_token._request(environ).args["password"] == "secret-1"
    assert fast_token._ARGS == {}


@pytest.mark.parametrize("body", [
    {"token": "eyJ.a-b_c", "access_token": "eyJ.a-b_c", "expires_in": 300, "issued_at": "2026-12-07T02:00:00Z"},
    {"token": "t", "access_token": "t", "expires_in": 0, "issued_at": "x", "refresh_token": "r\u00e9\"\\\n\t",
     "issued_token_type": "urn:ietf:params:oauth:token-type:access_token", "token_type": "Bearer"},
    {"a": True, "b": None, "c": 1.5, "d": ["\u00e9", 2], "e": {"f": "g"}, "h": "same", "i": "same"},
    {},
])
def test_the_answer_is_what_json_dumps_writes(body):
    """web/token.py writes the answer member by member (the token once escaped for both members):
    the bytes must be what ``json.dumps`` and a newline are, as jsonify wrote them."""
    import json
    import types

    from authsvc.web.token import answer_body
    assert answer_body(types.SimpleNamespace(body=body)) == (json.dumps(body, separators=(",", ":")) + "\n").encode()
