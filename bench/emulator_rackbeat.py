"""Throughput of the Rackbeat emulator on simple GETs, rate limit off. Prints figures only.

The emulator runs in a child process (uvicorn, httptools, uvloop, exactly as ``rbsync
sandbox`` serves it); this process drives it with a few keep-alive connections speaking raw
HTTP/1.1 over asyncio streams, so that the client costs little next to the server.

    .venv/bin/python bench/emulator_rackbeat.py [--scale 100000] [--seconds 5] [--connections 8]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import sys
import time

LOOPBACK = "127.0.0.1"
READY_TIMEOUT_SECONDS = 120.0


def _serve(port: int, scale: int) -> None:
    from sandbox.rackbeat import RackbeatConfig, create_app
    from sandbox.server import serve_forever

    config = RackbeatConfig(seed=1, scale=scale, rate_limit_enabled=False)
    serve_forever([(create_app(config), port)])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _wait_ready(port: int, child: multiprocessing.Process) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not child.is_alive():
            raise RuntimeError("the emulator process died while starting")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the emulator did not listen on {port} within {READY_TIMEOUT_SECONDS}s")


async def _connection(port: int, request: bytes, stop_at: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    done = 0
    try:
        while time.monotonic() < stop_at:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            if status >= 400:
                raise RuntimeError(f"unexpected HTTP {status}: {head[:200]!r}")
            done += 1
    finally:
        writer.close()
        counts.append(done)


async def _load(port: int, path: str, seconds: float, connections: int) -> float:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\n"
        "Authorization: Bearer rackbeat-sandbox-token\r\nAccept: application/json\r\n\r\n"
    ).encode()
    counts: list[int] = []
    started = time.monotonic()
    stop_at = started + seconds
    await asyncio.gather(*(_connection(port, request, stop_at, counts) for _ in range(connections)))
    return sum(counts) / (time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100_000, help="products in the catalogue")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each run")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections")
    args = parser.parse_args(argv)

    port = _free_port()
    child = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(port, args.scale), daemon=True
    )
    started = time.monotonic()
    child.start()
    try:
        _wait_ready(port, child)
        ready = time.monotonic() - started
        print(f"rackbeat emulator, {args.scale} products: ready in {ready:.1f}s")
        targets = [
            ("GET one product", "/api/products/10500"),
            ("GET one product, double-encoded number", "/api/products/AB%252F100"),
            ("GET product list (20 per page)", "/api/products?page=200"),
            ("GET self", "/api/self"),
        ]
        for label, path in targets:
            rate = asyncio.run(_load(port, path, args.seconds, args.connections))
            print(f"{label:42s} {rate:8.0f} req/s  ({args.connections} connections)")
    finally:
        child.terminate()
        child.join(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
