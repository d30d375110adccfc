"""Ask a live registry what it expects from us, and whether it trusts a token we signed.

A registry configured for token auth never calls authsvc, so the only way to
learn whether it trusts us is to ask it the way a client does: ``GET /v2/``
without credentials (the 401 challenge names the realm and service it
sends clients to), then with a bearer token we signed (200 means its
``rootcertbundle``, issuer and service all agree with ours).

Standard library only (urllib and ssl) and no Flask, so ``authsvc doctor``
and key rotation can both use it outside an app context.  TLS is verified
against the system CA store, or a given CA file for a private CA; every
request has a timeout so a black-holed registry cannot hang the caller.
The token is sent, never logged or returned in a message.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit

#: How much of a response body is read: a /v2/ answer is a few hundred bytes.
_BODY_LIMIT = 64 * 1024


class RegistryUnreachable(Exception):
    """No HTTP answer from the registry: a bad URL, refused connection, DNS, TLS or timeout."""


@dataclass(frozen=True)
class Challenge:
    """What ``GET /v2/`` without credentials answered."""

    status: int
    scheme: str | None          # "Bearer", "Basic", … or None without a WWW-Authenticate header
    realm: str | None
    service: str | None
    raw: str | None             # the WWW-Authenticate header as sent
    params: dict[str, str] = field(default_factory=dict)


def parse_www_authenticate(header: str) -> tuple[str | None, dict[str, str]]:
    """``Bearer realm="a,b",service="x"`` -> ``("Bearer", {"realm": "a,b", "service": "x"})``.

    A hand-written scanner rather than a split on commas, because quoted values
    (a realm URL with a query, a scope list) may hold commas and escaped quotes.
    Parameter names are lower-cased (RFC 9110 says they are case-insensitive);
    a malformed tail is ignored rather than refused, as clients do.
    """
    text = header.strip()
    if not text:
        return None, {}
    scheme, _, rest = text.partition(" ")
    if "=" in scheme:            # no scheme at all, only parameters
        return None, _parse_params(text)
    return scheme, _parse_params(rest)


def _parse_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        start = i
        while i < n and text[i] not in "= \t,":
            i += 1
        name = text[start:i].lower()
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or text[i] != "=":
            # a bare token (token68 or garbage): skip to the next comma
            while i < n and text[i] != ",":
                i += 1
            continue
        i += 1
        if i < n and text[i] == "=":
            # token68 padding ("abc==") rather than a parameter: skip it
            while i < n and text[i] != ",":
                i += 1
            continue
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            value = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(text[i])
                i += 1
            i += 1                  # the closing quote (or the end of a truncated header)
            params.setdefault(name, "".join(value))
        else:
            start = i
            while i < n and text[i] != ",":
                i += 1
            params.setdefault(name, text[start:i].strip())
    return params


def _v2_url(registry_url: str) -> str:
    parts = urlsplit(registry_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RegistryUnreachable(f"{registry_url!r} is not an http:// or https:// URL of a registry")
    path = parts.path.rstrip("/")
    if path.endswith("/v2"):
        path = path[:-3]
    return f"{parts.scheme}://{parts.netloc}{path}/v2/"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect from /v2/ is itself an answer worth reporting, and following it could carry the
    token to another host."""

    def redirect_request(self, *args, **kwargs):
        return None


def _get(url: str, headers: dict[str, str], timeout: float, ca_file: str | None, data: bytes | None = None):
    """(status, headers, body) of a GET (a POST of ``data``); HTTP error statuses are answers, not
    exceptions."""
    context = None
    if url.startswith("https:"):
        try:
            context = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise RegistryUnreachable(f"cannot use CA file {ca_file}: {_reason(exc)}") from None
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirect)
    request = urllib.request.Request(url, data=data, headers={"User-Agent": "authsvc-doctor", **headers})
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.headers, response.read(_BODY_LIMIT)
    except urllib.error.HTTPError as exc:
        with exc:
            body = exc.read(_BODY_LIMIT) if exc.fp else b""
        return exc.code, exc.headers, body
    except urllib.error.URLError as exc:
        raise RegistryUnreachable(f"cannot reach {url}: {_reason(exc.reason)}") from None
    except TimeoutError:
        raise RegistryUnreachable(f"cannot reach {url}: no answer within {timeout:g}s") from None
    except (http.client.HTTPException, ConnectionError, ssl.SSLError, OSError) as exc:
        raise RegistryUnreachable(f"cannot reach {url}: {_reason(exc)}") from None


def _reason(reason) -> str:
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({reason.verify_message}); give --ca-file for a private CA"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def fetch_challenge(registry_url: str, *, timeout: float = 5.0, ca_file: str | None = None) -> Challenge:
    """``GET /v2/`` without credentials; a token-auth registry answers 401 with a Bearer challenge."""
    status, headers, _ = _get(_v2_url(registry_url), {}, timeout, ca_file)
    raw = headers.get("WWW-Authenticate") if headers is not None else None
    scheme, params = parse_www_authenticate(raw) if raw else (None, {})
    return Challenge(status=status, scheme=scheme, realm=params.get("realm"), service=params.get("service"),
                     raw=raw, params=params)


def token_accepted(registry_url: str, token: str, *, timeout: float = 5.0,
                   ca_file: str | None = None) -> tuple[bool, str]:
    """Whether the registry accepts ``token`` on ``GET /v2/``, and a detail for a person.

    200 is acceptance.  A registry says little about why it rejects a token (the
    reason is in its own log), so the detail repeats what it did say: the
    challenge's ``error``/``error_description`` and the body's first error.
    """
    status, headers, body = _get(_v2_url(registry_url), {"Authorization": f"Bearer {token}"}, timeout, ca_file)
    if status == 200:
        return True, "accepted (HTTP 200)"
    said = []
    raw = headers.get("WWW-Authenticate") if headers is not None else None
    if raw:
        _, params = parse_www_authenticate(raw)
        said += [params[k] for k in ("error", "error_description") if params.get(k)]
    try:
        errors = json.loads(body or b"{}").get("errors") or []
        if errors and isinstance(errors[0], dict):
            said += [str(errors[0].get(k)) for k in ("code", "message") if errors[0].get(k)]
    except (ValueError, AttributeError):
        pass
    what = "rejected" if status == 401 else "unexpected answer"
    return False, f"{what} (HTTP {status})" + (f": {', '.join(said)}" if said else "")


#: A notification envelope without events: authsvc checks the secret, then applies nothing.
EMPTY_EVENTS = b'{"events": []}'


def events_status(events_url: str, authorization: str, *, timeout: float = 5.0, ca_file: str | None = None) -> int:
    """The HTTP status authsvc's notifications endpoint answers to what the registry sends (its own
    ``Authorization`` header) with an envelope that changes nothing: 200 accepted, 401 another
    secret, 404 notifications off.  Raises :class:`RegistryUnreachable` without an answer."""
    if urlsplit(events_url).scheme not in ("http", "https"):
        raise RegistryUnreachable(f"{events_url!r} is not an http:// or https:// URL")
    status, _, _ = _get(events_url, {"Authorization": authorization,
                                     "Content-Type": "application/vnd.docker.distribution.events.v1+json"},
                        timeout, ca_file, data=EMPTY_EVENTS)
    return status
