"""Every API response against openapi.json: documented status, declared headers present and
valid, body matching the schema (a 204 has none).

The REST API tests send every request through :class:`tests.support.api.Api`, which calls
:func:`check_against_openapi`, so the contract is held to by each test that uses the API at all,
not only by the fuzzer.
"""

from __future__ import annotations

import json
import re

from openapi_schema_validator import OAS31Validator, oas31_format_checker

from authsvc.web.api import OPENAPI_PATH

DOC = json.loads(OPENAPI_PATH.read_text())
PREFIX = "/api/v1"


def resolve(node: dict) -> dict:
    """Follow local ``$ref`` s; sibling keys (a description) override the target's, as in OAS 3.1."""
    while "$ref" in node:
        target = DOC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def validator(schema: dict) -> OAS31Validator:
    # The document's components ride along so that "#/components/..." references resolve.
    return OAS31Validator({**schema, "components": DOC["components"]}, format_checker=oas31_format_checker)


def openapi_template(app, method: str, path: str) -> str:
    """The openapi.json path (``/projects/{name}``) that Flask routes ``method path`` to."""
    rule, _ = app.url_map.bind("localhost").match(path.split("?")[0], method=method, return_rule=True)
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule).removeprefix(PREFIX)


def check_against_openapi(app, method: str, path: str, response) -> None:
    template = openapi_template(app, method, path)
    operation = DOC["paths"][template][method.lower()]
    status = str(response.status_code)
    where = f"{method} {template} -> {status}"
    assert status in operation["responses"], f"{where}: status not documented ({response.get_data(as_text=True)})"
    documented = resolve(operation["responses"][status])
    for name, header in documented.get("headers", {}).items():
        header = resolve(header)
        value = response.headers.get(name)
        if header.get("required"):
            assert value is not None, f"{where}: header {name} missing"
        if value is not None:
            instance = int(value) if header["schema"].get("type") == "integer" else value
            errors = [e.message for e in validator(header["schema"]).iter_errors(instance)]
            assert not errors, f"{where}: header {name}: {value!r}: {errors}"
    content = documented.get("content")
    if content is None:
        assert response.get_data() == b"", f"{where}: body where none is documented"
        return
    assert response.mimetype == "application/json", f"{where}: {response.mimetype}"
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in validator(content["application/json"]["schema"]).iter_errors(response.get_json())]
    assert not errors, f"{where}: body {response.get_json()} does not match the schema: {errors}"

