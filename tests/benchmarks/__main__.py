"""Run the benchmark suite: ``.venv/bin/python -m tests.benchmarks [--quick] [--only NAME[,NAME]]``.

Real processes only: authsvc and a bare Flask baseline under
``config/gunicorn.conf.py``, wrk as the load generator, the Debian registry
and a private dockerd.  Every figure is printed as

    name: value unit (baseline value unit) ratio X (target Y) PASS|MISS|INFO

Benchmarks (``--only``): tokens (item 1), refresh and anonymous (item 2),
push (item 3; ``--tmpfs`` puts its storage in memory), latency (item 4), console (the web
console's pages on a large database), directory (a directory user's repeated Basic ``/token``
against a local user's, issue 14), registry (what checking one of our tokens costs registry 2.8
and 3.1 per request against no auth, by key type and x5c, issue 23), storm (500 robots and 500
people asking once each, 64 at a time, against three cold instances on one PostgreSQL, beside the
registry's htpasswd; issue 23); item 5 (memory per worker) follows whichever of them ran.
``--quick`` shortens every run to smoke-test the suite; its figures are not meant to be quoted.
See docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import harness
from .harness import BenchmarkError, Load, ProductionStack, Report

BENCHMARKS = ("tokens", "refresh", "anonymous", "push", "latency", "console", "directory", "registry", "storm")


@dataclass
class Run:
    """One benchmark run: options, scratch directory, the servers shared between benchmarks."""

    root: Path
    quick: bool
    workers: int | None
    report: Report
    cleanup: contextlib.ExitStack
    seconds: float
    reps: int
    connections: int = 10
    #: --seconds was given (quick mode's own shorter runs give way to it)
    seconds_given: bool = False
    #: label -> (gunicorn Service that served load, label of the one its memory is compared with)
    loaded: dict = field(default_factory=dict)
    _bins: dict | None = None
    _stack: ProductionStack | None = None
    audit_off_service = None
    baseline_service = None
    #: AUTHSVC_DATABASE_URL of authsvc (--postgres), "" for the embedded SQLite; figures are named
    #: with ``db_suffix`` (".postgresql") when it is set.
    database_url: str = ""
    db_suffix: str = ""
    #: the throw-away cluster's postmaster (--postgres): its CPU per request is reported too
    database_pid: int | None = None
    _bcrypt_ms: float | None = None

    @property
    def load(self) -> Load:
        return Load(1, self.connections, self.seconds)

    @property
    def workers_label(self) -> str:
        return str(self.workers) if self.workers else "gunicorn.conf.py's"

    @property
    def bcrypt_ms(self) -> float:
        if self._bcrypt_ms is None:
            self._bcrypt_ms = harness.bcrypt_seconds(12) * 1000
        return self._bcrypt_ms

    def bins(self) -> dict:
        if self._bins is None:
            self._bins = harness.binaries("authsvc", "gunicorn", "wrk", "docker-registry")
        return self._bins

    def production_stack(self) -> ProductionStack:
        """authsvc with production settings and the benchmark's users and projects (started once)."""
        if self._stack is None:
            from . import tokens
            settings = {"AUTHSVC_DATABASE_URL": self.database_url} if self.database_url else None
            stack = ProductionStack(self.root, self.bins(), workers=self.workers, settings=settings)
            self.cleanup.callback(stack.stop)
            stack.init()
            tokens.seed(stack)
            stack.serve()
            self._stack = stack
        return self._stack

    def audit_off_url(self) -> str:
        if self.audit_off_service is None:
            self.audit_off_service = self.production_stack().variant("authsvc-audit-off",
                                                                     AUTHSVC_AUDIT_TOKEN_GRANTS="false")
        return harness.service_url(self.audit_off_service)

    def baseline_url(self) -> str:
        if self.baseline_service is None:
            self.baseline_service = harness.start_baseline(self.root, self.bins()["gunicorn"], self.workers)
            self.cleanup.callback(self.baseline_service.stop)
        return harness.service_url(self.baseline_service)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, one repetition: a smoke test")
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated subset of: {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--seconds", type=float, help="seconds per wrk run (default 15, quick 2)")
    parser.add_argument("--reps", type=int, help="repetitions of each measurement (default 3, quick 1)")
    parser.add_argument("--rounds", type=int, help="push/pull rounds per registry (default 5, quick 1)")
    parser.add_argument("--tmpfs", action="store_true",
                        help="push: the registries' storage and dockerd's data-root on a tmpfs the benchmark "
                             "mounts and removes (needs root), instead of the scratch directory's disk")
    parser.add_argument("--workers", type=int,
                        help="gunicorn -w for authsvc and the baseline alike (default: config/gunicorn.conf.py)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (logs) at the end")
    parser.add_argument("--postgres", action="store_true",
                        help="authsvc on a throw-away PostgreSQL cluster (Debian's binaries) instead of SQLite; "
                             "the token figures are named *.postgresql")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in args.only if name not in BENCHMARKS]
    if unknown or not args.only:
        parser.error(f"--only: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(BENCHMARKS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # SIGTERM (a CI timeout, a test's kill) unwinds like ^C, so every process we started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = Report()
    report.say(" ".join(["$ .venv/bin/python -m tests.benchmarks", *(sys.argv[1:] if argv is None else argv)]))
    report.say("== machine ==")
    for key, value in harness.machine():
        report.say(f"{key}: {value}")
    report.say(f"load average at start: {harness.load_average()}")
    root = Path(tempfile.mkdtemp(prefix="abench", dir="/tmp"))  # short: dockerd's unix socket path
    report.say(f"scratch directory: {root} (logs; removed at the end unless --keep)")
    status = 0
    with contextlib.ExitStack() as cleanup:
        if not args.keep:
            cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        else:
            cleanup.callback(report.say, f"scratch directory kept: {root}")
        # Quick mode boots two workers per server: booting five takes most of a smoke test's time.
        workers = args.workers or (2 if args.quick else None)
        run = Run(root=root, quick=args.quick, workers=workers, report=report, cleanup=cleanup,
                  seconds=args.seconds or (2 if args.quick else 15), reps=args.reps or (1 if args.quick else 3),
                  seconds_given=args.seconds is not None)
        if args.postgres:
            run.database_url, run.database_pid = harness.throwaway_postgres(root, cleanup)
            run.db_suffix = ".postgresql"
            report.say(f"database: PostgreSQL ({run.database_url.split('?')[0]}, a throw-away cluster, fsync off)")
        report.say(f"runs: wrk {run.seconds:.0f} s x {run.reps} repetition(s), interleaved"
                   + (f"; gunicorn -w {workers}" if workers else "")
                   + ("; QUICK MODE: a smoke test, not a measurement" if args.quick else ""))
        try:
            shapes = [s for s, b in (("basic", "tokens"), ("refresh", "refresh"), ("anonymous", "anonymous"))
                      if b in args.only]
            if shapes:
                from . import tokens
                report.say("\n== token requests per second (items 1, 2) ==")
                tokens.run_tokens(run, shapes)
            if "directory" in args.only:
                from . import directory
                report.say("\n== token requests per second: directory user vs local user ==")
                directory.run_directory(run)
            if "push" in args.only:
                from . import images
                report.say("\n== docker push / pull of a 20-layer image (item 3) ==")
                images.run_push_pull(run, rounds=args.rounds or (1 if args.quick else 5), tmpfs=args.tmpfs)
            if "latency" in args.only:
                from . import bigdb
                report.say("\n== token latency, large database vs 10 users (item 4) ==")
                bigdb.run_latency(run)
            if "console" in args.only:
                from . import console
                report.say("\n== web console pages, 10,000 projects / 1,000 members / 100,000 tags ==")
                console.run_console(run)
            if "registry" in args.only:
                from . import registry
                report.say("\n== the registry's cost of checking a token, per request (issue 23) ==")
                registry.run_registry(run)
            if "storm" in args.only:
                from . import storm
                report.say("\n== cold storm: distinct robots and people asking once each, 3 instances ==")
                storm.run_storm(run)
            if run.loaded:
                from . import tokens
                report.say("\n== resident memory per worker after the load (item 5) ==")
                tokens.memory(run)
        except BenchmarkError as exc:
            report.say(f"\nBENCHMARK FAILED: {exc}")
            status = 1
        except KeyboardInterrupt:
            report.say("\ninterrupted")
            status = 130
        except SystemExit as exc:  # SIGTERM
            report.say("\nterminated")
            status = exc.code if isinstance(exc.code, int) else 1
        report.summary()
        report.say(f"load average at end: {harness.load_average()}")
    return status


if __name__ == "__main__":
    sys.exit(main())
