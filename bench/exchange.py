"""Exchange benchmark: orders settled per second, and delivery calls per second with the
contract's policy check against the sharing gateway without it.

Builds a small market in a fresh data dir (SQLite by default; ``--database-url`` for
PostgreSQL, whose public schema is dropped and recreated: give it a database of its own):
the exchange and a base, a seller holding a certificate issued by the registry, a listing of
``--rows`` records of its own data (published after review), a buyer with money in its
account; and, for the comparison, a catalog resource with the very same fields and rows
shared with a department's system under a grant. Then, in one run:

1. orders: ``--orders`` contracts, each through the service-level path the API takes, one
   committed transaction per step: ``place_order`` at list terms with ``pay`` (finalize and
   escrow), then ``accept_delivery`` (settlement with the exchange's and the node's fees).
   The baseline, interleaved with it in five rounds: a bare two-leg ``ledger.post`` committed on its own.
   The trial balance (``ledger.check_books``) must come out balanced at the end.
2. delivery: ``--calls`` key lookups each (a ``uscc`` over the rows), in the same process
   through the ASGI app (httpx's ASGITransport), one at a time unless ``--concurrency``,
   interleaved in five rounds: the exchange's
   ``GET /gateway/v1/contracts/{id}/records`` with the contract key (every call re-checks
   the contract and its ODRL policy, counts the use and logs it), the sharing gateway's
   ``GET /gateway/v1/resources/{code}/records`` with the system's token, and ``/healthz``
   as the floor. ``statements_per_call`` counts the SQL statements each call sends (a
   SQLAlchemy event listener; SQLite's ``BEGIN`` left out so that both databases compare);
   ``--statements`` also lists the SQL of one order and of one call of each gateway.

Prints one JSON object with the rates, p50/p99 latencies in ms, and the ratios measured in
the same run (these machines are noisy). With ``--wrk`` (where ``wrk`` is installed:
``apt-get install wrk``) the delivery cases are served by ``yiwang serve`` and driven by wrk
(a Lua script cycles the lookups and sends the Authorization header) instead.

Usage: .venv/bin/python bench/exchange.py [--quick] [--rows N] [--orders N] [--calls N]
       [--concurrency C] [--database-url postgresql://...] [--statements]
       [--wrk [--workers W] [--clients C] [--seconds S]]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, event, select, text  # noqa: E402

from yiwang.catalog import data as catalog_data  # noqa: E402
from yiwang.catalog import service as catalog  # noqa: E402
from yiwang.config import Settings  # noqa: E402
from yiwang.exchange import service as exchange  # noqa: E402
from yiwang.exchange.models import Contract  # noqa: E402
from yiwang.exchange.schemas import ListingIn, MemberIn, NodeIn, OrderIn, ReviewIn  # noqa: E402
from yiwang.identity import repository  # noqa: E402
from yiwang.identity import service as identity  # noqa: E402
from yiwang.identity.authz import Actor  # noqa: E402
from yiwang.kit import ledger  # noqa: E402
from yiwang.kit.validators import make_uscc_from  # noqa: E402
from yiwang.registry import service as registry  # noqa: E402
from yiwang.registry.schemas import ApplicationIn, ReportIn  # noqa: E402
from yiwang.registry.schemas import DecisionIn as RegistryDecision  # noqa: E402
from yiwang.runtime import Platform, upgrade_database  # noqa: E402
from yiwang.sharing import service as sharing  # noqa: E402
from yiwang.sharing.schemas import DecisionIn, RequestIn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
YIWANG = ROOT / ".venv" / "bin" / "yiwang"
PASSWORD = "Bench!2026pw"
SELLER = make_uscc_from("9", "1", "440100", "MA5D12345")
ASSESSOR = make_uscc_from("9", "1", "440100", "MA5D45678")
BUYER = make_uscc_from("9", "1", "440100", "MA5E10001")
FS_BASE = make_uscc_from("9", "1", "440600", "MA5E10003")
RESOURCE = "R-EX-BENCH"
PRICE = 100_000  # fen
FIELDS: list[dict[str, Any]] = [
    {"name": "uscc", "title": "统一社会信用代码", "format": "uscc", "key": True},
    {"name": "industry", "title": "行业"},
    {"name": "kwh", "title": "月用电量", "type": "number"},
    {"name": "contact", "title": "联系人", "pi": "name"},
]
INDUSTRIES = ["制造业", "批发零售", "信息技术"]
PURPOSE, REGION = "信贷风控", "440106"
CASES = ("healthz", "sharing_gateway", "exchange_delivery")
ROUNDS = 5  # measurements interleaved so that the machine's noise hits every case alike


def uscc(i: int) -> str:
    return make_uscc_from("9", "1", "440100", f"MA5F{i:05d}")


def csv_rows(n: int) -> bytes:
    lines = ["uscc,industry,kwh,contact"]
    lines += [f"{uscc(i)},{INDUSTRIES[i % 3]},{1000 + i * 10},张{'三四五'[i % 3]}" for i in range(n)]
    return "\n".join(lines).encode()


def _actor(platform: Platform, username: str) -> Actor:
    with platform.session_scope(read_only=True) as db:
        user = repository.user_by_username(db, username)
        assert user is not None
        return identity.actor_for_user(user)


# ------------------------------------------------------------------ counting statements


class Statements:
    """Counts the SQL statements sent while ``counting`` (transaction control left out: BEGIN,
    COMMIT, ROLLBACK, PRAGMA), and keeps their text while ``kept`` is a list.

    Every engine is watched (the platform has several: the pool, the event loop's writers, the
    kept read connections). On SQLite the count comes from SQLite itself (a trace callback on
    every connection), so statements sent on the driver's own cursor (``kit.db.FastSelect``)
    count too; elsewhere from SQLAlchemy's ``before_cursor_execute``. Made before the platform,
    so that every connection is traced from its start."""

    SKIPPED = ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")

    def __init__(self) -> None:
        self.count = 0
        self.counting = False
        self.kept: list[str] | None = None
        event.listen(Engine, "connect", self._trace)
        event.listen(Engine, "before_cursor_execute", self._seen_elsewhere)

    def _trace(self, dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(self._seen)

    def _seen_elsewhere(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if conn.dialect.name != "sqlite":
            self._seen(statement)

    def _seen(self, statement: str) -> None:
        if self.counting and not statement.lstrip().upper().startswith(self.SKIPPED):
            self.count += 1
            if self.kept is not None:
                self.kept.append(" ".join(statement.split())[:110])

    @contextmanager
    def measure(self) -> Iterator[None]:
        self.counting = True
        try:
            yield
        finally:
            self.counting = False


# ------------------------------------------------------------------ the market


@dataclass
class Built:
    platform: Platform
    listing: int
    contract: int  # the API contract the delivery calls use
    key: str  # its delivery key
    token: str  # the department system's token for the sharing gateway
    keys: list[str]  # uscc values to look up


def _reset_postgres(url: str) -> None:
    from yiwang.kit.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def build(settings: Settings, rows: int, orders: int) -> Built:
    url = settings.resolved_database_url()
    if url.startswith("postgresql"):
        _reset_postgres(url)
    upgrade_database(url)
    platform = Platform.from_settings(settings)
    system = Actor.system()
    with platform.session_scope() as db:
        for code, name, parent, kind in [
            ("440000", "广东省", None, "region"),
            ("440100", "广州市", "440000", "region"),
            ("440000-zsj", "广东省政务服务和数据管理局", "440000", "department"),
            ("440100-rsj", "广州市人力资源和社会保障局", "440100", "department"),
            ("440100-amr", "广州市市场监督管理局", "440100", "department"),
            (SELLER, "广州电力数据科技有限公司", "440100", "enterprise"),
            (ASSESSOR, "广州数据合规评估有限公司", "440100", "enterprise"),
            (BUYER, "广州某金融科技有限公司", "440100", "enterprise"),
            (FS_BASE, "佛山数据交易服务基地运营有限公司", "440100", "enterprise"),
        ]:
            identity.create_org(db, system, code=code, name=name, parent=parent, kind=kind)
        for username, org, role in [
            ("operator", "440000-zsj", "operator"),
            ("provider", "440100-rsj", "staff"),
            ("consumer", "440100-amr", "staff"),
            ("holder", SELLER, "enterprise"),
            ("assessor", ASSESSOR, "assessor"),
            ("buyer", BUYER, "enterprise"),
        ]:
            identity.create_user(db, system, username=username, org_code=org, roles=[role], password=PASSWORD)
    operator, holder, buyer = (_actor(platform, u) for u in ("operator", "holder", "buyer"))
    number = _certificate(platform, operator, holder, _actor(platform, "assessor"))
    with platform.session_scope() as db:
        exchange.create_node(
            db,
            operator,
            NodeIn(
                code="GZ-EX", name="广州数据交易所", kind="exchange", region="440100", operator="440000-zsj"
            ),
        )
        exchange.create_node(
            db,
            operator,
            NodeIn(
                code="FS-BASE",
                name="佛山服务基地",
                kind="base",
                region="440600",
                operator=FS_BASE,
                fee_bp=100,
            ),
        )
        exchange.admit_member(db, operator, MemberIn(org=SELLER, node="FS-BASE", roles=["seller"]))
        exchange.admit_member(db, operator, MemberIn(org=BUYER, node="GZ-EX", roles=["buyer"]))
        exchange.deposit(db, operator, BUYER, PRICE * (orders + 10))  # + the warm-up's and the API contract
    listing = ListingIn(
        node="FS-BASE",
        certificate=number,
        name="工商业用户月度用电指数",
        description="广州市工商业用户的月度用电量，按统一社会信用代码查询",
        scenario="企业信用评估",
        price_model="one_time",
        price=PRICE,
        delivery="api",
        fields=FIELDS,
        policy={"purposes": [PURPOSE, "企业信用评估"], "regions": ["440100"], "validity_days": 365},
    )
    with platform.session_scope() as db:
        listing_id = exchange.create_listing(db, holder, listing).id
        exchange.load_listing_data(db, holder, listing_id, io.BytesIO(csv_rows(rows)), "data.csv")
        exchange.submit_listing(db, holder, listing_id)
        exchange.review_listing(db, operator, listing_id, ReviewIn(approve=True))
    with platform.session_scope() as db:
        contract_id = exchange.place_order(
            db, buyer, OrderIn(listing=listing_id, purpose=PURPOSE, region=REGION)
        ).id
    with platform.session_scope() as db:
        key = exchange.pay(db, buyer, contract_id).key
        assert key is not None
    token = _shared_resource(platform, rows)
    step = max(1, rows // 500)
    return Built(platform, listing_id, contract_id, key, token, [uscc(i) for i in range(0, rows, step)])


def _certificate(platform: Platform, operator: Actor, holder: Actor, assessor: Actor) -> str:
    """The seller's asset walked through registration to its certificate (as the registry's tests do)."""
    today = date(2025, 9, 29)
    application = ApplicationIn(
        name="工商业用户用电数据集",
        kind="data_resource",
        description="2020年以来广州市工商业用户的月度用电量（脱敏）",
        rights=["holding", "processing"],
        source="自有电力营销系统",
        collection_method="系统自动采集",
        records=1_200_000,
        size_bytes=3_000_000_000,
        scenarios=["企业信用评估", "能耗分析"],
        fingerprint="0" * 64,
    )
    with platform.session_scope() as db:
        app = registry.submit_application(db, holder, application, today=today)
        registry.accept_application(db, operator, app.id, RegistryDecision(approve=True))
        registry.attach_report(db, assessor, app.id, ReportIn(opinion="pass", report="来源合法"))
        registry.decide_compliance(db, operator, app.id, RegistryDecision(approve=True), today=today)
        assert app.notice_end is not None
        issued = registry.issue_due(db, operator, platform.keyring, today=app.notice_end.replace(day=28))
        return issued[0].number


def _shared_resource(platform: Platform, rows: int) -> str:
    """The same fields and rows as a catalog resource, granted to a department's system."""
    system = Actor.system()
    item = {
        "code": RESOURCE,
        "name": "工商业用户月度用电量",
        "provider": "440100-rsj",
        "summary": "基准测试",
        "category": "基础信息资源/法人",
        "themes": ["能源"],
        "keywords": ["用电"],
        "format": "table",
        "share_type": "conditional",
        "share_condition": "核验用途",
        "share_method": "api",
        "open_type": "none",
        "update_cycle": "monthly",
        "level": "important",
        "released": "2024-01-01",
        "fields": FIELDS,
    }
    with platform.session_scope() as db:
        catalog.import_resources(db, system, [item], publish=True)
    with platform.session_scope() as db:
        catalog_data.load_data(db, system, RESOURCE, io.BytesIO(csv_rows(rows)), "data.csv", "replace")
    with platform.session_scope() as db:
        token = identity.create_token(db, system, username="consumer", name="bench")[1]
    with platform.session_scope() as db:
        request = sharing.submit_request(
            db,
            _actor(platform, "consumer"),
            RequestIn(
                resource=RESOURCE,
                fields=[f["name"] for f in FIELDS],
                purpose="基准",
                basis="基准",
                valid_until=date.today() + timedelta(days=30),
                system="bench",
            ),
        )
        sharing.decide_request(db, _actor(platform, "provider"), request.id, DecisionIn(approve=True))
    return token


# ------------------------------------------------------------------ 1. orders settled


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, 2)


def bench_orders(built: Built, orders: int, statements: Statements, show: bool) -> dict[str, Any]:
    platform = built.platform
    buyer = _actor(platform, "buyer")
    with platform.session_scope() as db:
        ledger.open_account(db, "bench:a", "基准账户 A", kind="clearing", may_go_negative=True)
        ledger.open_account(db, "bench:b", "基准账户 B", kind="member")
    order = OrderIn(listing=built.listing, purpose=PURPOSE, region=REGION, pay=True)
    place_s: list[float] = []
    accept_s: list[float] = []
    transfer_s: list[float] = []
    counts = {"place_and_pay": 0, "accept": 0, "ledger_transfer": 0}
    ids: list[int] = []

    def transfer_one() -> None:
        started = time.perf_counter()
        with statements.measure(), platform.session_scope() as db:
            ledger.post(
                db, kind="bench", reference="bench", actor="bench", legs=[("bench:a", -1), ("bench:b", 1)]
            )
        transfer_s.append(time.perf_counter() - started)

    def settle() -> None:
        start_count = statements.count
        started = time.perf_counter()
        with statements.measure(), platform.session_scope() as db:
            contract_id = exchange.place_order(db, buyer, order).id
        middle, middle_count = time.perf_counter(), statements.count
        with statements.measure(), platform.session_scope() as db:
            exchange.accept_delivery(db, buyer, contract_id)
        place_s.append(middle - started)
        accept_s.append(time.perf_counter() - middle)
        counts["place_and_pay"] += middle_count - start_count
        counts["accept"] += statements.count - middle_count
        ids.append(contract_id)

    # Warm up (first statements compiled, caches filled), then interleaved rounds.
    settle()
    transfer_one()
    listings: dict[str, list[str]] = {}
    if show:
        statements.kept = []
        with statements.measure(), platform.session_scope() as db:
            contract_id = exchange.place_order(db, buyer, order).id
        listings["place_and_pay"], statements.kept = statements.kept, []
        with statements.measure(), platform.session_scope() as db:
            exchange.accept_delivery(db, buyer, contract_id)
        listings["accept"], statements.kept = statements.kept, None
    for samples in (place_s, accept_s, transfer_s, ids):
        samples.clear()
    counts.update(dict.fromkeys(counts, 0))
    for r in range(ROUNDS):
        share = orders // ROUNDS + (1 if r < orders % ROUNDS else 0)
        for _ in range(share):
            settle()
        before = statements.count
        for _ in range(share):
            transfer_one()
        counts["ledger_transfer"] += statements.count - before
    orders_s = sum(place_s) + sum(accept_s)
    with platform.session_scope(read_only=True) as db:
        settled = db.execute(
            select(Contract.id).where(Contract.id.in_(ids), Contract.settlement == "settled")
        ).all()
    settled_rate = len(ids) / orders_s
    transfer_rate = len(transfer_s) / sum(transfer_s)
    return {
        "contracts": len(ids),
        "settled": len(settled),
        "orders_settled_per_s": round(settled_rate, 1),
        "place_and_pay_ms": {"p50": _pct(place_s, 0.5), "p99": _pct(place_s, 0.99)},
        "accept_ms": {"p50": _pct(accept_s, 0.5), "p99": _pct(accept_s, 0.99)},
        "statements_per_order": {
            "place_and_pay": round(counts["place_and_pay"] / len(ids), 1),
            "accept": round(counts["accept"] / len(ids), 1),
        },
        "baseline_ledger_transfers_per_s": round(transfer_rate, 1),
        "baseline_statements_per_transfer": round(counts["ledger_transfer"] / len(transfer_s), 1),
        "settled_vs_ledger_transfer": round(settled_rate / transfer_rate, 3),
        **({"statements_of_one_order": listings} if show else {}),
    }


# ------------------------------------------------------------------ 2. delivery calls


def _paths(built: Built) -> dict[str, tuple[list[str], str | None]]:
    """Each case's paths (cycled) and bearer credential."""
    return {
        "healthz": (["/healthz"], None),
        "sharing_gateway": (
            [f"/gateway/v1/resources/{RESOURCE}/records?uscc={k}" for k in built.keys],
            built.token,
        ),
        "exchange_delivery": (
            [f"/gateway/v1/contracts/{built.contract}/records?uscc={k}" for k in built.keys],
            built.key,
        ),
    }


async def _drive(
    client: Any, paths: list[str], token: str | None, n: int, concurrency: int
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            started = time.perf_counter()
            answer = await client.get(paths[i % len(paths)], headers=headers)
            latencies.append(time.perf_counter() - started)
            statuses[str(answer.status_code)] = statuses.get(str(answer.status_code), 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"elapsed": time.perf_counter() - started, "latencies": latencies, "statuses": statuses}


async def _in_process(
    built: Built, calls: int, concurrency: int, statements: Statements, show: bool
) -> dict[str, Any]:
    import httpx

    from yiwang.app import create_app

    app = create_app(built.platform)
    cases = _paths(built)
    totals: dict[str, dict[str, Any]] = {
        name: {"elapsed": 0.0, "latencies": [], "statuses": {}, "statements": 0} for name in CASES
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for name in CASES:  # warm up: routes, caches, the first statements compiled
            paths, token = cases[name]
            await _drive(client, paths, token, 20, 1)
        listings: dict[str, list[str]] = {}
        if show:
            for name in CASES[1:]:
                paths, token = cases[name]
                statements.kept = []
                with statements.measure():
                    await _drive(client, paths[1:2], token, 1, 1)
                listings[name] = statements.kept
                statements.kept = None
        for r in range(ROUNDS):
            share = calls // ROUNDS + (1 if r < calls % ROUNDS else 0)
            for name in CASES:
                paths, token = cases[name]
                before = statements.count
                with statements.measure():
                    done = await _drive(client, paths, token, share, concurrency)
                total = totals[name]
                total["statements"] += statements.count - before
                total["elapsed"] += done["elapsed"]
                total["latencies"] += done["latencies"]
                for code, k in done["statuses"].items():
                    total["statuses"][code] = total["statuses"].get(code, 0) + k
    out: dict[str, Any] = {}
    for name, total in totals.items():
        n = len(total["latencies"])
        out[name] = {
            "calls_per_s": round(n / total["elapsed"]),
            "p50_ms": _pct(total["latencies"], 0.5),
            "p99_ms": _pct(total["latencies"], 0.99),
            "statuses": total["statuses"],
            "statements_per_call": round(total["statements"] / n, 2),
        }
    if show:
        out["statements_of_one_call"] = listings
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(settings: Settings, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "YIWANG_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["YIWANG_DATABASE_URL"] = settings.database_url
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


LUA = """
local paths = {%s}
local token = "%s"
local i = 0
request = function()
  i = i %% #paths + 1
  if token == "" then return wrk.format("GET", paths[i]) end
  return wrk.format("GET", paths[i], {["Authorization"] = "Bearer " .. token})
end
"""


def drive_wrk(
    url: str, paths: list[str], token: str | None, seconds: float, clients: int, tmp: Path
) -> dict[str, Any]:
    """calls/s and the 50th and 99th percentiles from wrk, a Lua script cycling the paths."""
    script = tmp / "bench.lua"
    script.write_text(LUA % (", ".join(json.dumps(p) for p in paths), token or ""))
    output = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{max(1, int(seconds))}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def _ms(label: str) -> float:
        line = next(x for x in output.splitlines() if x.strip().startswith(label))
        value = line.split()[-1]
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
        unit = next(u for u in ("us", "ms", "s") if value.endswith(u))
        return round(float(value[: -len(unit)]) * scale[unit], 2)

    rate = next(x for x in output.splitlines() if x.startswith("Requests/sec"))
    non_2xx = next((x for x in output.splitlines() if "Non-2xx" in x), "")
    return {
        "calls_per_s": round(float(rate.split()[-1])),
        "p50_ms": _ms("50%"),
        "p99_ms": _ms("99%"),
        "non_2xx": int(non_2xx.split()[-1]) if non_2xx else 0,
    }


def _with_wrk(built: Built, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    cases = _paths(built)
    out: dict[str, Any] = {}
    proc, url = serve(settings, args.workers)
    try:
        for name in CASES:
            paths, token = cases[name]
            drive_wrk(url, paths, token, 1, args.clients, settings.data_dir)  # warm up
            out[name] = drive_wrk(url, paths, token, args.seconds, args.clients, settings.data_dir)
    finally:
        proc.terminate()
        proc.wait(10)
    return out


def _ratios(delivery: dict[str, Any]) -> None:
    rate = {name: delivery[name]["calls_per_s"] for name in CASES}
    delivery["exchange_vs_sharing_gateway"] = round(rate["exchange_delivery"] / rate["sharing_gateway"], 3)
    delivery["exchange_vs_healthz"] = round(rate["exchange_delivery"] / rate["healthz"], 3)
    delivery["sharing_gateway_vs_healthz"] = round(rate["sharing_gateway"] / rate["healthz"], 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (~10 s)")
    parser.add_argument("--rows", type=int, default=None, help="records in the listing (10,000)")
    parser.add_argument("--orders", type=int, default=None, help="contracts settled (500)")
    parser.add_argument("--calls", type=int, default=None, help="delivery calls per case (2,000)")
    parser.add_argument("--concurrency", type=int, default=1, help="in-process callers at once")
    parser.add_argument("--database-url", default=None, help="postgresql://… (its public schema is dropped)")
    parser.add_argument(
        "--statements", action="store_true", help="list the SQL of one order and one delivery call"
    )
    parser.add_argument("--wrk", action="store_true", help="serve with uvicorn and drive with wrk")
    parser.add_argument("--workers", type=int, default=1, help="--wrk: server worker processes")
    parser.add_argument("--clients", type=int, default=8, help="--wrk: connections")
    parser.add_argument("--seconds", type=float, default=None, help="--wrk: seconds per case (4)")
    args = parser.parse_args()
    if args.wrk and shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    rows = args.rows or (1_000 if args.quick else 10_000)
    orders = args.orders or (60 if args.quick else 500)
    calls = args.calls or (150 if args.quick else 2_000)
    args.seconds = args.seconds or (2.0 if args.quick else 4.0)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=args.database_url)
        statements = Statements()
        built = build(settings, rows, orders)
        report: dict[str, Any] = {
            "database": built.platform.db.engine.dialect.name,
            "rows": rows,
            "setup_s": round(time.perf_counter() - started, 1),
        }
        report["orders"] = bench_orders(built, orders, statements, args.statements)
        if args.wrk:
            delivery: dict[str, Any] = {
                "load": "wrk",
                "workers": args.workers,
                "clients": args.clients,
                "seconds": args.seconds,
            }
            delivery.update(_with_wrk(built, settings, args))
        else:
            delivery = {"load": "in-process", "calls": calls, "concurrency": args.concurrency}
            delivery.update(
                asyncio.run(_in_process(built, calls, args.concurrency, statements, args.statements))
            )
        _ratios(delivery)
        report["delivery"] = delivery
        with built.platform.session_scope(read_only=True) as db:
            books = ledger.check_books(db)
            calls_counted = db.get(Contract, built.contract).calls  # type: ignore[union-attr]
        report["delivery"]["contract_calls_counted"] = calls_counted
        report["ledger"] = {
            "balanced": books.balanced,
            "accounts": books.accounts,
            "transactions": books.transactions,
            "total": books.total,
        }
        built.platform.close()
    report["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, ensure_ascii=False, indent=1))  # noqa: T201


if __name__ == "__main__":
    main()
