"""A lean keep-alive HTTP/1.1 load generator (raw asyncio streams): cheap enough per request that on two
cores the client does not drown the servers it measures. Handles content-length and chunked bodies and
records the time to the first SSE data event."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class Sample:
    latency_s: float
    ttfb_s: float
    status: int
    body: bytes


@dataclass
class Summary:
    count: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(repr=False, default_factory=list)
    ttfb_ms: list[float] = field(repr=False, default_factory=list)

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, q: float, ttfb: bool = False) -> float:
        data = sorted(self.ttfb_ms if ttfb else self.latencies_ms)
        if not data:
            return float("nan")
        index = min(len(data) - 1, max(0, round(q / 100 * (len(data) - 1))))
        return data[index]

    def as_dict(self) -> dict[str, float]:
        return {
            "requests": self.count,
            "errors": self.errors,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.pct(50), 3),
            "p95_ms": round(self.pct(95), 3),
            "p99_ms": round(self.pct(99), 3),
            "ttfb_p50_ms": round(self.pct(50, True), 3),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 3) if self.latencies_ms else float("nan"),
        }


class Connection:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, raw: bytes) -> Sample:
        if self.writer is None:
            await self._connect()
        assert self.reader is not None and self.writer is not None
        started = time.perf_counter()
        self.writer.write(raw)
        status_line = await self.reader.readline()
        if not status_line:  # the server closed an idle keep-alive connection: reconnect once
            await self._connect()
            return await self.request(raw)
        status = int(status_line.split(b" ", 2)[1])
        length: int | None = None
        chunked = False
        close = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        ttfb: float | None = None
        body = bytearray()
        if chunked:
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                data = await self.reader.readexactly(size)
                await self.reader.readexactly(2)
                if ttfb is None and b"data:" in data:
                    ttfb = time.perf_counter() - started
                body += data
        elif length is not None:
            body += await self.reader.readexactly(length)
        ended = time.perf_counter()
        if ttfb is None:
            ttfb = ended - started
        if close:
            self.writer.close()
            self.writer = None
        return Sample(ended - started, ttfb, status, bytes(body))

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def build_request(
    url: str, body: bytes, headers: dict[str, str] | None = None, method: str = "POST"
) -> bytes:
    parts = urlsplit(url)
    lines = [f"{method} {parts.path or '/'} HTTP/1.1", f"host: {parts.netloc}", "connection: keep-alive"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if method == "POST":
        lines += ["content-type: application/json", f"content-length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body if method == "POST" else b"")


async def run_load(
    url: str,
    raw: bytes | Callable[[int], bytes],
    *,
    concurrency: int,
    duration_s: float,
    warmup: int = 20,
    max_requests: int | None = None,
) -> Summary:
    """``concurrency`` connections sending requests back to back for ``duration_s`` seconds (or until
    ``max_requests``). ``raw`` is one request, or a function of the request's number that builds it (to send
    a different body each time, e.g. cache misses)."""
    counter = 0

    def next_raw() -> bytes:
        nonlocal counter
        counter += 1
        return raw(counter) if callable(raw) else raw

    conns = [Connection(url) for _ in range(concurrency)]
    for conn in conns[: max(1, min(concurrency, warmup))]:
        await conn.request(next_raw())
    latencies: list[float] = []
    ttfbs: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration_s

    async def worker(conn: Connection) -> None:
        nonlocal errors
        while time.perf_counter() < deadline and (max_requests is None or len(latencies) < max_requests):
            sample = await conn.request(next_raw())
            if sample.status >= 400:
                errors += 1
            latencies.append(sample.latency_s * 1000)
            ttfbs.append(sample.ttfb_s * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - started
    for conn in conns:
        await conn.close()
    return Summary(len(latencies), errors, elapsed, latencies, ttfbs)


def rss_mb(pid: int) -> float:
    """A process's resident memory in MB (Linux /proc), to 0.1 MB; NaN when it cannot be read."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")
