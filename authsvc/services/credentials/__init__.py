"""Managing the credentials ``services/authn`` checks: robots, personal access tokens, the
refresh tokens of ``docker login``, and pull secrets.  Making one needs a password login
(``core.policy.may_create_credentials``); checking one never needs this package."""
