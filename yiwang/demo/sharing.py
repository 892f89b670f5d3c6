"""Demo sharing: requests in every state, grants, a few thousand logged gateway calls,
objections, demands and duty lists — all made through the sharing service verbs."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from sqlalchemy.orm import Session

from yiwang.catalog import service as catalog_service
from yiwang.identity import repository
from yiwang.identity import service as identity
from yiwang.identity.authz import Actor
from yiwang.kit import workdays
from yiwang.kit.accesslog import record_call
from yiwang.kit.crypto import get_suite
from yiwang.kit.errors import PlatformError
from yiwang.sharing import gateway, lists, service
from yiwang.sharing.schemas import (
    DecisionIn,
    DemandAnswerIn,
    DemandIn,
    DutyIn,
    ObjectionAnswerIn,
    ObjectionIn,
    RequestIn,
)

CALLS = 2000
PURPOSES = [
    ("企业开办一网通办中核验申请人信息", "《优化营商环境条例》第三十七条"),
    ("社会救助对象资格核查", "《社会救助暂行办法》第十一条"),
    ("不动产登记与税费联办核验", "《不动产登记暂行条例》第二十五条"),
    ("城市运行监测与预警分析", "《广东省公共数据管理办法》第二十条"),
]


def _staff(session: Session, department: str, *, token: str | None = None) -> Actor:
    user = repository.user_by_username(session, "staff_" + department.replace("-", "_"))
    assert user is not None, department
    if token is None:
        return identity.actor_for_user(user)
    return identity.actor_for_user(user, kind="token", token_name=token)


def build_sharing(
    session: Session, actor: Actor, codes: list[str], departments: list[str], seed: int, suite: str
) -> None:
    """Requests and grants over the loaded resources ``codes``, calls through the gateway, and the lists."""
    rng = random.Random(seed)
    today = workdays.beijing_today()
    grants: list[tuple[int, str, Actor, list[str]]] = []
    views = [catalog_service.data_view(session, code) for code in codes]
    for n, view in enumerate(views):
        consumer = rng.choice([d for d in departments if d != view.provider_code])
        system = f"{consumer.split('-')[-1]}-{n:02d}"
        requester = _staff(session, consumer)
        purpose, basis = PURPOSES[n % len(PURPOSES)]
        fields = list(view.field_names)
        req = service.submit_request(
            session,
            requester,
            RequestIn(
                resource=view.code,
                fields=fields,
                purpose=purpose,
                basis=basis,
                valid_until=today + timedelta(days=rng.choice([90, 180, 365])),
                system=system,
            ),
        )
        provider = _staff(session, view.provider_code)
        if req.status == "pending":
            stage = n % 5
            if stage in (0, 1, 2):
                narrowed = fields[: max(1, len(fields) - 1)] if stage == 1 else None
                service.decide_request(
                    session,
                    provider,
                    req.id,
                    DecisionIn(
                        approve=True, fields=narrowed, daily_quota=5000 if stage == 2 else None, reason="同意"
                    ),
                )
            elif stage == 3:
                service.decide_request(
                    session,
                    provider,
                    req.id,
                    DecisionIn(approve=False, reason="申请用途与共享条件不符，请补充依据"),
                )
            elif n % 2:
                service.escalate_request(session, requester, req.id, "超过答复期限仍未处理")
            elif n % 3 == 0:
                service.withdraw_request(session, requester, req.id, "业务调整，暂不需要")
        if req.grant_id:
            grants.append(
                (req.grant_id, view.code, _staff(session, consumer, token=system), list(view.field_names))
            )
    _calls(session, grants, rng, suite)
    if len(grants) > 3:
        service.revoke_grant(session, actor, grants[-1][0], "演示：合作项目结束，撤销授权")
    _lists(session, actor, grants, views, departments)


def _calls(
    session: Session, grants: list[tuple[int, str, Actor, list[str]]], rng: random.Random, suite: str
) -> None:
    """Gateway calls as the consumers' systems make them, each logged like a real one."""
    if not grants:
        return
    hasher = get_suite(suite).hash_hex
    for i in range(CALLS):
        _grant_id, code, caller, _fields = grants[i % len(grants)]
        query = {"limit": str(rng.choice([1, 10, 20]))}
        if i % 40 == 0:
            query["fields"] = "not_a_field"
        call = gateway.Call(call_id=uuid.uuid4().hex, resource=code, query=query)
        try:
            body = gateway.serve(session, caller, call)
            gateway.settle(session, call)
            status, reason, digest = 200, "", hasher(repr(body).encode())
        except PlatformError as refusal:
            status, reason, digest = refusal.status, refusal.code, hasher(refusal.message.encode())
        record_call(session, **call.log_fields(status=status, reason=reason, body_hash=digest, suite=suite))


def _lists(
    session: Session,
    actor: Actor,
    grants: list[tuple[int, str, Actor, list[str]]],
    views: list[catalog_service.DataView],
    departments: list[str],
) -> None:
    for n, (_grant, code, caller, _fields) in enumerate(grants[:3]):
        consumer = identity.actor_for_user(repository.user_by_username(session, caller.username))  # type: ignore[arg-type]
        objection = lists.raise_objection(
            session,
            consumer,
            ObjectionIn(resource=code, keys=[f"demo-{n}"], description="记录与本部门核实情况不符"),
        )
        view = next(v for v in views if v.code == code)
        if n == 1:
            lists.answer_objection(
                session,
                _staff(session, view.provider_code),
                objection.id,
                ObjectionAnswerIn(outcome="rejected", answer="经核实，源数据无误"),
            )
    for n, view in enumerate(views[:3]):
        asker = _staff(session, next(d for d in departments if d != view.provider_code))
        demand = lists.post_demand(
            session,
            asker,
            DemandIn(
                title=f"{view.name}相关数据",
                items=["统一社会信用代码", "名称"],
                purpose="审批核验",
                provider=view.provider_code,
            ),
        )
        if n == 0:
            lists.answer_demand(
                session, _staff(session, view.provider_code), demand.id, DemandAnswerIn(resource=view.code)
            )
        elif n == 1:
            lists.answer_demand(
                session,
                _staff(session, view.provider_code),
                demand.id,
                DemandAnswerIn(reason="该数据尚未归集，计划明年提供"),
            )
    for view in views:
        lists.assign_duty(
            session, actor, DutyIn(org=view.provider_code, resource=view.code, note="按更新周期维护")
        )
