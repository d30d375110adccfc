"""The OpenID Connect provider, as a relying party talks to it: discovery, keys, the code and
refresh grants, userinfo, and the ID token's checks.

Nothing of the protocol is written here.  authlib's ``OAuth2Session`` builds the authorization
request (PKCE S256) and makes the token requests (client_secret_basic); joserfc, authlib's JOSE
library, checks the ID token's signature and claims.  What this module decides is only what a
library cannot know: which provider and client we trust, which algorithms (the asymmetric ones
the provider announces -- never ``none``, never an HMAC keyed with a public key), and when to
fetch the keys again.

The discovery document and the JWKS are fetched once and kept (the document for an hour); an ID
token signed with a ``kid`` the kept JWKS lacks makes one fetch of the JWKS, at most every
:data:`KEY_REFETCH_SECONDS`, so the provider can rotate its keys without a restart while a flood
of forged ``kid`` values cannot make us hammer it.  Any failure to reach the provider, or an
answer that is not what the protocol promises, is :class:`ProviderUnavailable`; an answer that
refuses the person (a bad token, a refresh the provider declines) is :class:`ProviderRefused`.
"""

from __future__ import annotations

import os
import threading
import time

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from ...settings import Settings, SettingsError
from ..errors import ServiceError
from .secret_file import read_secret_file

#: Signature algorithms an ID token may use: asymmetric only (a JWKS holds public keys).
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
#: The discovery document is fetched again after this long (a provider's endpoints rarely move).
DISCOVERY_SECONDS = 3600
#: An unknown ``kid`` fetches the JWKS again at most this often.
KEY_REFETCH_SECONDS = 30
#: Seconds of clock difference allowed between us and the provider (``exp``, ``iat``).
LEEWAY_SECONDS = 60
#: An ID token issued longer ago than this is refused, whatever its ``exp`` says.
MAX_ID_TOKEN_AGE = 600


class ProviderUnavailable(ServiceError):
    """The provider did not answer, or not as the protocol says: 503 with the API's one code for
    it (``UNAVAILABLE``, as for the directory or the database); the message names the provider."""

    code = "UNAVAILABLE"
    http_status = 503
    retry_after = 5


class ProviderRefused(Exception):
    """The provider's answer does not let this person in; ``reason`` is for the log and audit."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class OidcProvider:
    """The configured provider (``oidc_issuer``), shared by the workers' threads."""

    def __init__(self, settings: Settings):
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self.redirect_uri = settings.oidc_callback_url
        self.scope = " ".join(settings.oidc_scopes)
        self.timeout = settings.oidc_timeout
        self._secret = read_secret_file("oidc_client_secret_file", settings.oidc_client_secret_file)
        ca = settings.oidc_ca_file
        if ca and not os.access(ca, os.R_OK):
            raise SettingsError(f"setting 'oidc_ca_file': cannot read {ca}")
        #: What certificates the provider's must chain to (requests' ``verify``).
        self.tls_verify = ca or True
        self._lock = threading.Lock()
        self._metadata: tuple[float, dict] | None = None
        self._keys: tuple[float, KeySet] | None = None
        self._http: tuple[int, requests.Session] | None = None

    # -- talking to the provider ------------------------------------------------

    def _session(self) -> requests.Session:
        """One HTTP session per process: a forked worker never shares its parent's connections."""
        http = self._http
        if http is None or http[0] != os.getpid():
            session = requests.Session()
            session.verify = self.tls_verify
            http = self._http = (os.getpid(), session)
        return http[1]

    def _get_json(self, url: str, what: str) -> dict:
        try:
            response = self._session().get(url, timeout=self.timeout, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable(f"the identity provider's {what} could not be read "
                                      f"({type(exc).__name__})") from None
        if not isinstance(document, dict):
            raise ProviderUnavailable(f"the identity provider's {what} is not a JSON object")
        return document

    def _client(self, **extra) -> OAuth2Session:
        session = OAuth2Session(self.client_id, self._secret, scope=self.scope, redirect_uri=self.redirect_uri,
                                token_endpoint_auth_method="client_secret_basic", code_challenge_method="S256",
                                **extra)
        session.verify = self.tls_verify
        return session

    def metadata(self) -> dict:
        """The discovery document, checked to name our issuer and the endpoints we use."""
        kept = self._metadata
        if kept is not None and time.monotonic() - kept[0] < DISCOVERY_SECONDS:
            return kept[1]
        document = self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration",
                                  "discovery document")
        if document.get("issuer") != self.issuer:
            raise ProviderUnavailable("the identity provider's discovery document names another issuer "
                                      f"({str(document.get('issuer'))[:200]!r}, not oidc_issuer)")
        for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = document.get(endpoint)
            if not isinstance(value, str) or not value.startswith(("https://", "http://")):
                raise ProviderUnavailable(f"the identity provider's discovery document has no {endpoint}")
        self._metadata = (time.monotonic(), document)
        return document

    def key_set(self, *, kid: str | None = None) -> KeySet:
        """The provider's public keys; fetched again (rate-limited) when ``kid`` is not among them."""
        with self._lock:
            kept = self._keys
            if kept is not None and (kid is None or _has_kid(kept[1], kid)
                                     or time.monotonic() - kept[0] < KEY_REFETCH_SECONDS):
                return kept[1]
            document = self._get_json(self.metadata()["jwks_uri"], "keys (JWKS)")
            try:
                public = [key for key in document.get("keys", []) if isinstance(key, dict)
                          and key.get("kty") in ("RSA", "EC", "OKP") and "d" not in key]
                keys = KeySet.import_key_set({"keys": public})
            except (JoseError, ValueError, TypeError, KeyError):
                raise ProviderUnavailable("the identity provider's keys (JWKS) cannot be read") from None
            self._keys = (time.monotonic(), keys)
            return keys

    def algorithms(self) -> list[str]:
        announced = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        return [alg for alg in ASYMMETRIC_ALGORITHMS if alg in announced]

    # -- the protocol --------------------------------------------------------------

    def authorization_url(self, *, state: str, nonce: str, code_verifier: str) -> str:
        """Where the browser goes to sign in (authorization code, PKCE S256, state and nonce)."""
        # access_type=offline: Google hands out a refresh token only when asked so; every other
        # provider ignores a parameter it does not know (RFC 6749, 3.1).
        url, _ = self._client().create_authorization_url(self.metadata()["authorization_endpoint"], state=state,
                                                         nonce=nonce, code_verifier=code_verifier,
                                                         access_type="offline")
        return url

    def exchange(self, code: str, code_verifier: str) -> dict:
        """The token response for an authorization code; :class:`ProviderRefused` if the provider
        declines the code (used twice, expired, another client's)."""
        return self._token_request(code=code, code_verifier=code_verifier, grant_type="authorization_code")

    def refresh(self, refresh_token: str) -> dict:
        """A new token response for a refresh token; :class:`ProviderRefused` if the provider no
        longer honours it (the person was removed, signed out everywhere, or their grant revoked)."""
        return self._token_request(refresh_token=refresh_token, grant_type="refresh_token")

    def _token_request(self, **params) -> dict:
        client = self._client()
        url = self.metadata()["token_endpoint"]
        try:
            if params["grant_type"] == "refresh_token":
                answer = client.refresh_token(url, refresh_token=params["refresh_token"], timeout=self.timeout)
            else:
                answer = client.fetch_token(url, code=params["code"], code_verifier=params["code_verifier"],
                                            grant_type="authorization_code", timeout=self.timeout)
        except OAuthError as exc:  # the provider's own refusal: invalid_grant and the like
            raise ProviderRefused(f"the provider refused the {params['grant_type']} grant: "
                                  f"{str(exc.error)[:100]}") from None
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable("the identity provider's token endpoint did not answer "
                                      f"({type(exc).__name__})") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
            raise ProviderUnavailable("the identity provider's token endpoint answered without an access token")
        return dict(answer)

    def userinfo(self, access_token: str) -> dict:
        """The userinfo claims for an access token (the groups a refresh brings up to date)."""
        url = self.metadata().get("userinfo_endpoint")
        if not isinstance(url, str):
            raise ProviderUnavailable("the identity provider has no userinfo endpoint to re-check groups with")
        try:
            response = self._session().get(url, timeout=self.timeout, headers={
                "Authorization": f"Bearer {access_token}", "Accept": "application/json"})
        except requests.RequestException as exc:
            raise ProviderUnavailable("the identity provider's userinfo did not answer "
                                      f"({type(exc).__name__})") from None
        if response.status_code in (401, 403):
            raise ProviderRefused("the provider refused the userinfo request")
        try:
            response.raise_for_status()
            claims = response.json()
        except (requests.RequestException, ValueError):
            raise ProviderUnavailable("the identity provider's userinfo could not be read") from None
        if not isinstance(claims, dict):
            raise ProviderUnavailable("the identity provider's userinfo is not a JSON object")
        return claims

    def verify_id_token(self, id_token: object, *, nonce: str | None, now: float | None = None) -> dict:
        """The claims of an ID token the provider signed for us; :class:`ProviderRefused` for a
        forged, expired, foreign or replayed one.

        ``nonce`` is the one sent with the authorization request (required then); None for a
        token from a refresh, which carries no new nonce."""
        if not isinstance(id_token, str) or id_token.count(".") != 2:
            raise ProviderRefused("the token response has no signed ID token")
        try:
            header = extract_compact(id_token.encode("ascii")).headers()
        except (JoseError, ValueError, UnicodeError):
            raise ProviderRefused("the ID token is not a signed JWT") from None
        algorithms = self.algorithms()
        if header.get("alg") not in algorithms:
            raise ProviderRefused(f"the ID token's algorithm {str(header.get('alg'))[:20]!r} is not one we accept")
        kid = header.get("kid")
        keys = self.key_set(kid=kid if isinstance(kid, str) else None)
        try:
            token = jwt.decode(id_token, keys, algorithms=algorithms)
        except (JoseError, ValueError) as exc:
            raise ProviderRefused(f"the ID token's signature does not verify ({type(exc).__name__})") from None
        now = int(now if now is not None else time.time())
        expected = {"iss": {"essential": True, "values": _issuer_spellings(self.issuer)},
                    "aud": {"essential": True, "value": self.client_id},
                    "sub": {"essential": True}, "exp": {"essential": True}, "iat": {"essential": True}}
        if nonce is not None:
            expected["nonce"] = {"essential": True, "value": nonce}
        try:
            jwt.JWTClaimsRegistry(now=now, leeway=LEEWAY_SECONDS, **expected).validate(token.claims)
        except JoseError as exc:
            raise ProviderRefused(f"the ID token's claims are not ours: {exc.error} "
                                  f"{str(exc.description)[:80]}") from None
        claims = token.claims
        audience = claims["aud"]
        # OpenID Connect Core 3.1.3.7: with several audiences azp must be present, and when
        # present it must be us (the library checks aud contains us, not who the token is for).
        several = isinstance(audience, list) and len(audience) > 1
        if (several or "azp" in claims) and claims.get("azp") != self.client_id:
            raise ProviderRefused("the ID token was issued to another client (azp)")
        if not isinstance(claims["iat"], int | float) or claims["iat"] < now - MAX_ID_TOKEN_AGE:
            raise ProviderRefused("the ID token was issued too long ago")
        if not isinstance(claims["sub"], str) or not 0 < len(claims["sub"]) <= 255:
            raise ProviderRefused("the ID token's subject is not a string of at most 255 characters")
        return claims


def _issuer_spellings(issuer: str) -> list[str]:
    """The ``iss`` values an ID token of ``issuer`` may carry: exactly the issuer -- and for
    Google, which documents both, also its name without the scheme."""
    if issuer == "https://accounts.google.com":
        return [issuer, "accounts.google.com"]
    return [issuer]


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys)


__all__ = ["OidcProvider", "ProviderRefused", "ProviderUnavailable"]
