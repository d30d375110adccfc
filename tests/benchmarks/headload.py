"""A closed-loop load generator for ``HEAD`` requests, which wrk cannot send.

wrk's HTTP parser is never told a response answers a ``HEAD``, so it waits for the body that
the ``Content-Length`` header announces and never completes one (against the registry: zero
requests in a second, every connection stuck).  This client does what ``wrk -t 1 -c N`` does
for a single request, in one thread: ``connections`` keep-alive connections, each sending the
same pre-formatted request again as soon as the response's header has arrived, for ``seconds``;
a response other than 200 is counted as a status error, as wrk counts one.

It is Python, so it spends more CPU per request than wrk (tens of µs): the cost is the same on
both sides of a comparison with the same request, which is how the benchmark uses it; figures
of different clients are not compared with each other.
"""

from __future__ import annotations

import selectors
import socket
import time

from .harness import BenchmarkError, WrkResult


def head_load(port: int, target: str, headers: dict[str, str], connections: int, seconds: float) -> WrkResult:
    request = "".join([f"HEAD {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n",
                       *(f"{k}: {v}\r\n" for k, v in headers.items()), "\r\n"]).encode()
    selector = selectors.DefaultSelector()
    sockets = []
    try:
        for _ in range(connections):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            sockets.append(sock)
        latencies: list[float] = []
        statuses = 0
        start = time.monotonic()
        deadline = start + seconds
        for sock in sockets:
            sock.send(request)
            selector.register(sock, selectors.EVENT_READ, [b"", time.monotonic()])
        open_requests = connections
        while open_requests:
            events = selector.select(timeout=10)
            if not events:
                raise BenchmarkError(f"HEAD {target} on port {port}: no response in 10 s")
            for key, _ in events:
                sock, state = key.fileobj, key.data
                data = sock.recv(65536)
                if not data:
                    raise BenchmarkError(f"HEAD {target} on port {port}: the server closed the connection")
                state[0] += data
                if b"\r\n\r\n" not in state[0]:
                    continue
                head, _, rest = state[0].partition(b"\r\n\r\n")
                if rest:
                    raise BenchmarkError(f"HEAD {target} on port {port}: the response carried a body")
                now = time.monotonic()
                latencies.append(now - state[1])
                statuses += head[9:12] != b"200"
                if now < deadline:
                    state[0], state[1] = b"", now
                    sock.send(request)
                else:
                    selector.unregister(sock)
                    open_requests -= 1
        elapsed = time.monotonic() - start
    except OSError as exc:
        raise BenchmarkError(f"HEAD {target} on port {port}: {exc}") from None
    finally:
        selector.close()
        for sock in sockets:
            sock.close()
    latencies.sort()

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    result = WrkResult(requests=len(latencies), seconds=elapsed,
                       errors={"connect": 0, "read": 0, "write": 0, "status": statuses, "timeout": 0},
                       p50_ms=percentile(0.5), p90_ms=percentile(0.9), p99_ms=percentile(0.99),
                       max_ms=latencies[-1] * 1000)
    if statuses:
        raise BenchmarkError(f"HEAD {target} on port {port}: {statuses} of {len(latencies)} responses were not 200")
    return result
