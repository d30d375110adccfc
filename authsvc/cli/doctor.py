"""``authsvc doctor``: render the diagnostics and turn them into an exit status.

Deliberately not wrapped in ``with_app``: that reports a bad setting or a
missing schema as one error and stops, while the point here is to report
every problem at once.  The checks themselves live in
``services/diagnostics.py``.
"""

from __future__ import annotations

import json
import sys

import click

from ..services.operations import diagnostics

LABELS = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


@click.command("doctor")
@click.option("--registry", "registry_url", metavar="URL",
              help="A running registry to check against (e.g. https://registry.example.com).")
@click.option("--registry-config", metavar="FILE", help="The registry's config.yml, to compare with ours.")
@click.option("--service", help="The service to sign the test token for (default: the registry's own).")
@click.option("--ca-file", metavar="FILE", help="CA certificates (PEM) to verify the registry's TLS with.")
@click.option("--timeout", type=click.FloatRange(0.1, 120), default=5.0, show_default=True,
              help="Seconds to wait for each answer from the registry.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a report.")
def doctor(registry_url: str | None, registry_config: str | None, service: str | None, ca_file: str | None,
           timeout: float, as_json: bool) -> None:
    """Check configuration, database, key, certificate and trust bundle, and a registry's view of us.

    Each problem is printed with its fix.  Exit status 1 if any check failed; warnings alone exit 0.
    """
    checks = diagnostics.run_checks(registry_url=registry_url, registry_config=registry_config,
                                    service=service, ca_file=ca_file, timeout=timeout)
    status = diagnostics.exit_status(checks)
    counts = {label: sum(c.status == label for c in checks) for label in LABELS}
    if as_json:
        click.echo(json.dumps({"ok": status == 0, "counts": counts,
                               "checks": [c.as_dict() for c in checks]}, indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for check in checks:
            click.echo(f"{LABELS[check.status]:<4} {check.name:<{width}}  {check.detail}")
            if check.fix and check.status in ("warn", "fail"):
                click.echo(f"{'':<4} {'fix:':<{width}}  {check.fix}")
        warnings = "1 warning" if counts["warn"] == 1 else f"{counts['warn']} warnings"
        click.echo(f"{counts['fail']} failed, {warnings}, {counts['ok']} ok"
                   + (f", {counts['skip']} skipped" if counts["skip"] else ""))
    sys.exit(status)
