"""The conditions of a robot's trust policy: which identity tokens may act as the robot.

A policy is a set of conditions, each a claim path and a pattern, and a token matches when it
satisfies every one of them.  Pure: no Flask, no SQL, no JOSE -- the token's signature and its
``iss``, ``aud`` and times are checked before its claims ever reach :func:`matches`.

* A **claim path** names a claim, or one inside an object claim with ``/``:
  ``sub``, ``repository``, ``ref``, ``project_path``, ``kubernetes.io/namespace``,
  ``kubernetes.io/serviceaccount/name`` (claim names themselves hold dots, as
  ``kubernetes.io`` does, so the dot cannot be the separator).
* A **pattern** is the exact value, or a glob in which ``*`` stands for any run of characters
  (``/`` included: ``refs/heads/release-*``, ``repo:acme/*:ref:refs/heads/main``).  Nothing else is
  special.  A pattern that is only ``*`` matches anything and is refused: a condition must say
  something.  Only string claims match: a number, a list or a missing claim never does.

Conditions are kept sorted by path, so a policy reads (and compares) the same whoever wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Most conditions in one policy, longest path and pattern: a policy is read by people.
MAX_CONDITIONS = 16
MAX_PATH, MAX_PATTERN = 100, 300
_PATH_RE = re.compile(r"[A-Za-z0-9_.:-]+(/[A-Za-z0-9_.:-]+)*")


class InvalidCondition(ValueError):
    """A condition that cannot be used; the message says why, for a person to read."""


@dataclass(frozen=True, order=True)
class Condition:
    path: str
    pattern: str

    def __str__(self) -> str:
        return f"{self.path}={self.pattern}"

    def matches(self, claims: dict) -> bool:
        value = claim_at(claims, self.path)
        if not isinstance(value, str):
            return False
        if "*" not in self.pattern:
            return value == self.pattern
        return _glob(self.pattern).fullmatch(value) is not None


def _glob(pattern: str) -> re.Pattern:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def claim_at(claims: dict, path: str):
    """The claim a path names, or None: ``kubernetes.io/namespace`` is ``claims['kubernetes.io']['namespace']``."""
    value: object = claims
    for name in path.split("/"):
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def parse_condition(text: str) -> Condition:
    """``path=pattern`` as a :class:`Condition`; :class:`InvalidCondition` otherwise."""
    if not isinstance(text, str) or "=" not in text:
        raise InvalidCondition("a condition is CLAIM=PATTERN, e.g. sub=repo:acme/app:ref:refs/heads/main")
    path, _, pattern = text.partition("=")
    return condition(path.strip(), pattern)


def condition(path: str, pattern: str) -> Condition:
    if not isinstance(path, str) or not _PATH_RE.fullmatch(path) or len(path) > MAX_PATH:
        raise InvalidCondition(f"invalid claim name {str(path)[:60]!r}: letters, digits, '_', '.', ':', '-', "
                               f"with '/' for a claim inside another, at most {MAX_PATH} characters")
    if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN:
        raise InvalidCondition(f"the pattern for {path!r} must be 1 to {MAX_PATTERN} characters")
    if not pattern.isprintable():
        raise InvalidCondition(f"the pattern for {path!r} must not hold control characters")
    if not pattern.replace("*", ""):
        raise InvalidCondition(f"the pattern for {path!r} matches anything: a condition must say something")
    return Condition(path, pattern)


def conditions(items) -> tuple[Condition, ...]:
    """A policy's conditions, checked and sorted: at least one, at most :data:`MAX_CONDITIONS`,
    each path once."""
    parsed = sorted(item if isinstance(item, Condition) else parse_condition(item) for item in items)
    if not parsed:
        raise InvalidCondition("a trust policy needs at least one condition (sub=... is the usual one)")
    if len(parsed) > MAX_CONDITIONS:
        raise InvalidCondition(f"a trust policy has at most {MAX_CONDITIONS} conditions")
    paths = [c.path for c in parsed]
    if len(set(paths)) != len(paths):
        raise InvalidCondition("each claim may appear once in a policy")
    return tuple(parsed)


def matches(policy: tuple[Condition, ...], claims: dict) -> bool:
    """Whether the claims satisfy every condition (an empty policy matches nothing)."""
    return bool(policy) and all(c.matches(claims) for c in policy)


__all__ = ["Condition", "InvalidCondition", "claim_at", "condition", "conditions", "matches", "parse_condition"]
