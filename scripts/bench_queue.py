"""Workers on the shared queue: pages per second and peak memory with 1, 2 and 4 worker
processes, and what it would take of Redis (and of the one seal lock) at 100 workers.

    .venv/bin/python scripts/bench_queue.py [--pages 10000] [--hosts 20] [--latency 0.03]
                                            [--workers 1,2,4] [--batch 50] [--store]
    .venv/bin/python scripts/bench_queue.py --store --grow 200,2000 [--window 50]

Each run: a fresh redis-server (append-only, fsync always, as the tests run it), a fresh
archive with a key per worker, ``pages`` URLs over ``hosts`` loopback hosts (each its
own process, each answering after ``latency`` seconds) queued with ``custody archive
--queue``, then the workers started together; the time is from their start until the
queue's status shows every URL finished. Redis's own count of commands gives the
operations per page; the workers' summary lines give the time under the seal lock.
With ``--store`` the archive is kept in an S3-compatible store (moto on loopback, from
``./scripts/setup --test``): the first worker sends the archive there, the others start
from empty folders, and the store's requests per seal are counted too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from custody.testing.bench import memory_kb
from custody.testing.hosts import served_hosts
from custody.testing.redis_server import RedisServer
from custody.testing.s3_server import S3Server

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"


def custody(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "custody"), *args], env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"custody {args[0]} failed: {done.stderr[-2000:]}")
    return done.stdout


def commands(client: object) -> int:
    info = client.info("stats")  # type: ignore[attr-defined]
    return int(info["total_commands_processed"])


def one_run(workers: int, bases: list[str], args: argparse.Namespace) -> dict[str, float]:
    from custody.queue.connection import connect

    per_host = args.pages // len(bases)
    urls = [f"{base}/p{i}.html" for i in range(per_host) for base in bases]
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as redis, \
            contextlib.ExitStack() as stack:
        env = dict(os.environ, CUSTODY_ROOT=f"{tmp}/archive", XDG_CONFIG_HOME=f"{tmp}/config",
                   CUSTODY_KEY=f"{tmp}/keys/coord", XDG_CACHE_HOME=f"{tmp}/cache")
        store: list[str] = []
        if args.store:
            s3 = S3Server(Path(tmp) / "s3").start()
            stack.callback(s3.stop)
            s3.bucket("bench")
            env.update(s3.env())
            store = ["--store", "s3://bench/run"]
        env.pop("CUSTODY_KEY_PASSPHRASE", None)
        custody(env, "init", "--no-tsa", "--operator", "coordinator")
        names = [f"w{i}" for i in range(1, workers + 1)]
        for name in names:
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            f"{tmp}/keys/{name}"], check=True)
            custody(env, "key", "add", f"{tmp}/keys/{name}.pub", "--operator", name)
        Path(tmp, "urls.txt").write_text("\n".join(urls) + "\n")
        custody(env, "archive", "--queue", redis.url, "--from", f"{tmp}/urls.txt",
                "--batch", str(args.batch), "--no-requisites",
                "--concurrency", str(args.concurrency))
        client = connect(redis.url)
        before = commands(client)
        start = time.perf_counter()

        def root_of(name: str) -> list[str]:  # with a store, only w1 starts from the archive
            return ["--root", f"{tmp}/{name}"] if store and name != "w1" else []

        procs = [subprocess.Popen([str(BIN / "custody"), "worker", "--queue", redis.url,
                                   "--name", name, "--exit-when-idle", "2", *store,
                                   *root_of(name)],
                                  env={**env, "CUSTODY_KEY": f"{tmp}/keys/{name}"},
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for name in names]
        peaks = [0] * workers
        finished = threading.Event()

        def sample() -> None:
            while not finished.is_set():
                for i, proc in enumerate(procs):
                    peaks[i] = max(peaks[i], memory_kb(proc.pid)[0])
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        while True:
            status = json.loads(custody(env, "queue", "status", "--queue", redis.url,
                                        "--json"))["totals"]
            if status["done"] + status["failed"] >= len(urls):
                break
            if all(p.poll() is not None for p in procs):
                raise SystemExit(f"the workers ended with URLs left: {status}")
            time.sleep(0.2)
        elapsed = time.perf_counter() - start
        ops = commands(client) - before
        outputs = [p.communicate()[0] for p in procs]
        finished.set()
        sampler.join()
        held = sum(float(m.group(1)) for out in outputs
                   for m in re.finditer(r"held \d+ times for ([\d.]+) s", out))
        seals = sum(int(m.group(1)) for out in outputs
                    for m in re.finditer(r"held (\d+) times", out))
        calls = sum(int(m.group(1)) for out in outputs
                    for m in re.finditer(r"(\d+) store requests", out))
        read = sum(int(m.group(1)) for out in outputs
                   for m in re.finditer(r"(\d+) KB read", out))
        copy = ["--root", f"{tmp}/copy"] if store else []  # a fresh copy of the store
        verify = subprocess.run([str(BIN / "custody"), "verify", *store, *copy], env=env,
                                capture_output=True, text=True)
        return {"workers": workers, "seconds": elapsed, "pages_s": len(urls) / elapsed,
                "rss_mb": max(peaks) / 1024, "ops_page": ops / len(urls),
                "seal_s": held / max(seals, 1), "seals": seals, "failed": status["failed"],
                "verify": verify.returncode, "store_seal": calls / max(seals, 1),
                "store_kb": read / max(seals, 1)}


def grow_run(bases: list[str], args: argparse.Namespace) -> None:
    from custody.store.s3 import Store

    sizes = [int(n) for n in args.grow.split(",")]
    urls = iter(f"{base}/p{i}.html" for i in range(args.pages // len(bases)) for base in bases)
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as redis, \
            contextlib.ExitStack() as stack:
        env = dict(os.environ, CUSTODY_ROOT=f"{tmp}/archive", XDG_CONFIG_HOME=f"{tmp}/config",
                   CUSTODY_KEY=f"{tmp}/keys/coord", XDG_CACHE_HOME=f"{tmp}/cache")
        env.pop("CUSTODY_KEY_PASSPHRASE", None)
        s3 = S3Server(Path(tmp) / "s3").start()
        stack.callback(s3.stop)
        s3.bucket("bench")
        env.update(s3.env())
        os.environ.update(s3.env())
        store = Store("s3://bench/run", patience=30)
        custody(env, "init", "--no-tsa", "--operator", "coordinator")
        for name in ("w1", "w2"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            f"{tmp}/keys/{name}"], check=True)
            custody(env, "key", "add", f"{tmp}/keys/{name}.pub", "--operator", name)

        def jobs(count: int) -> list[str]:
            """Run ``count`` one-page jobs through both workers; their summary lines."""
            Path(tmp, "urls.txt").write_text("".join(next(urls) + "\n" for _ in range(count)))
            custody(env, "archive", "--queue", redis.url, "--from", f"{tmp}/urls.txt",
                    "--batch", "1", "--no-requisites")
            procs = [subprocess.Popen(
                [str(BIN / "custody"), "worker", "--queue", redis.url, "--name", name,
                 "--exit-when-idle", "2", "--store", "s3://bench/run",
                 *(["--root", f"{tmp}/{name}"] if name != "w1" else [])],
                env={**env, "CUSTODY_KEY": f"{tmp}/keys/{name}"}, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True) for name in ("w1", "w2")]
            outs = [p.communicate()[0] for p in procs]
            if any(p.returncode for p in procs):
                raise SystemExit("a worker failed: " + "\n".join(o[-2000:] for o in outs))
            return outs

        def captured_bytes() -> int:  # the captures' own files in the store
            return sum(size for name, _, size in store.list()
                       if name.startswith(("archive/", "manifests/")) and
                       not name.startswith("manifests/ledger/"))

        print(f"{'captures':>8} {'seals':>6} {'KB sent/seal':>12} {'of it captures':>14} "
              f"{'KB read/seal':>12} {'S3 req/seal':>11} {'seal s':>7}")
        held = 0
        for size in sizes:
            if size > held:
                jobs(size - held)
            before = captured_bytes()
            outs = jobs(args.window)
            held = size + args.window

            def total(pattern: str, outs: list[str] = outs) -> float:
                return sum(float(m.group(1)) for out in outs for m in re.finditer(pattern, out))

            per = args.window
            sent, read = total(r"(\d+) KB sent") / per, total(r"(\d+) KB read") / per
            requests = total(r"(\d+) store requests") / per
            seal_s = total(r"held \d+ times for ([\d.]+) s") / total(r"held (\d+) times")
            own = (captured_bytes() - before) / 1024 / per
            print(f"{size:>8} {per:>6} {sent:>12.1f} {own:>14.1f} {read:>12.1f} "
                  f"{requests:>11.1f} {seal_s:>7.3f}", flush=True)


def redis_capacity(seconds: float = 3.0, clients: int = 8) -> float:
    """Commands per second this machine's redis-server answers for the queue's costliest
    call, the host gate's script, from several processes at once."""
    code = (
        "import sys,time\n"
        "from custody.queue.connection import connect\n"
        "from custody.queue.gate import _ENTER\n"
        "c=connect(sys.argv[1]); s=c.register_script(_ENTER); n=0\n"
        "end=time.time()+float(sys.argv[2])\n"
        "k=['custody:gate:h:slots','custody:gate:h:next','custody:gate:h:rules']\n"
        "p=c.pipeline(transaction=False)\n"
        "while time.time()<end:\n"
        "    for _ in range(50): s(keys=k,args=[1,'m',10**9],client=p); p.zrem(k[0],'m')\n"
        "    p.execute(); n+=100\n"
        "print(n)\n")
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as redis:
        procs = [subprocess.Popen([sys.executable, "-c", code, redis.url, str(seconds)],
                                  stdout=subprocess.PIPE, text=True) for _ in range(clients)]
        return sum(int(p.communicate()[0]) for p in procs) / seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=10000)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--store", action="store_true",
                        help="keep the archive in an S3-compatible store (moto on loopback)")
    parser.add_argument("--grow", help="with --store: sizes to grow one store to, e.g. "
                        "200,2000, a window of jobs timed at each")
    parser.add_argument("--window", type=int, default=50)
    args = parser.parse_args()
    if args.grow:
        sizes = [int(n) for n in args.grow.split(",")]
        print(f"{os.cpu_count()} cores; one store grown by 2 workers, one page a job, to "
              f"{', '.join(map(str, sizes))} captures; {args.window} jobs timed at each")
        need = max(sizes) + len(sizes) * args.window
        with served_hosts(args.hosts, latency=args.latency, pages=need) as bases:
            grow_run(bases, args)
        return 0
    counts = [int(n) for n in args.workers.split(",")]
    print(f"{os.cpu_count()} cores; {args.pages} pages over {args.hosts} hosts at "
          f"{args.latency * 1000:.0f} ms, {args.batch} URLs a job, concurrency "
          f"{args.concurrency} per host" + (", the archive in S3 (moto)" if args.store else ""))
    print(f"{'workers':>7} {'seconds':>8} {'pages/s':>8} {'vs 1':>5} {'RSS MB':>7} "
          f"{'ops/page':>8} {'seal s':>7} {'verify':>6}" +
          (" S3 req/seal KB read/seal" if args.store else ""))
    results = []
    with served_hosts(args.hosts, latency=args.latency, pages=args.pages) as bases:
        for count in counts:
            r = one_run(count, bases, args)
            results.append(r)
            base = results[0]["pages_s"]
            print(f"{count:>7} {r['seconds']:>8.1f} {r['pages_s']:>8.1f} "
                  f"{r['pages_s'] / base:>5.2f} {r['rss_mb']:>7.0f} {r['ops_page']:>8.1f} "
                  f"{r['seal_s']:>7.3f} {r['verify']:>6}" +
                  (f" {r['store_seal']:>11.1f} {r['store_kb']:>12.1f}" if args.store else ""),
                  flush=True)
    capacity = redis_capacity()
    best = max(results, key=lambda r: r["workers"])
    per_worker = best["pages_s"] / best["workers"]
    need = 100 * per_worker * best["ops_page"]
    seal_limit = args.batch / best["seal_s"] if best["seal_s"] else float("inf")
    print(f"redis-server here: {capacity:,.0f} commands/s (the gate's script and its release, "
          "8 clients)")
    print(f"100 workers at {per_worker:.1f} pages/s each: {100 * per_worker:,.0f} pages/s, "
          f"{need:,.0f} commands/s = {100 * need / capacity:.0f}% of that; Redis saturates "
          f"near {capacity / (per_worker * best['ops_page']):,.0f} workers")
    print(f"the seal lock: {best['seal_s'] * 1000:.0f} ms a seal, one at a time: at most "
          f"{1 / best['seal_s']:.1f} captures/s = {seal_limit:,.0f} pages/s at {args.batch} "
          f"URLs a job, i.e. {seal_limit / per_worker:,.0f} workers")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
