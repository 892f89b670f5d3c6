"""A real server for the browser: uvicorn in a thread on a free 127.0.0.1 port.

End-to-end tests run on SQLite only: the backends are covered by the rest of
the suite, and here what matters is the browser, the cookies and the pages.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from yiwang.app import create_app
from yiwang.config import Settings
from yiwang.identity import service as identity
from yiwang.identity.authz import Actor
from yiwang.runtime import Platform, upgrade_database

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
E2E_PASSWORD = "Demo2024!pass"


@dataclass
class Server:
    url: str
    platform: Platform


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _seed(platform: Platform) -> None:
    """A demo-like corner of the province: 广州's data bureau and its chief data officer."""
    with platform.session_scope() as db:
        system = Actor.system()
        for code, name, parent, kind in [
            ("440000", "广东省", None, "region"),
            ("440100", "广州市", "440000", "region"),
            ("440100-zsj", "广州市政务服务和数据管理局", "440100", "department"),
        ]:
            identity.create_org(db, system, code=code, name=name, parent=parent, kind=kind)
        identity.create_user(
            db,
            system,
            username="auditor",
            org_code="440100-zsj",
            roles=["auditor"],
            password=E2E_PASSWORD,
            display_name="王审计",
        )
        identity.create_user(
            db,
            system,
            username="gz_cdo",
            org_code="440100-zsj",
            roles=["cdo"],
            password=E2E_PASSWORD,
            display_name="李明华",
        )


@pytest.fixture(scope="session")
def e2e_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{tmp / 'yiwang.db'}"
    upgrade_database(url)
    platform = Platform.from_settings(Settings(data_dir=tmp, database_url=url, secret_key="e2e-secret"))
    _seed(platform)
    port = _free_port()
    config = uvicorn.Config(
        create_app(platform), host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="e2e-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the e2e server did not start")
        time.sleep(0.05)
    yield Server(url=f"http://127.0.0.1:{port}", platform=platform)
    server.should_exit = True
    thread.join(timeout=10)
    platform.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
