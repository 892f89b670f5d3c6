"""The demo province: Guangdong with its real regions, departments and an account
for every role. Deterministic for a given seed.

Later issues add their networks' demo data here (catalog resources, requests,
certificates, listings), each through that network's service verbs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from faker import Faker
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from yiwang.catalog import data as catalog_data
from yiwang.catalog import service as catalog_service
from yiwang.demo import catalog as demo_catalog
from yiwang.demo import exchange as demo_exchange
from yiwang.demo import registry as demo_registry
from yiwang.demo import sharing as demo_sharing
from yiwang.demo.departments import PROVINCIAL_DEPARTMENTS, city_departments
from yiwang.identity import repository
from yiwang.identity import service as identity
from yiwang.identity.authz import ROLES, Actor
from yiwang.identity.errors import OrgExists
from yiwang.kit import regions
from yiwang.kit.crypto import Keyring

PROVINCE = "440000"
DATA_BUREAU = "440000-zsj"
# Cities that get their own departments in the demo (the reference deployment's first cities).
CITIES_WITH_DEPARTMENTS = ("440100", "440300", "440600", "441900", "440400", "441300")
# How many table resources get demo data, and how many rows each.
LOADED_RESOURCES = 36
ROWS_PER_RESOURCE = 300


@dataclass(frozen=True)
class Login:
    username: str
    name: str
    org: str
    role: str


def demo_exists(session: Session) -> bool:
    return repository.org_by_code(session, PROVINCE) is not None


def build_demo(
    session: Session,
    actor: Actor,
    *,
    password: str,
    seed: int = 2026,
    suite: str = "standard",
    keyring: Keyring | None = None,
) -> list[Login]:
    """Create the demo province through the service verbs (so it is audited like any change)."""
    if demo_exists(session):
        raise OrgExists(f"示范省份 {PROVINCE} 已存在（数据库不是空的）")
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    _create_regions(session, actor)
    departments = _create_departments(session, actor)
    logins = _create_accounts(session, actor, departments, fake, rng, password)
    loaded = _create_catalog(session, actor, departments, fake, rng, seed, suite)
    demo_sharing.build_sharing(
        session, actor, loaded[:15], [code for code, _name in departments], seed, suite
    )
    if keyring is not None:  # certificates are signed with the platform key

        def add_login(username: str, name: str, org: str, role: str) -> None:
            logins.append(Login(username, name, org, role))

        demo_registry.build_registry(session, actor, keyring, password, add_login)
        demo_exchange.build_exchange(session, actor, keyring, password, add_login, suite=suite, seed=seed)
    return logins


def _create_catalog(
    session: Session,
    actor: Actor,
    departments: list[tuple[str, str]],
    fake: Faker,
    rng: random.Random,
    seed: int,
    suite: str,
) -> list[str]:
    """Publish the demo resources (as the operator's import) and load data into some of them;
    returns the codes of the loaded ones."""
    items = demo_catalog.resources_for(departments, seed)
    created = catalog_service.import_resources(session, actor, items, publish=True)
    # Spread the loads over the whole list, so every kind of department has data somewhere.
    step = max(1, len(items) // LOADED_RESOURCES)
    loaded: list[str] = []
    for item, resource in list(zip(items, created, strict=True))[::step]:
        region = resource.region_code if len(resource.region_code) == 6 else PROVINCE
        rows = demo_catalog.rows_for(demo_catalog.field_kind(item), ROWS_PER_RESOURCE, region, fake, rng)
        catalog_data.load_data(
            session,
            actor,
            resource.code,
            demo_catalog.as_json_stream(rows),
            "demo.json",
            "replace",
            suite=suite,
        )
        loaded.append(resource.code)
    return loaded


def _create_regions(session: Session, actor: Actor) -> None:
    identity.create_org(
        session,
        actor,
        code=PROVINCE,
        name=regions.region_name(PROVINCE) or "广东省",
        parent=None,
        kind="region",
    )
    for city in regions.cities():
        identity.create_org(
            session, actor, code=city, name=regions.region_name(city) or city, parent=PROVINCE, kind="region"
        )
        for child in regions.children(city):
            identity.create_org(
                session,
                actor,
                code=child,
                name=regions.region_name(child) or child,
                parent=city,
                kind="region",
            )


def _create_departments(session: Session, actor: Actor) -> list[tuple[str, str]]:
    """Provincial departments and their counterparts in the demo cities; returns (code, name)."""
    created: list[tuple[str, str]] = []
    for short, name in PROVINCIAL_DEPARTMENTS:
        code = f"{PROVINCE}-{short}"
        identity.create_org(session, actor, code=code, name=name, parent=PROVINCE, kind="department")
        created.append((code, name))
    for city in CITIES_WITH_DEPARTMENTS:
        for short, name in city_departments(city):
            code = f"{city}-{short}"
            identity.create_org(session, actor, code=code, name=name, parent=city, kind="department")
            created.append((code, name))
    return created


def _create_accounts(
    session: Session,
    actor: Actor,
    departments: list[tuple[str, str]],
    fake: Faker,
    rng: random.Random,
    password: str,
) -> list[Login]:
    logins: list[Login] = []

    def add(username: str, org: str, role: str) -> None:
        name = fake.name()
        identity.create_user(
            session,
            actor,
            username=username,
            org_code=org,
            roles=[role],
            password=password,
            display_name=name,
        )
        logins.append(Login(username, name, org, role))

    add("admin", DATA_BUREAU, "admin")
    add("operator", DATA_BUREAU, "operator")
    add("auditor", DATA_BUREAU, "auditor")
    add("cdo_gd", PROVINCE, "cdo")
    add("cdo_gz", "440100", "cdo")
    add("cdo_sz", "440300", "cdo")
    for code, _name in departments:
        short = code.replace("-", "_")
        add(f"staff_{short}", code, "staff")
        # Some departments have a CDO of their own; the choice is seeded, so stable.
        if rng.random() < 0.3:
            add(f"cdo_{short}", code, "cdo")
    return logins


def print_logins(console: Console, logins: list[Login], password: str) -> None:
    """The demo accounts, one per role first, then a count of the rest."""
    table = Table("用户名", "姓名", "单位", "角色", title="示范账号（密码统一为下方所示）")
    shown = {
        "admin",
        "operator",
        "auditor",
        "cdo_gd",
        "cdo_gz",
        "cdo_sz",
        "staff_440000_amr",
        "staff_440100_amr",
        "staff_440300_amr",
        "demo-buyer",
        "ops_public",
    }
    for login in logins:
        if login.username in shown:
            table.add_row(login.username, login.name, login.org, ROLES.get(login.role, login.role))
    console.print(table)
    console.print(f"共 {len(logins)} 个示范账号；密码：[bold]{password}[/]")
