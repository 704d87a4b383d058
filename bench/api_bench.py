"""HTTP API benchmark: batch acceptance and single-send latency under load.

A private `postoffice serve` (delivery paused: acceptance is what is measured) gets
`--recipients` recipients in calls of `--batch` to POST /v1/messages/batch (a stored template
with per-recipient variables), `--concurrency` calls in flight; meanwhile one client sends
single POST /v1/messages one after the other and records each latency. Prints recipients per
second and the p50/p99 of the single sends (targets: >= 5,000 recipients/s, p99 <= 50 ms).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from smtp_accept import po, serving, set_toml_key  # noqa: E402

TEMPLATE = {
    "subject": "Your weekly digest, {{ name }}",
    "text": "Hi {{ name }},\n\nHere is what happened this week:\n{% for item in items %}"
            "- {{ item }}\n{% endfor %}\nSee you next week.\n",
    "html": "<html><body><p>Hi {{ name }},</p><ul>{% for item in items %}<li>{{ item }}</li>"
            "{% endfor %}</ul><p>See you next week.</p></body></html>",
}


def recipients(start: int, count: int) -> list[dict[str, Any]]:
    return [{"to": f"Reader {i} <reader{i}@far{i % 50}.example>",
             "variables": {"name": f"Reader {i}",
                           "items": [f"story {i}-{j}" for j in range(5)]}}
            for i in range(start, start + count)]


def single_sends(base: str, key: str, stop: threading.Event,
                 latencies: list[float]) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"},
                      timeout=30) as client:
        n = 0
        while not stop.is_set():
            t0 = time.perf_counter()
            response = client.post("/v1/messages", json={
                "from": "Shop <shop@example.test>", "to": [f"buyer{n}@far.example"],
                "subject": f"Order {n}", "text": "Thanks for your order."})
            latencies.append(time.perf_counter() - t0)
            if response.status_code != 202:
                raise RuntimeError(f"single send: {response.status_code} {response.text}")
            n += 1
            time.sleep(0.02)


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="api-bench-") as tmp:
        data = Path(tmp) / "data"
        po(data, "init", "--domain", "example.test", "--ports", "any")
        config = data / "postoffice.toml"
        set_toml_key(config, "delivery", "paused", "true")
        set_toml_key(config, "server", "workers", str(args.workers))
        key = json.loads(po(data, "apikey", "create", "--tenant", "default", "--scope",
                            "admin", "--json"))["key"]
        with serving(data, Path(tmp) / "serve.log"):
            listeners = json.loads((data / "run" / "listeners.json").read_text())["listeners"]
            base = f"http://{listeners['http']['host']}:{listeners['http']['port']}"
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
                client.put("/v1/templates/digest", json=TEMPLATE).raise_for_status()
                warm = client.post("/v1/messages/batch", json={
                    "from": "News <news@example.test>", "template": "digest",
                    "lane": "bulk", "recipients": recipients(10**7, 100)})
                warm.raise_for_status()
            latencies: list[float] = []
            stop = threading.Event()
            prober = threading.Thread(target=single_sends, args=(base, key, stop, latencies))
            prober.start()
            # The request bodies are made before the clock starts: the load generator shares
            # the machine's two cores with the server, and should cost it as little as it can.
            bodies = [json.dumps({
                "from": "News <news@example.test>", "template": "digest", "lane": "bulk",
                "category": "digest",
                "recipients": recipients(start, min(args.batch, args.recipients - start))},
            ).encode() for start in range(0, args.recipients, args.batch)]
            starts = list(range(0, args.recipients, args.batch))
            lock = threading.Lock()
            failed: list[str] = []

            def worker() -> None:
                with httpx.Client(base_url=base, headers=headers, timeout=300) as client:
                    while True:
                        with lock:
                            if not starts:
                                return
                            start = starts.pop(0)
                        count = min(args.batch, args.recipients - start)
                        response = client.post(
                            "/v1/messages/batch", content=bodies[start // args.batch],
                            headers={"Content-Type": "application/json"})
                        # every message queued: counted without decoding the whole answer
                        queued = response.content.count(b'"status":"queued"')
                        if response.status_code != 202 or queued != count:
                            failed.append(f"{response.status_code} {response.text[:300]}")

            t0 = time.perf_counter()
            workers = [threading.Thread(target=worker) for _ in range(args.concurrency)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            elapsed = time.perf_counter() - t0
            stop.set()
            prober.join()
            if failed:
                raise RuntimeError(f"{len(failed)} batch call(s) failed: {failed[0]}")
    ordered = sorted(latencies)
    return {
        "recipients": args.recipients, "batch": args.batch, "concurrency": args.concurrency,
        "workers": args.workers, "seconds": elapsed,
        "recipients_per_s": args.recipients / elapsed,
        "single_sends": len(ordered),
        "single_p50_ms": 1000 * statistics.median(ordered),
        "single_p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipients", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8,
                    help="batch calls in flight, each on a keep-alive connection of its own: "
                         "the kernel spreads connections over the workers by hash "
                         "(SO_REUSEPORT), so a few may all land on one worker")
    ap.add_argument("--workers", type=int, default=2, help="postoffice [server] workers")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args(argv)
    result = run(args)
    print(f"HTTP API: {result['recipients']:,} recipients in calls of {result['batch']}, "
          f"{result['concurrency']} in flight, {result['workers']} workers")
    print(f"  batch acceptance   {result['recipients_per_s']:,.0f} recipients/s "
          f"({result['seconds']:.1f} s)   target >= 5,000")
    print(f"  single POST during it: p50 {result['single_p50_ms']:.1f} ms, "
          f"p99 {result['single_p99_ms']:.1f} ms over {result['single_sends']} sends   "
          f"target p99 <= 50 ms")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
