"""``yiwang certificate ...`` (CONTRACT: list, export, verify offline) and ``yiwang registry ...`` jobs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from yiwang.console import console_transaction, fail, out
from yiwang.registry import bundle, log, service

certificate_app = typer.Typer(help="数据资产凭证：列表、导出与离线校验", no_args_is_help=True)
registry_app = typer.Typer(help="数据资产登记：定时任务", no_args_is_help=True)
STATUSES = ("active", "pledged", "cancelled", "revoked")


@certificate_app.command("list")
def list_certificates(
    status: Annotated[
        str | None, typer.Option("--status", help="active | pledged | cancelled | revoked")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON 数组")] = False,
) -> None:
    """Every certificate: number, status, holder and name."""
    if status is not None and status not in STATUSES:
        raise fail(f"--status 应为 {'、'.join(STATUSES)} 之一", 2)
    with console_transaction(read_only=True) as (_platform, session, _actor):
        items = service.list_certificates(session, status=status)
    if as_json:
        sys.stdout.write(json.dumps([vars(i) for i in items], ensure_ascii=False, indent=1) + "\n")
        return
    table = Table("编号", "状态", "持有方", "名称")
    for item in items:
        table.add_row(item.number, service.STATUS_ZH.get(item.status, item.status), item.holder, item.name)
    out.print(table)


@certificate_app.command("export")
def export(number: Annotated[str, typer.Argument(help="凭证编号 GD-DA-<年>-<6位>")]) -> None:
    """Write the certificate's self-contained bundle (JSON) to standard output."""
    with console_transaction() as (platform, session, _actor):
        data = bundle.export(session, platform.keyring, number)
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=1) + "\n")


@certificate_app.command("checkpoint")
def later_checkpoint(
    since: Annotated[int, typer.Option("--since", help="凭证包中检查点的树大小")],
) -> None:
    """The signed checkpoint now, with a consistency proof from ``--since`` (for ``verify --checkpoint``)."""
    with console_transaction() as (platform, session, _actor):
        data = bundle.later_checkpoint(session, platform.keyring, since)
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=1) + "\n")


def _read(path: Path, what: str) -> Any:
    if not path.exists():
        raise fail(f"{what} {path} 不存在", 2)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise fail(f"{what} {path} 不是有效的 JSON", 1) from None


@certificate_app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="凭证包 cert.json")],
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="后续检查点（含一致性证明）")
    ] = None,
) -> None:
    """Check a bundle offline — no database, no network: exit 0 when valid, 1 naming the failed check."""
    data = _read(file, "凭证包")
    later = _read(checkpoint, "检查点文件") if checkpoint is not None else None
    outcome = bundle.verify(data, later)
    if not outcome.ok:
        raise fail(f"凭证 {outcome.number or '（未知）'} 校验失败：{outcome.failed}", 1)
    out.print(f"凭证 {outcome.number} 有效：{'、'.join(outcome.checked)} 均通过。")
    out.print(
        f"截至检查点的状态：{service.STATUS_ZH.get(outcome.status, outcome.status)}（{outcome.status}）"
    )
    event = service.EVENT_ZH.get(outcome.last_event, outcome.last_event)
    out.print(
        f"依据：该凭证的第 {outcome.events} 个事件（{event}，{outcome.last_at}）；"
        f"检查点：{outcome.checkpoint_size} 个叶子，{outcome.checkpoint_at}；凭证内容第 {outcome.version} 版"
    )
    if outcome.licences:
        out.print("登记在册的授权许可（截至检查点）：")
        for licence in outcome.licences:
            right = service.RIGHTS_ZH.get(str(licence["right"]), str(licence["right"]))
            expired = "（已到期）" if licence["expired"] else ""
            out.print(
                f"  #{licence['licence']} {right} → {licence['licensee_name']}（{licence['licensee']}），"
                f"{licence['valid_from']} 至 {licence['valid_until']}{expired}；范围：{licence['scope']}"
            )


@registry_app.command("issue")
def issue_due() -> None:
    """Issue the certificates whose public notice ended without open objections (run daily)."""
    with console_transaction() as (platform, session, actor):
        issued = service.issue_due(session, actor, platform.keyring)
    out.print(f"已签发 {len(issued)} 张凭证：{'、'.join(c.number for c in issued) or '无'}")


@registry_app.command("checkpoint")
def sign_checkpoint() -> None:
    """Sign a checkpoint of the log if it grew (run every minute while the registry is busy)."""
    with console_transaction() as (platform, session, _actor):
        checkpoint = log.signed_checkpoint(session, platform.keyring)
    out.print(f"检查点：{checkpoint.size} 个叶子，根 {checkpoint.root.hex()}")
