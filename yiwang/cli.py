"""The ``yiwang`` command: set up, serve, and run the platform from the console.

Each command owns its transaction. The console acts as the platform's system
actor (recorded as ``system`` in the audit log). Errors are printed in Chinese
and the command exits non-zero without changing anything.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from yiwang.catalog import cli as catalog_cli
from yiwang.config import get_settings
from yiwang.console import console_transaction, fail, out
from yiwang.exchange import cli as exchange_cli
from yiwang.identity import auditing
from yiwang.identity import service as identity
from yiwang.identity.authz import ASSIGNABLE_ROLES
from yiwang.kit import audit
from yiwang.registry import cli as registry_cli
from yiwang.runtime import upgrade_database
from yiwang.sharing import calls as sharing_calls
from yiwang.sharing import cli as sharing_cli

ORG_KINDS = {"region": "区域", "department": "部门", "enterprise": "企业"}
app = typer.Typer(help="一网 Yiwang：省级数字政府数据底座", no_args_is_help=True, add_completion=False)
org_app = typer.Typer(help="组织机构（区域与部门）", no_args_is_help=True)
user_app = typer.Typer(help="用户账号", no_args_is_help=True)
token_app = typer.Typer(help="系统访问令牌", no_args_is_help=True)
audit_app = typer.Typer(help="审计日志：导出与校验", no_args_is_help=True)
keys_app = typer.Typer(help="平台签名密钥", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(catalog_cli.catalog_app, name="catalog")
app.add_typer(catalog_cli.data_app, name="data")
app.add_typer(exchange_cli.exchange_app, name="exchange")
app.add_typer(sharing_cli.sharing_app, name="sharing")
app.add_typer(registry_cli.certificate_app, name="certificate")
app.add_typer(registry_cli.registry_app, name="registry")

# ------------------------------------------------------------------ set-up and serving


@app.command()
def init(
    demo: Annotated[bool, typer.Option("--demo", help="同时生成示范省份（广东）")] = False,
    demo_password: Annotated[str, typer.Option(help="示范账号的统一密码")] = "Yiwang@2026",
    seed: Annotated[int, typer.Option(help="示范数据的随机种子（相同种子生成相同数据）")] = 2026,
) -> None:
    """Create or upgrade the database and the platform keys; optionally load the demo province."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_database(settings.resolved_database_url())
    out.print(f"数据库已就绪：{_safe_url(settings.resolved_database_url())}")
    with console_transaction() as (platform, session, actor):
        out.print(f"密码套件：{platform.keyring.suite_name}，当前密钥 {platform.keyring.active_key_id}")
        if demo:
            from yiwang.demo.generator import build_demo, print_logins

            logins = build_demo(
                session,
                actor,
                password=demo_password,
                seed=seed,
                suite=platform.keyring.suite_name,
                keyring=platform.keyring,
            )
    if demo:
        print_logins(out, logins, demo_password)


def _safe_url(url: str) -> str:
    """The database URL without its password: it goes to the console and to logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="监听端口")] = 8000,
    workers: Annotated[int, typer.Option(help="工作进程数")] = 1,
    access_log: Annotated[
        bool | None,
        typer.Option(
            "--access-log/--no-access-log", help="逐条打印 HTTP 请求（默认按 YIWANG_HTTP_ACCESS_LOG）"
        ),
    ] = None,
) -> None:
    """Serve the pages, the API and the gateway."""
    import uvicorn

    uvicorn.run(
        "yiwang.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=get_settings().http_access_log if access_log is None else access_log,
        proxy_headers=True,
    )


@app.command("demo")
def demo_command(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="监听端口")] = 8000,
    demo_password: Annotated[str, typer.Option(help="示范账号的统一密码")] = "Yiwang@2026",
) -> None:
    """Initialise the demo province when the database is empty, then serve it."""
    from yiwang.demo.generator import demo_exists

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_database(settings.resolved_database_url())
    with console_transaction(read_only=True) as (_p, session, _a):
        exists = demo_exists(session)
    if exists:
        out.print("示范省份已存在，直接启动。")
    else:
        init(demo=True, demo_password=demo_password, seed=2026)
    out.print(f"请在浏览器打开 http://{host}:{port}")
    serve(host=host, port=port, workers=1)


# ------------------------------------------------------------------ organisations and people


@org_app.command("list")
def org_list(as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False) -> None:
    """List organisations (regions and departments)."""
    with console_transaction(read_only=True) as (_p, session, actor):
        orgs = identity.list_orgs(session, actor)
        parents = identity.parent_codes(session, orgs)
        rows = [{"code": o.code, "name": o.name, "kind": o.kind, "parent": parents.get(o.id)} for o in orgs]
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
        return
    table = Table("代码", "名称", "类型", "上级")
    for row in rows:
        table.add_row(
            row["code"],
            row["name"],
            ORG_KINDS.get(str(row["kind"]), str(row["kind"])),
            row["parent"] or "",
        )
    out.print(table)


@org_app.command("create")
def org_create(
    code: Annotated[str, typer.Argument(help="区域用行政区划代码；部门用 <区划代码>-<简称>")],
    name: Annotated[str, typer.Option("--name", help="名称")],
    parent: Annotated[str | None, typer.Option("--parent", help="上级单位代码")] = None,
    kind: Annotated[
        str, typer.Option("--kind", help="region、department 或 enterprise（代码为统一社会信用代码）")
    ] = "department",
) -> None:
    """Create a region or a department."""
    with console_transaction() as (_p, session, actor):
        org = identity.create_org(session, actor, code=code, name=name, parent=parent, kind=kind)
        out.print(f"已创建 {org.code} {org.name}")


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="用户名")],
    org: Annotated[str, typer.Option("--org", help="所属单位代码")],
    role: Annotated[list[str], typer.Option("--role", help=f"角色（可重复）：{', '.join(ASSIGNABLE_ROLES)}")],
    password: Annotated[str, typer.Option("--password", help="初始密码（至少 8 位，含字母和数字）")],
    name: Annotated[str, typer.Option("--name", help="姓名")] = "",
) -> None:
    """Create a user account."""
    with console_transaction() as (_p, session, actor):
        user = identity.create_user(
            session, actor, username=username, org_code=org, roles=role, password=password, display_name=name
        )
        out.print(f"已创建用户 {user.username}（{org}，{', '.join(role)}）")


@token_app.command("create")
def token_create(
    username: Annotated[str, typer.Argument(help="令牌所属用户")],
    name: Annotated[str, typer.Option("--name", help="使用令牌的系统名称")] = "default",
    expires: Annotated[int | None, typer.Option("--expires", help="有效天数（默认不过期）")] = None,
) -> None:
    """Issue a bearer token and print it (it is shown only once)."""
    with console_transaction() as (_p, session, actor):
        _token, raw = identity.create_token(
            session, actor, username=username, name=name, expires_days=expires
        )
    sys.stdout.write(raw + "\n")


# ------------------------------------------------------------------ audit and keys


@audit_app.command("verify")
def audit_verify(
    file: Annotated[Path | None, typer.Option("--file", help="校验导出文件（离线，无需数据库）")] = None,
) -> None:
    """Verify the audit log and the gateway's access log (chains and signed checkpoints), or an
    export of either: exit 0 when intact, 1 naming the first bad entry."""
    if file is not None:
        if not file.exists():
            raise fail(f"文件 {file} 不存在", 2)
        with file.open(encoding="utf-8") as lines:
            result = audit.verify_export(lines)
        if result.ok:
            out.print(f"完整：{result.entries} 条记录，{result.checkpoints} 个签名检查点均通过校验。")
            return
        raise fail(f"日志已被篡改：{result.problem}", 1)
    with console_transaction() as (platform, session, actor):
        results = [
            ("审计日志", auditing.verify(session, actor, platform.keyring)),
            ("访问日志", sharing_calls.verify(session, actor, platform.keyring)),
        ]
    for name, result in results:
        if not result.ok:
            raise fail(f"{name}已被篡改：{result.problem}", 1)
        out.print(f"{name}完整：{result.entries} 条记录，{result.checkpoints} 个签名检查点均通过校验。")


@audit_app.command("export")
def audit_export(
    since: Annotated[str | None, typer.Option("--since", help="起始日期 YYYY-MM-DD")] = None,
) -> None:
    """Write entries, checkpoints and public keys as JSON lines to standard output."""
    with console_transaction(read_only=True) as (platform, session, actor):
        for line in auditing.export(session, actor, platform.keyring, since=since):
            sys.stdout.write(line + "\n")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Start signing with a new platform key; old public keys stay for verification."""
    with console_transaction() as (platform, session, actor):
        identity.authorize_key_rotation(actor)
        old = platform.keyring.active_key_id
        new = platform.keyring.rotate()
        audit.record(
            session, actor, "keys.rotate", target_type="key", target_id=new, details={"previous": old}
        )
        out.print(f"已轮换签名密钥：{old} → {new}")


def main() -> None:
    app()
