"""``authsvc doctor``'s OpenID provider checks (when ``oidc_issuer`` is set): is the discovery
document ours, are there keys to check ID tokens with, does the provider accept our client, and
does it know the redirect URI?

Each is what an administrator would otherwise learn from a person's failed sign-in: a wrong
issuer URL (or one with a trailing slash the provider does not use), a provider signing with an
algorithm we refuse, a client secret rotated at the provider and not here, a redirect URI the
provider was never told.
"""

from __future__ import annotations

import requests

from ...settings import Settings, SettingsError
from ..authn.oidc_provider import OidcProvider, ProviderRefused, ProviderUnavailable
from .diagnostic_checks import FAIL, OK, SKIP, WARN, Check


def oidc_checks(s: Settings) -> list[Check]:
    if not s.oidc_issuer:
        return []
    try:
        provider = OidcProvider(s)
        metadata = provider.metadata()
    except SettingsError as exc:
        return [Check("oidc-discovery", FAIL, str(exc), "correct the oidc_* setting it names")]
    except ProviderUnavailable as exc:
        return [Check("oidc-discovery", FAIL, f"{s.oidc_issuer}: {exc.message}",
                      "check oidc_issuer (exactly as the provider's discovery document names it), oidc_ca_file, "
                      "and that this host reaches the provider"),
                Check("oidc-keys", SKIP, "the discovery document could not be read"),
                Check("oidc-client", SKIP, "the discovery document could not be read"),
                Check("oidc-redirect", SKIP, f"the discovery document could not be read; the provider must have "
                      f"{s.oidc_callback_url} registered as a redirect URI")]
    checks = [Check("oidc-discovery", OK, f"{s.oidc_issuer}: discovery document names this issuer")]
    checks.append(_keys_check(provider))
    checks.append(_client_check(provider))
    checks.append(_redirect_check(provider, metadata))
    return checks


def _keys_check(provider: OidcProvider) -> Check:
    try:
        keys = list(provider.key_set())
        algorithms = provider.algorithms()
    except ProviderUnavailable as exc:
        return Check("oidc-keys", FAIL, exc.message, "the provider's jwks_uri must answer its public keys")
    if not algorithms:
        return Check("oidc-keys", FAIL, "the provider announces no asymmetric ID-token algorithm "
                     "(id_token_signing_alg_values_supported)",
                     "configure the client for RS256 or ES256 at the provider")
    if not keys:
        return Check("oidc-keys", FAIL, "the provider's JWKS holds no public key", "check the provider's signing keys")
    return Check("oidc-keys", OK, f"{len(keys)} public key(s); ID tokens accepted in {', '.join(algorithms)}")


def _client_check(provider: OidcProvider) -> Check:
    """A code no one was given, sent with our client's credentials: ``invalid_grant`` means the
    provider accepted the client id and secret (and refused only the code)."""
    try:
        provider.exchange("authsvc-doctor-no-such-code", "authsvc-doctor-" + "x" * 43)
    except ProviderRefused as exc:
        if "invalid_grant" in exc.reason:
            return Check("oidc-client", OK, f"client {provider.client_id!r} and its secret are accepted")
        if "invalid_client" in exc.reason or "unauthorized_client" in exc.reason:
            return Check("oidc-client", FAIL, f"the provider refuses client {provider.client_id!r}: {exc.reason}",
                         "check oidc_client_id and the secret in oidc_client_secret_file against the provider")
        return Check("oidc-client", WARN, f"could not tell whether the client is accepted: {exc.reason}")
    except ProviderUnavailable as exc:
        return Check("oidc-client", FAIL, exc.message, "the provider's token_endpoint must answer")
    return Check("oidc-client", WARN, "the provider accepted a made-up code",
                 "check that oidc_issuer is a real provider")


def _redirect_check(provider: OidcProvider, metadata: dict) -> Check:
    """The authorization endpoint asked with our redirect URI: providers answer a 400 page (and
    never redirect) for a redirect URI the client did not register."""
    url = provider.authorization_url(state="authsvc-doctor", nonce="authsvc-doctor",
                                     code_verifier="authsvc-doctor-" + "x" * 43)
    try:
        answer = requests.get(url, allow_redirects=False, timeout=provider.timeout, verify=provider.tls_verify)
    except requests.RequestException as exc:
        return Check("oidc-redirect", FAIL, f"{metadata['authorization_endpoint']} did not answer "
                     f"({type(exc).__name__})", "this host must reach the provider's authorization endpoint")
    if 400 <= answer.status_code < 500:
        return Check("oidc-redirect", FAIL, f"the provider refuses the redirect URI {provider.redirect_uri} "
                     f"(HTTP {answer.status_code})", f"register exactly {provider.redirect_uri} for client "
                     f"{provider.client_id!r} (or set oidc_redirect_uri to the one registered)")
    return Check("oidc-redirect", OK, f"the provider accepts the redirect URI {provider.redirect_uri} "
                 "(people's browsers must reach it)")
