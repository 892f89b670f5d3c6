"""Demo registry: enterprises, an assessor and banks; certificates in every status, a pledge, a
change registration (a new data version), a licence, and an application in public notice with an
objection — all through the registry's verbs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy.orm import Session

from yiwang.identity import repository
from yiwang.identity import service as identity
from yiwang.identity.authz import Actor
from yiwang.kit import workdays
from yiwang.kit.crypto import Keyring
from yiwang.kit.validators import make_uscc_from
from yiwang.registry import log, service
from yiwang.registry.models import Application
from yiwang.registry.schemas import ApplicationIn, ChangeIn, DecisionIn, LicenceIn, ObjectionIn, ReportIn

# (code, name, region, account, role)
ENTERPRISES = [
    (
        make_uscc_from("9", "1", "440100", "MA5D0P001"),
        "广州电力数据科技有限公司",
        "440100",
        "ent_power",
        "enterprise",
    ),
    (
        make_uscc_from("9", "1", "440300", "MA5D0P002"),
        "深圳港航物流数据有限公司",
        "440300",
        "ent_port",
        "enterprise",
    ),
    (
        make_uscc_from("9", "1", "440600", "MA5D0P003"),
        "佛山智造工业互联网有限公司",
        "440600",
        "ent_factory",
        "enterprise",
    ),
    (
        make_uscc_from("9", "1", "440100", "MA5D0P004"),
        "广州数据合规评估事务所",
        "440100",
        "assessor",
        "assessor",
    ),
    (make_uscc_from("9", "1", "440100", "MA5D0P005"), "广州示范商业银行", "440100", "bank_gz", "bank"),
    (make_uscc_from("9", "1", "440300", "MA5D0P006"), "深圳示范商业银行", "440300", "bank_sz", "bank"),
]
ASSETS = [
    ("ent_power", "工商业用户月度用电数据集", "data_resource", ["holding", "processing"]),
    ("ent_port", "集装箱港口作业数据产品", "data_product", ["holding", "operating"]),
    ("ent_factory", "工业设备运行状态数据集", "data_resource", ["holding"]),
    ("ent_power", "企业用电信用指数", "data_product", ["processing", "operating"]),
    ("ent_port", "跨境物流时效数据集", "data_resource", ["holding", "processing"]),
]


def build_registry(
    session: Session,
    actor: Actor,
    keyring: Keyring,
    password: str,
    add_login: Callable[[str, str, str, str], None],
) -> None:
    """Certificates active, pledged, cancelled and revoked; a change and a licence on the active one;
    one application in notice with an objection."""
    for code, name, region, username, role in ENTERPRISES:
        identity.create_org(session, actor, code=code, name=name, parent=region, kind="enterprise")
        identity.create_user(
            session,
            actor,
            username=username,
            org_code=code,
            roles=[role],
            password=password,
            display_name=name,
        )
        add_login(username, name, code, role)
    people = {username: _actor(session, username) for *_rest, username, _role in ENTERPRISES}
    registrar = _actor(session, "operator")
    today = workdays.beijing_today()
    started = today - timedelta(days=40)
    for username, name, kind, rights in ASSETS[:4]:
        _through_compliance(session, people, registrar, username, name, kind, rights, started)
    numbers = [c.number for c in service.issue_due(session, registrar, keyring, today=today)]
    suite = keyring.suite_name
    if len(numbers) == 4:
        service.pledge(session, people["bank_gz"], suite, numbers[0])
        service.cancel(session, registrar, suite, numbers[2], "持有方申请注销：数据集停止更新")
        service.revoke(session, registrar, suite, numbers[3], "核查发现登记材料与事实不符")
        _change_and_license(session, people, registrar, keyring, numbers[1], today)
    username, name, kind, rights = ASSETS[4]
    pending = _through_compliance(session, people, registrar, username, name, kind, rights, today)
    service.lodge_objection(
        session,
        None,
        pending.id,
        ObjectionIn(grounds="该数据集部分数据由我司采集，权属存在争议", name="某物流公司"),
    )
    log.signed_checkpoint(session, keyring)


def _change_and_license(
    session: Session, people: dict[str, Actor], registrar: Actor, keyring: Keyring, number: str, today: date
) -> None:
    """The port's data product gets a new data version (change registration, approved), then the
    port licenses its operating right to the factory for a year."""
    change = service.apply_change(
        session,
        people["ent_port"],
        number,
        ChangeIn(
            records=1_350_000,
            update_frequency="daily",
            fingerprint=hashlib.sha256(b"container port data product v2").hexdigest(),
            reason="新增2025年下半年作业数据，改为按日更新",
        ),
    )
    service.decide_change(
        session,
        registrar,
        keyring,
        change.id,
        DecisionIn(approve=True, reason="新版本数据样本与说明一致"),
        today=today,
    )
    factory = next(code for code, *_rest, username, _role in ENTERPRISES if username == "ent_factory")
    service.grant_licence(
        session,
        people["ent_port"],
        keyring.suite_name,
        number,
        LicenceIn(
            licensee=factory,
            right="operating",
            scope="在佛山制造业供应链金融产品中使用港口作业数据产品，不得转许可",
            valid_until=today + timedelta(days=365),
        ),
        today=today,
    )


def _actor(session: Session, username: str) -> Actor:
    user = repository.user_by_username(session, username)
    assert user is not None, username
    return identity.actor_for_user(user)


def _through_compliance(
    session: Session,
    people: dict[str, Actor],
    registrar: Actor,
    username: str,
    name: str,
    kind: str,
    rights: list[str],
    today: date,
) -> Application:
    data = ApplicationIn(
        name=name,
        kind=kind,
        description=f"{name}（示范数据，已脱敏）",
        rights=rights,
        source="自有业务系统",
        collection_method="系统自动采集",
        records=1_000_000,
        scenarios=["金融授信", "行业分析"],
        fingerprint=hashlib.sha256(name.encode()).hexdigest(),
    )
    application = service.submit_application(session, people[username], data, today=today)
    service.accept_application(session, registrar, application.id, DecisionIn(approve=True))
    service.attach_report(
        session, people["assessor"], application.id, ReportIn(opinion="pass", report="来源合法、权属清晰")
    )
    service.decide_compliance(session, registrar, application.id, DecisionIn(approve=True), today=today)
    return application
