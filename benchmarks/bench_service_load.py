"""Load on the planning service: throughput and p50/p99 latency with and without dynamic batching.

Starts ``python -m service`` (the shipped embedded planner) on 127.0.0.1
twice, side by side in one run: with batching (``--max-batch-size 16``) and
without (``--max-batch-size 1``). For each, at concurrency 1, 4 and 16, a
closed loop of async HTTP clients sends ``--requests`` plans; then, with
batching, a soak of ``--soak`` requests at concurrency 16 counts errors and
reads the server's resident memory after the 100th and the last request.

Prints one row per (batching, concurrency), the batching / no-batching
throughput ratio per concurrency, p99/p50, and the memory growth, and checks
the service targets (exit 1 when one fails):

* batching at concurrency 16: >= 2x the throughput of no batching, p99 <= 2x p50;
* soak: no errors, resident memory grows < 10 % from the 100th request to the last.

Usage::

    python benchmarks/bench_service_load.py [--requests 200] [--soak 1000] [--method recon --ratio 0.5]
                                            [--threads 1] [--out-json docs/bench/service_load.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_service_load.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=200, help="requests per (batching, concurrency) cell")
    p.add_argument("--soak", type=int, default=1000, help="requests of the memory / error soak (0: skip)")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--method", default="recon", help="pruning method of every request")
    p.add_argument("--ratio", type=float, default=0.5, help="pruning ratio of every request")
    p.add_argument("--threads", type=int, default=1, help="torch threads of the server")
    p.add_argument("--max-wait-ms", type=float, default=5.0, help="batching wait of the batching server")
    p.add_argument("--out-json", default=None, help="write every row here")
    return p.parse_args(argv)


def _bodies(method: str, ratio: float, n: int = 8) -> List[dict]:
    """A few distinct requests (front-camera frames of a rendered-looking gradient with an object)."""
    from service.client import plan_body

    out = []
    for i in range(n):
        img = np.repeat(np.linspace(60, 200, 225, dtype=np.uint8)[:, None, None], 400, axis=1).repeat(3, axis=2)
        img[110:170, 40 * i:40 * i + 80] = (200, 40, 40)
        out.append(plan_body({"CAM_FRONT": img}, speed=4.0 + i, command=("left", "right", "straight")[i % 3],
                             pruning={"method": method, "ratio": ratio}, session_id=f"car-{i}",
                             image_format="JPEG"))
    return out


async def _closed_loop(url: str, bodies: List[dict], total: int, concurrency: int,
                       on_done=None) -> Dict[str, object]:
    import httpx

    latencies: List[float] = []
    errors: Dict[str, int] = {}
    counter = iter(range(total))

    async def worker(client: "httpx.AsyncClient") -> None:
        for i in counter:
            t0 = time.perf_counter()
            try:
                resp = await client.post("/plan", json=bodies[i % len(bodies)])
                ok = resp.status_code == 200
                key = str(resp.status_code)
            except httpx.HTTPError as exc:
                ok, key = False, type(exc).__name__
            latencies.append(time.perf_counter() - t0)
            if not ok:
                errors[key] = errors.get(key, 0) + 1
            if on_done is not None:
                on_done(len(latencies))

    async with httpx.AsyncClient(base_url=url, timeout=120.0,
                                 limits=httpx.Limits(max_connections=concurrency)) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*[worker(client) for _ in range(concurrency)])
        wall = time.perf_counter() - t0
    lat = np.asarray(latencies) * 1000.0
    return {"requests": total, "concurrency": concurrency, "seconds": wall, "throughput": total / wall,
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)), "errors": errors}


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from service.process import ServerProcess

    bodies = _bodies(args.method, args.ratio)
    common = ["--threads", str(args.threads), "--max-queue", "256", "--methods", args.method]
    rows: List[dict] = []
    soak: Optional[dict] = None
    for batching in (False, True):
        flags = ["--max-batch-size", "16", "--max-wait-ms", str(args.max_wait_ms)] if batching else \
            ["--max-batch-size", "1", "--max-wait-ms", "0"]
        with ServerProcess(common + flags) as server:
            asyncio.run(_closed_loop(server.url, bodies, 16, 4))  # warm-up
            for c in args.concurrency:
                row = asyncio.run(_closed_loop(server.url, bodies, args.requests, c))
                row["batching"] = batching
                rows.append(row)
                print(f"batching={'on ' if batching else 'off'} c={c:>2}: {row['throughput']:7.1f} req/s  "
                      f"p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms  errors {row['errors']}",
                      flush=True)
            if batching and args.soak:
                marks: Dict[str, int] = {}

                def mark(done: int) -> None:
                    if done == 100:
                        marks["rss_100"] = server.rss_bytes()

                res = asyncio.run(_closed_loop(server.url, bodies, args.soak, 16, on_done=mark))
                res["rss_100"], res["rss_last"] = marks.get("rss_100", 0), server.rss_bytes()
                res["rss_growth"] = res["rss_last"] / max(res["rss_100"], 1) - 1.0
                soak = res
                print(f"soak: {args.soak} requests at c=16, errors {res['errors']}, RSS "
                      f"{res['rss_100'] / 2**20:.0f} MiB after 100 -> {res['rss_last'] / 2**20:.0f} MiB "
                      f"({100 * res['rss_growth']:+.1f} %)", flush=True)
    by = {(r["batching"], r["concurrency"]): r for r in rows}
    print("\nconcurrency  throughput on/off  p99/p50 (on)")
    checks = []
    for c in args.concurrency:
        on, off = by[(True, c)], by[(False, c)]
        ratio = on["throughput"] / off["throughput"]
        tail = on["p99_ms"] / on["p50_ms"]
        print(f"{c:>11}  {ratio:17.2f}x  {tail:12.2f}")
        if c == 16:
            checks += [("batching >= 2x throughput at c=16", ratio >= 2.0), ("p99 <= 2x p50 at c=16", tail <= 2.0)]
    if soak is not None:
        checks += [("soak without errors", not soak["errors"]), ("soak RSS growth < 10 %", soak["rss_growth"] < 0.10)]
    for name, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    if args.out_json:
        os.makedirs(os.path.dirname(os.path.abspath(args.out_json)), exist_ok=True)
        with open(args.out_json, "w") as f:
            json.dump({"args": vars(args), "rows": rows, "soak": soak, "checks": dict(checks)}, f, indent=1)
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
