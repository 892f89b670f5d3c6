"""`yiwang catalog ...` and `yiwang data ...` commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from yiwang.catalog import service
from yiwang.console import console_transaction, fail, out

catalog_app = typer.Typer(help="政务数据资源目录：导入与导出", no_args_is_help=True)
data_app = typer.Typer(help="资源数据：装载", no_args_is_help=True)


def read_entries(path: Path) -> list[Any]:
    """A JSON array of resources, or JSON lines (one resource a line)."""
    if not path.exists():
        raise fail(f"文件 {path} 不存在", 2)
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise fail(f"文件 {path} 不是有效的 JSON 或 JSON Lines：第 {exc.lineno} 行 {exc.msg}") from None
    if isinstance(data, dict) and isinstance(data.get("resources"), list):
        data = data["resources"]
    if not isinstance(data, list):
        raise fail("文件应为资源数组（JSON 数组或每行一个 JSON 对象）")
    return data


@catalog_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="JSON 数组或 JSON Lines 文件")],
    publish: Annotated[bool, typer.Option("--publish", help="导入后直接发布（记为平台运营的操作）")] = False,
) -> None:
    """Import resources all-or-nothing; every bad entry is listed (index, field, reason)."""
    entries = read_entries(file)
    with console_transaction() as (_platform, session, actor):
        created = service.import_resources(session, actor, entries, publish=publish)
        count = len(created)
    out.print(f"已导入 {count} 个资源{'并发布' if publish else '（草稿）'}。")


@catalog_app.command("export")
def export_command(
    provider: Annotated[str | None, typer.Option("--provider", help="只导出此提供部门的资源")] = None,
) -> None:
    """Write published resources as a JSON array (the import shape) to standard output."""
    with console_transaction(read_only=True) as (_platform, session, actor):
        items = service.export_resources(session, actor, provider=provider)
    sys.stdout.write(json.dumps(items, ensure_ascii=False, indent=1) + "\n")


@data_app.command("load")
def load_command(
    code: Annotated[str, typer.Argument(help="资源代码")],
    file: Annotated[Path, typer.Argument(help="CSV、XLSX 或 JSON 文件")],
    mode: Annotated[
        str, typer.Option("--mode", help="replace（替换）、append（追加）或 upsert（按主键更新）")
    ] = "replace",
) -> None:
    """Validate and load a file into a table resource, all-or-nothing; bad rows are listed."""
    from rich.progress import Progress

    from yiwang.catalog import data

    if not file.exists():
        raise fail(f"文件 {file} 不存在", 2)
    with console_transaction() as (platform, session, actor), file.open("rb") as stream, Progress() as bar:
        task = bar.add_task("校验并装载", total=None)
        load = data.load_data(
            session,
            actor,
            code,
            stream,
            file.name,
            mode,
            suite=platform.keyring.suite_name,
            progress=lambda done: bar.update(task, completed=done),
        )
        count, digest = load.row_count, load.content_hash
    out.print(f"已装载 {count} 行（{mode}），内容哈希 {digest}")
