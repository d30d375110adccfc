"""``POST /registry/events``: the registry's notifications, which keep the repository inventory.

The registry (``notifications.endpoints`` in its config, printed by ``authsvc registry-config``)
sends ``Authorization: Bearer <notification_secret>`` and a JSON envelope of events, with the
content type ``application/vnd.docker.distribution.events.v1+json`` (v2 from registry 3.x); the
content type is not insisted on.  Everything else is ``services/inventory.py``'s: this module
only checks the size, reads the JSON and answers.

The registry re-sends a batch until it gets a 2xx, with backoff, and holds back every later event
meanwhile, so the answer is 200 for every well-formed envelope, whatever its events hold.
"""

from __future__ import annotations

import json

from flask import Blueprint, jsonify, request

from ..services import inventory
from ..services.errors import Invalid
from .unit import unit

EVENTS_PATH = inventory.EVENTS_PATH
#: The registry sends one event per request (about 1 KiB); a bound keeps a hostile body out
#: without ever refusing what a registry sends.
MAX_EVENTS_BYTES = 1024 * 1024

blueprint = Blueprint("notifications", __name__)


@blueprint.post(EVENTS_PATH)
def receive_events():
    scheme, _, value = (request.headers.get("Authorization") or "").strip().partition(" ")
    inventory.verify_registry_secret(unit(), value.strip() if scheme.lower() == "bearer" else None)
    request.max_content_length = MAX_EVENTS_BYTES
    try:
        envelope = json.loads(request.get_data())
    except (ValueError, RecursionError):
        raise Invalid("the body is not JSON") from None
    return jsonify(inventory.record_events(unit(), envelope).summary())
