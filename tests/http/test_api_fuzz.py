"""Property-based fuzzing of /api/v1 with schemathesis, against the in-process WSGI app.

Every operation in openapi.json is called with generated paths, query strings and bodies (both
valid ones and ones that break the schema on purpose), as a system administrator (Basic, and
separately a Bearer token from /token?service=authsvc-api) and as an anonymous caller, each on a
freshly seeded database (tests/http/conftest.py).  A response fails the test when:

* it is a 5xx;
* its status code is not documented for the operation, or its content type, headers
  (X-Total-Count, Link, Location, WWW-Authenticate, Retry-After) or body do not match what
  openapi.json says for that operation and status;
* it breaks a rule that must hold whatever the input: a system administrator is never refused
  (401/403); an anonymous caller is never told 403 (refusals to anonymous callers are 401, or
  404 for what they may not see), changes nothing, reads no account and no member list, and sees
  only public projects.

Bounded and deterministic for CI: ``derandomize=True`` (the examples depend only on the
schema and the library versions) and no example database, ``max_examples`` per operation and
caller below.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from authsvc.web.api import OPENAPI_PATH
from tests.support.http import basic_header, bearer_header

MAX_EXAMPLES = 30

schema = schemathesis.openapi.from_path(OPENAPI_PATH)

CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance,
               response_headers_conformance, response_schema_conformance]

#: What an anonymous caller may be answered with a 2xx at all.
ANONYMOUS_READABLE = {("GET", "/openapi.json"), ("GET", "/projects"), ("GET", "/projects/{name}"),
                      ("GET", "/projects/{name}/repositories"),
                      ("GET", "/projects/{name}/repositories/{repository}/tags")}


def system_admin_is_never_refused(ctx, response, case):
    assert response.status_code not in (401, 403), (
        f"{case.method} {case.formatted_path}: a system administrator got {response.status_code}")


def anonymous_is_never_403(ctx, response, case):
    assert response.status_code != 403, (
        f"{case.method} {case.formatted_path}: an anonymous caller got 403; expected 401 or 404")


def anonymous_reads_only_public_projects(ctx, response, case):
    if response.status_code >= 300 or case.method.upper() != case.operation.method.upper():
        return  # schemathesis also probes undocumented methods; Flask answers OPTIONS itself
    assert (case.method.upper(), case.path) in ANONYMOUS_READABLE, (
        f"{case.method} {case.formatted_path}: an anonymous caller got {response.status_code}")
    if case.path == "/projects":
        assert all(p["public"] and p["role"] is None for p in response.json())
    elif case.path == "/projects/{name}":
        assert response.json()["public"] is True and response.json()["role"] is None
    elif case.path.startswith("/projects/{name}/repositories"):
        assert case.path_parameters["name"] == "pub", "the seed's only public project"


CALLERS = {
    "root-basic": [system_admin_is_never_refused],
    "root-bearer": [system_admin_is_never_refused],
    "anonymous": [anonymous_is_never_403, anonymous_reads_only_public_projects],
}


@pytest.fixture(params=sorted(CALLERS))
def caller(request, served_app):
    """(headers, extra checks) for one kind of caller."""
    if request.param == "anonymous":
        headers = {}
    elif request.param == "root-bearer":
        headers = bearer_header(served_app.test_client(), "root")
    else:
        headers = basic_header("root")
    return headers, CALLERS[request.param]


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
          # One seeded app serves every example of an operation, on purpose (function_scoped_fixture);
          # some operations take few distinct inputs (too_slow, filter_too_much are about generation).
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_api_conforms_to_openapi(case, served_app, caller):
    headers, extra_checks = caller
    case.call_and_validate(app=served_app, headers=headers, checks=CONFORMANCE + extra_checks)
