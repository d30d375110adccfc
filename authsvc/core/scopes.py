"""The scope grammar of the distribution token-auth spec, as pure functions.

A registry asks a client for a token that covers one or more *scopes*::

    scope         := resourcetype ":" resourcename ":" action [ "," action ]*
    resourcetype  := typevalue [ "(" typevalue ")" ]        e.g. repository(plugin)
    resourcename  := [ hostname "/" ] component [ "/" component ]*
    hostname      := hostcomponent [ "." hostcomponent ]* [ ":" port ]
    action        := /[a-z]*/ | "*"

Clients send several scopes either as repeated ``scope`` parameters or
space-separated inside one parameter (docker's refresh-token POST does the
latter), so :func:`parse_scopes` accepts both.

The resource name may itself hold a ``:`` (``localhost:5000/x``), so a scope
is split at its *first* colon (the type) and its *last* colon (the actions).

Parsing is strict: a scope that does not match the grammar raises
:class:`ScopeError` and the token endpoint answers 400.  A client sending
garbage is better told so than silently handed a token without access.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Hard limits so that hostile input costs bounded work.
MAX_SCOPE_LENGTH = 512
MAX_SCOPES_PER_REQUEST = 64
MAX_NAME_LENGTH = 255

_TYPE_VALUE = r"[a-z0-9]+"
_TYPE_RE = re.compile(rf"(?P<type>{_TYPE_VALUE})(?:\((?P<cls>{_TYPE_VALUE})\))?")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_HOST_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOSTNAME = rf"{_HOST_COMPONENT}(?:\.{_HOST_COMPONENT})*(?::[0-9]+)?"
_NAME_RE = re.compile(rf"(?:{_HOSTNAME}/)?{_COMPONENT}(?:/{_COMPONENT})*")
_ACTION_RE = re.compile(r"[a-z]*|\*")
# Applied with fullmatch: ``$`` with ``match`` would accept a trailing "\n" ("repository:p/app\n:pull").


class ScopeError(ValueError):
    """A scope string that does not follow the grammar."""


@dataclass(frozen=True)
class Scope:
    """One requested (or granted) resource scope.

    ``resource_class`` keeps the optional ``(plugin)`` part so that it can be
    echoed back; policy treats ``repository(plugin)`` like ``repository``.
    """

    type: str
    name: str
    actions: tuple[str, ...]
    resource_class: str | None = None

    def __str__(self) -> str:
        type_text = self.type if self.resource_class is None else f"{self.type}({self.resource_class})"
        return f"{type_text}:{self.name}:{','.join(self.actions)}"

    def to_access(self) -> dict:
        """The JSON form used in the token's ``access`` claim."""
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


def parse_scope(text: str) -> Scope:
    """Parse one scope; raise :class:`ScopeError` naming what is wrong."""
    if len(text) > MAX_SCOPE_LENGTH:
        raise ScopeError(f"scope longer than {MAX_SCOPE_LENGTH} characters")
    first = text.find(":")
    last = text.rfind(":")
    if first <= 0 or last == first:
        raise ScopeError(f"scope {text[:80]!r} is not of the form type:name:actions")
    type_text, name, action_text = text[:first], text[first + 1:last], text[last + 1:]
    type_match = _TYPE_RE.fullmatch(type_text)
    if not type_match:
        raise ScopeError(f"scope {text[:80]!r} has an invalid resource type")
    if not name or len(name) > MAX_NAME_LENGTH or not _NAME_RE.fullmatch(name):
        # The registry's own catalog scope ("registry:catalog:*") uses a bare word,
        # which the component grammar already admits.
        raise ScopeError(f"scope {text[:80]!r} has an invalid resource name")
    actions = tuple(dict.fromkeys(a for a in action_text.split(",") if a))
    if not all(_ACTION_RE.fullmatch(a) for a in actions):
        raise ScopeError(f"scope {text[:80]!r} has an invalid action")
    return Scope(type_match["type"], name, actions, type_match["cls"])


def parse_scopes(values: list[str] | tuple[str, ...]) -> list[Scope]:
    """Parse repeated ``scope`` values, each possibly holding several scopes.

    Scopes naming the same resource are merged so that the token carries one
    ``access`` entry per resource, with the union of the requested actions.
    """
    merged: dict[tuple[str, str, str | None], Scope] = {}
    count = 0
    for value in values:
        for text in value.split():
            count += 1
            if count > MAX_SCOPES_PER_REQUEST:
                raise ScopeError(f"more than {MAX_SCOPES_PER_REQUEST} scopes in one request")
            scope = parse_scope(text)
            key = (scope.type, scope.name, scope.resource_class)
            if key in merged:
                old = merged[key]
                scope = Scope(scope.type, scope.name,
                              tuple(dict.fromkeys(old.actions + scope.actions)),
                              scope.resource_class)
            merged[key] = scope
    return list(merged.values())


def project_of(repository_name: str) -> str | None:
    """The project a repository belongs to: its first path component.

    A name without ``/`` belongs to no project (the registry's top level is
    not ours to hand out), so it gets ``None`` and, from policy, no access.
    """
    head, sep, rest = repository_name.partition("/")
    if not sep or not rest:
        return None
    return head
