"""Gateway benchmark: logged key lookups and 100-row pages against the same server's /healthz.

Builds a small province in a fresh SQLite data dir (a provider and a consumer department,
a conditional resource of N people with personal fields, loaded; a grant with masking;
a system token), starts ``yiwang serve --workers W`` for W in 1 and 4, and drives it with
client processes (one keep-alive connection each, closed loop) for a few seconds per
case. Prints one JSON object: per worker count and case, calls/s, p50 and p99 latency in
ms, and the ratio of each gateway case to /healthz measured in the same run; then the
quota check: a grant with a daily quota of 1,000 hit with 1,100 concurrent calls through
4 workers must answer exactly 1,000 × 200 and 100 × 429.

Then, per worker count, key lookups again at half the rate just measured (each connection
paced), for the latency aim.

Aim: one worker serves >= 1,500 logged key lookups/s, >= 40% of its own /healthz rate, with
p99 <= 20 ms at half that load; ``aims_1_worker`` says which are met.

With ``--wrk`` (when the ``wrk`` load generator is installed: ``apt-get install wrk``) the
load comes from wrk (a Lua script takes the keys in turn and paces the half-load run) instead
of Python client processes, which on a 2-core machine otherwise compete with the server for
the CPU.

Usage: .venv/bin/python bench/gateway.py [--rows N] [--seconds S] [--clients C] [--wrk]
       [--database-url postgresql://...]  (its public schema is dropped: give it a database of its own)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
YIWANG = ROOT / ".venv" / "bin" / "yiwang"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(data_dir: Path, rows: int, database_url: str | None = None) -> dict[str, Any]:
    """The province, the data and two grants (plain, and one with a daily quota of 1,000)."""
    os.environ["YIWANG_DATA_DIR"] = str(data_dir)
    from tests.sharing.conftest import PEOPLE_FIELDS, people_csv
    from yiwang.catalog import data, service
    from yiwang.config import Settings
    from yiwang.identity import service as identity
    from yiwang.identity.authz import Actor
    from yiwang.runtime import Platform, upgrade_database
    from yiwang.sharing import service as sharing
    from yiwang.sharing.schemas import DecisionIn, RequestIn

    settings = Settings(data_dir=data_dir, database_url=database_url)
    if database_url:
        from tests.conftest import _reset_postgres

        _reset_postgres(database_url)
    upgrade_database(settings.resolved_database_url())
    platform = Platform.from_settings(settings)
    system = Actor.system()
    with platform.session_scope() as db:
        for code, name, parent, kind in [
            ("440000", "广东省", None, "region"),
            ("440100", "广州市", "440000", "region"),
            ("440100-rsj", "广州市人力资源和社会保障局", "440100", "department"),
            ("440100-amr", "广州市市场监督管理局", "440100", "department"),
        ]:
            identity.create_org(db, system, code=code, name=name, parent=parent, kind=kind)
        for user, org in [("provider", "440100-rsj"), ("consumer", "440100-amr")]:
            identity.create_user(
                db, system, username=user, org_code=org, roles=["staff"], password="Bench!2026pw"
            )
        item = {
            "code": "R-BENCH",
            "name": "养老保险参保信息",
            "provider": "440100-rsj",
            "summary": "基准测试",
            "category": "基础信息资源/自然人",
            "themes": ["社会保障"],
            "keywords": ["参保"],
            "format": "table",
            "share_type": "conditional",
            "share_condition": "核验用途",
            "share_method": "api",
            "open_type": "none",
            "update_cycle": "daily",
            "level": "important",
            "released": "2024-01-01",
            "fields": PEOPLE_FIELDS,
        }
        service.import_resources(db, system, [item], publish=True)
    with platform.session_scope() as db:
        data.load_data(db, system, "R-BENCH", people_csv(rows), "people.csv", "replace")
    tokens = {}
    with platform.session_scope() as db:
        for user in ("consumer", "provider"):
            tokens[user] = identity.create_token(db, system, username=user, name="bench")[1]
        tokens["quota"] = identity.create_token(db, system, username="consumer", name="quota")[1]
    for system_name, quota in (("bench", None), ("quota", 1000)):
        with platform.session_scope() as db:
            consumer = _actor(db, "consumer")
            req = sharing.submit_request(
                db,
                consumer,
                RequestIn(
                    resource="R-BENCH",
                    fields=["id_number", "name", "phone", "amount"],
                    purpose="基准",
                    basis="基准",
                    valid_until=date.today() + timedelta(days=30),
                    system=system_name,
                ),
            )
            sharing.decide_request(
                db, _actor(db, "provider"), req.id, DecisionIn(approve=True, daily_quota=quota)
            )
    platform.close()
    from tests.sharing.conftest import person

    return {
        "token": tokens["consumer"],
        "quota_token": tokens["quota"],
        "keys": [person(i)["id_number"] for i in range(1, rows + 1, max(1, rows // 500))],
    }


def _actor(db: Any, username: str) -> Any:
    from yiwang.identity import repository
    from yiwang.identity import service as identity

    user = repository.user_by_username(db, username)
    return identity.actor_for_user(user)


def serve(
    data_dir: Path, workers: int, database_url: str | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "YIWANG_DATA_DIR": str(data_dir)}
    if database_url:
        env["YIWANG_DATABASE_URL"] = database_url
    proc = subprocess.Popen(
        [str(YIWANG), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    import httpx

    for _ in range(200):
        try:
            if httpx.get(url + "/healthz", timeout=0.5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def _client(url: str, paths: list[str], token: str, seconds: float, interval: float, out: Any) -> None:
    import httpx

    latencies = []
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        end = time.perf_counter() + seconds
        i = 0
        next_at = time.perf_counter()
        while time.perf_counter() < end:
            if interval:
                next_at += interval
            started = time.perf_counter()
            status = client.get(paths[i % len(paths)]).status_code
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            i += 1
            if interval and next_at > time.perf_counter():
                time.sleep(next_at - time.perf_counter())
    out.put((latencies, statuses))


def drive(
    url: str, paths: list[str], token: str, seconds: float, clients: int, rate: float | None = None
) -> dict[str, Any]:
    """Python client processes, one keep-alive connection each; paced to ``rate`` calls/s in all
    when given, otherwise as fast as answers come."""
    queue: Any = mp.Queue()
    interval = clients / rate if rate else 0.0
    procs = [
        mp.Process(target=_client, args=(url, paths, token, seconds, interval, queue)) for _ in range(clients)
    ]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for r, _ in results for x in r)
    statuses: dict[str, int] = {}
    for _, s in results:
        for k, v in s.items():
            statuses[str(k)] = statuses.get(str(k), 0) + v
    return {
        "calls_per_s": round(len(latencies) / seconds),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "statuses": statuses,
    }


WRK_SCRIPT = """
paths = {%(paths)s}
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, paths[(n %% #paths) + 1])
end
%(pacing)s
"""


def drive_wrk(
    url: str, paths: list[str], token: str, seconds: float, clients: int, rate: float | None = None
) -> dict[str, Any]:
    """The same figures from wrk (a C load generator): calls/s and the 50th and 99th percentiles.
    The paths are taken in turn (a Lua script); with ``rate``, each connection paces its requests
    so that together they ask about ``rate`` calls/s (the half-load case), instead of asking as
    fast as answers come."""
    pacing = ""
    if rate:
        # Requests at random (exponential) intervals, as independent callers make them: with a
        # fixed delay the connections fall into step and arrive in bursts. wrk waits the delay
        # after each answer, so the rate reached is a little under the one asked; with many
        # connections each waiting long, the answer time matters little.
        clients = max(clients, 64)
        mean = clients * 1000.0 / rate
        pacing = (
            "math.randomseed(os.time())\n"
            f"delay = function() return -{mean:.3f} * math.log(1 - math.random()) end"
        )
    quoted = ", ".join(json.dumps(p) for p in paths)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"paths": quoted, "pacing": pacing})
    try:
        output = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{clients}",
                f"-d{max(1, int(seconds))}s",
                "--latency",
                "-s",
                script.name,
                "-H",
                f"Authorization: Bearer {token}",
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)

    def _ms(label: str) -> float:
        line = next(x for x in output.splitlines() if x.strip().startswith(label))
        value = line.split()[-1]
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
        unit = next(u for u in ("us", "ms", "s") if value.endswith(u))
        return round(float(value[: -len(unit)]) * scale[unit], 2)

    rate_line = next(x for x in output.splitlines() if x.startswith("Requests/sec"))
    non_2xx = next((x for x in output.splitlines() if "Non-2xx" in x), "")
    return {
        "calls_per_s": round(float(rate_line.split()[-1])),
        "p50_ms": _ms("50%"),
        "p99_ms": _ms("99%"),
        "non_2xx": int(non_2xx.split()[-1]) if non_2xx else 0,
    }


def _quota_call(url: str, token: str, n: int, out: Any) -> None:
    import httpx

    codes: dict[int, int] = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for _ in range(n):
            code = client.get("/gateway/v1/resources/R-BENCH/records?limit=1").status_code
            codes[code] = codes.get(code, 0) + 1
    out.put(codes)


def quota_check(url: str, token: str) -> dict[str, int]:
    queue: Any = mp.Queue()
    procs = [mp.Process(target=_quota_call, args=(url, token, 110, queue)) for _ in range(10)]
    for p in procs:
        p.start()
    total: dict[str, int] = {}
    for _ in procs:
        for k, v in queue.get().items():
            total[str(k)] = total.get(str(k), 0) + v
    for p in procs:
        p.join()
    return total


AIM_LOOKUPS_PER_S = 1500
AIM_RATIO = 0.40
AIM_P99_MS = 20.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--wrk", action="store_true", help="drive the load with wrk")
    parser.add_argument(
        "--database-url", help="PostgreSQL instead of SQLite (its public schema is dropped: give it its own)"
    )
    args = parser.parse_args()
    if args.wrk and shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    report: dict[str, Any] = {
        "database": "postgresql" if args.database_url else "sqlite",
        "rows": args.rows,
        "clients": args.clients,
        "seconds": args.seconds,
        "load": "wrk" if args.wrk else "python",
    }
    load = drive_wrk if args.wrk else drive
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        built = build(data_dir, args.rows, args.database_url)
        lookups = [f"/gateway/v1/resources/R-BENCH/records?id_number={k}" for k in built["keys"]]
        pages = ["/gateway/v1/resources/R-BENCH/records?limit=100"]
        for workers in (1, 4):
            proc, url = serve(data_dir, workers, args.database_url)
            try:
                health = load(url, ["/healthz"], built["token"], args.seconds, args.clients)
                lookup = load(url, lookups, built["token"], args.seconds, args.clients)
                page = load(url, pages, built["token"], args.seconds, args.clients)
                case: dict[str, Any] = {"healthz": health, "key_lookup": lookup, "page_100": page}
                case["key_lookup_vs_healthz"] = round(lookup["calls_per_s"] / health["calls_per_s"], 3)
                case["page_100_vs_healthz"] = round(page["calls_per_s"] / health["calls_per_s"], 3)
                # The latency aim is at half the load this server can take: ask at that rate.
                half = lookup["calls_per_s"] / 2
                case["key_lookup_at_half_load"] = {
                    "asked_per_s": round(half),
                    **load(url, lookups, built["token"], args.seconds, args.clients, rate=half),
                }
                if workers == 4:
                    report["quota_1000_with_4_workers"] = quota_check(url, built["quota_token"])
            finally:
                proc.terminate()
                proc.wait(10)
            report[f"workers_{workers}"] = case
    one = report["workers_1"]
    report["aims_1_worker"] = {
        f"key_lookups_per_s >= {AIM_LOOKUPS_PER_S}": one["key_lookup"]["calls_per_s"] >= AIM_LOOKUPS_PER_S,
        f"key_lookup_vs_healthz >= {AIM_RATIO}": one["key_lookup_vs_healthz"] >= AIM_RATIO,
        f"p99 at half load <= {AIM_P99_MS} ms": one["key_lookup_at_half_load"]["p99_ms"] <= AIM_P99_MS,
    }
    print(json.dumps(report, ensure_ascii=False, indent=1))  # noqa: T201


if __name__ == "__main__":
    main()
