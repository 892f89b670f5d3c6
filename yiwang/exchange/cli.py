"""``yiwang exchange ...``: the ledger's trial balance, nodes and contracts from the console."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from yiwang.console import console_transaction, fail, out
from yiwang.exchange import service
from yiwang.kit import ledger

exchange_app = typer.Typer(help="数据交易：总账核对、节点与合约", no_args_is_help=True)


@exchange_app.command("ledger-check")
def ledger_check(as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False) -> None:
    """Recompute the books from the postings; exit 1 when any invariant is broken."""
    with console_transaction(read_only=True) as (_platform, session, _actor):
        books = ledger.check_books(session)
    report = {
        "balanced": books.balanced,
        "accounts": books.accounts,
        "transactions": books.transactions,
        "total": books.total,
        "unbalanced": books.unbalanced,
        "drifted": books.drifted,
        "overdrawn": books.overdrawn,
    }
    if as_json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        out.print(
            f"账户 {books.accounts} 个，交易 {books.transactions} 笔，余额合计 {ledger.yuan(books.total)} 元"
        )
    if not books.balanced:
        raise fail(
            f"总账不平：不平衡交易 {books.unbalanced}，余额与分录不符 {books.drifted}，"
            f"透支 {books.overdrawn}",
            1,
        )


@exchange_app.command("nodes")
def nodes() -> None:
    """The exchange, its bases and sector platforms."""
    with console_transaction(read_only=True) as (_platform, session, _actor):
        items = service.list_nodes(session)
    table = Table("代码", "名称", "类型", "区域", "服务费（‱）")
    kinds = {"exchange": "交易所", "base": "服务基地", "platform": "行业平台"}
    for node in items:
        table.add_row(node.code, node.name, kinds.get(node.kind, node.kind), node.region, str(node.fee_bp))
    out.print(table)


@exchange_app.command("contracts")
def contracts(
    status: Annotated[
        str | None, typer.Option("--status", help="requested | … | active | expired | revoked")
    ] = None,
) -> None:
    """Every contract with its status and where its money is, as JSON lines."""
    with console_transaction(read_only=True) as (_platform, session, actor):
        items = service.list_contracts(session, actor, status=status, limit=1000)
        orgs = service.org_codes(session, items)
        for contract in items:
            sys.stdout.write(json.dumps(service.contract_shape(contract, orgs), ensure_ascii=False) + "\n")
