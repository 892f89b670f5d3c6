"""``yiwang sharing ...``: the scheduled reminder job and the access log from the console."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from yiwang.console import console_transaction, out
from yiwang.sharing import calls, service

sharing_app = typer.Typer(help="一网共享：申请提醒与访问日志", no_args_is_help=True)


@sharing_app.command("remind")
def remind() -> None:
    """Remind providers of decisions due soon and report overdue ones (run daily, e.g. from cron)."""
    with console_transaction() as (_platform, session, actor):
        run = service.send_reminders(session, actor)
    out.print(f"已提醒 {run.reminded} 件临近期限的共享申请，{run.overdue} 件已逾期并报平台运营。")


@sharing_app.command("access-export")
def access_export(
    since: Annotated[str | None, typer.Option("--since", help="起始日期 YYYY-MM-DD")] = None,
) -> None:
    """Write the gateway's access log as JSON lines (verify offline with ``yiwang audit verify --file``)."""
    with console_transaction() as (platform, session, actor):
        for line in calls.export(session, actor, platform.keyring, since=since):
            sys.stdout.write(line + "\n")
