"""Failures the service layer reports; HTTP and the CLI each render them in their own way.

Each carries a stable machine-readable ``code`` and a message fit to show a
person.  Nothing here reveals whether a user exists to someone who failed to
authenticate: that is :class:`Unauthorized`, with one message for every cause.
"""

from ..core.text import MAX_TEXT_LENGTH, UnstorableText, check_storable


class ServiceError(Exception):
    code = "ERROR"
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(ServiceError):
    """Input that breaks a rule (a name's grammar, a weak password, an unknown role)."""
    code = "INVALID"
    http_status = 400


class NotFound(ServiceError):
    """The thing does not exist, or the caller may not know that it does."""
    code = "NOT_FOUND"
    http_status = 404


class Conflict(ServiceError):
    """The change would duplicate something or break an invariant (the last Project Admin)."""
    code = "CONFLICT"
    http_status = 409


class Forbidden(ServiceError):
    """The caller may see the thing but not change it."""
    code = "DENIED"
    http_status = 403


class Unauthorized(ServiceError):
    """Authentication failed.  Always the same message, whatever the cause."""
    code = "UNAUTHORIZED"
    http_status = 401

    def __init__(self, message: str = "authentication required: invalid username, password or token"):
        super().__init__(message)


def storable(text: str | None, field: str, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    """``text`` unchanged if it can be stored (core.text's one rule), else :class:`Invalid` naming
    ``field``: the one-line call services make before storing free text, so that the CLI refuses
    what the API refuses, in the same words."""
    try:
        return check_storable(text, field, max_length)
    except UnstorableText as exc:
        raise Invalid(str(exc), field=exc.field) from None
