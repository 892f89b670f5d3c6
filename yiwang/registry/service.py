"""Registry rules: apply → accept → compliance review → public notice → certificate, then the
certificate's life (pledge, release, transfer, cancellation, revocation), every event a leaf of
the registry's transparency log.

Verbs take ``(session, actor, ...)``, check the authorization table, write an audit entry and
flush; the entrypoint commits. Time limits count working days (工作日) in Beijing time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from yiwang.identity import service as identity
from yiwang.identity.authz import Actor, Scope, authorize, register_actions
from yiwang.identity.models import Org
from yiwang.kit import audit, workdays
from yiwang.kit.audit import canonical_json
from yiwang.kit.crypto import Keyring, get_suite
from yiwang.kit.db import utcnow
from yiwang.kit.errors import Conflict, InvalidInput, NotFound
from yiwang.registry import log
from yiwang.registry.models import (
    Application,
    Certificate,
    CertificateEvent,
    CertificateSequence,
    NoticeObjection,
)
from yiwang.registry.schemas import ApplicationIn, DecisionIn, ObjectionIn, ReportIn

REGISTRY: dict[str, Scope] = {"admin": "all", "operator": "all"}
register_actions(
    {
        # apply to register a data asset held by one's own organisation
        "registry.apply": {"enterprise": "own_org", "staff": "own_org", "cdo": "subtree"},
        # see applications (the holder its own; the registry, assessors and auditors all)
        "registry.view": {
            "enterprise": "own_org",
            "staff": "own_org",
            "cdo": "subtree",
            "assessor": "all",
            "auditor": "all",
            **REGISTRY,
        },
        # the registry's decisions: acceptance, compliance, objections, issuing, transfer, cancel, revoke
        "registry.review": REGISTRY,
        # attach a compliance report (a third-party assessor)
        "registry.assess": {"assessor": "all"},
        # record or release a pledge (a bank)
        "registry.pledge": {"bank": "all"},
    }
)

ACCEPT_DAYS = 5
NOTICE_DAYS = 10
VALID_YEARS = 3
RIGHTS_ZH = {"holding": "数据资源持有权", "processing": "数据加工使用权", "operating": "数据产品经营权"}
STATUS_ZH = {"active": "有效", "pledged": "已质押", "cancelled": "已注销", "revoked": "已撤销"}


class WrongState(Conflict):
    code = "wrong_state"


class CertificateNotFound(NotFound):
    code = "certificate_not_found"


class ApplicationNotFound(NotFound):
    code = "application_not_found"


def _record(
    session: Session, actor: Actor, action: str, target_type: str, target: object, **details: Any
) -> None:
    audit.record(session, actor, action, target_type=target_type, target_id=target, details=details)


def _org(session: Session, org_id: int) -> Org:
    return identity.orgs_by_ids(session, {org_id})[org_id]


# ------------------------------------------------------------------ applications


def submit_application(
    session: Session, actor: Actor, data: ApplicationIn, *, today: date | None = None
) -> Application:
    """Apply to register an asset held by the applicant's organisation."""
    today = today or workdays.beijing_today()
    holder = identity.org_by_code(session, actor.org_code)
    if holder is None:
        raise InvalidInput("holder：当前账号不属于任何单位，不能申请登记", details={"field": "holder"})
    authorize(actor, "registry.apply", org_path=holder.path, target_type="registry_application")
    if data.personal_info and not data.personal_info_basis:
        raise InvalidInput(
            "personal_info_basis：涉及个人信息的数据须说明合法性基础（如个人同意、法定职责）",
            details={"field": "personal_info_basis"},
        )
    application = Application(
        holder_id=holder.id,
        name=data.name,
        kind=data.kind,
        description=data.description,
        rights=json.dumps(data.rights),
        source=data.source,
        collection_method=data.collection_method,
        personal_info=data.personal_info,
        personal_info_basis=data.personal_info_basis,
        records=data.records,
        size_bytes=data.size_bytes,
        field_summary=data.field_summary,
        update_frequency=data.update_frequency,
        time_range=data.time_range,
        scenarios=json.dumps(data.scenarios, ensure_ascii=False),
        fingerprint=data.fingerprint,
        catalog_resource=data.catalog_resource,
        status="submitted",
        accept_by=workdays.deadline_or_estimate(today, ACCEPT_DAYS),
        applicant=actor.username,
    )
    session.add(application)
    session.flush()
    _record(session, actor, "registry.apply", "registry_application", application.id, name=data.name)
    return application


def get_application(session: Session, actor: Actor, application_id: int) -> Application:
    application = session.get(Application, application_id)
    if application is None:
        raise ApplicationNotFound(f"登记申请 #{application_id} 不存在")
    holder = _org(session, application.holder_id)
    authorize(
        actor,
        "registry.view",
        org_path=holder.path,
        target_type="registry_application",
        target_id=application_id,
    )
    return application


def list_applications(
    session: Session, *, statuses: Sequence[str] | None = None, holders: Select[Any] | None = None
) -> list[Application]:
    """Applications in ``statuses`` (all when None) of the ``holders`` (a subquery of org ids; all
    when None), oldest first. Callers decide who may see which list (the holder its own, the
    registry its queue, everyone the public notice)."""
    query = select(Application).order_by(Application.id)
    if statuses is not None:
        query = query.where(Application.status.in_(statuses))
    if holders is not None:
        query = query.where(Application.holder_id.in_(holders))
    return list(session.execute(query).scalars())


def objections_of(session: Session, application_ids: Sequence[int]) -> dict[int, list[NoticeObjection]]:
    """The objections lodged against each application, oldest first."""
    found: dict[int, list[NoticeObjection]] = {i: [] for i in application_ids}
    if application_ids:
        query = (
            select(NoticeObjection)
            .where(NoticeObjection.application_id.in_(application_ids))
            .order_by(NoticeObjection.id)
        )
        for objection in session.execute(query).scalars():
            found[objection.application_id].append(objection)
    return found


def certificate_numbers(session: Session, application_ids: Sequence[int]) -> dict[int, str]:
    """The certificate number issued for each application that has one."""
    if not application_ids:
        return {}
    rows = session.execute(
        select(Certificate.application_id, Certificate.number).where(
            Certificate.application_id.in_(application_ids)
        )
    )
    return {app_id: number for app_id, number in rows}


def _application(session: Session, actor: Actor, application_id: int, action: str) -> Application:
    application = session.get(Application, application_id)
    if application is None:
        raise ApplicationNotFound(f"登记申请 #{application_id} 不存在")
    authorize(actor, action, target_type="registry_application", target_id=application_id)
    return application


def _expect(application: Application, *states: str) -> None:
    if application.status not in states:
        raise WrongState(f"登记申请 #{application.id} 当前状态为 {application.status}，不能执行此操作")


def accept_application(
    session: Session, actor: Actor, application_id: int, decision: DecisionIn
) -> Application:
    """The registry's formal check: accept into compliance review, or refuse with reasons."""
    application = _application(session, actor, application_id, "registry.review")
    _expect(application, "submitted")
    if decision.approve:
        application.status = "compliance"
    else:
        _refuse(application, decision.reason)
    _record(
        session, actor, "registry.accept", "registry_application", application.id, approve=decision.approve
    )
    session.flush()
    return application


def _refuse(application: Application, reason: str) -> None:
    if not reason:
        raise InvalidInput("reason：不予登记须说明理由", details={"field": "reason"})
    application.status, application.reason = "refused", reason


def attach_report(session: Session, actor: Actor, application_id: int, data: ReportIn) -> Application:
    """A third-party assessor attaches its compliance report and opinion."""
    application = _application(session, actor, application_id, "registry.assess")
    _expect(application, "compliance")
    application.report, application.report_opinion, application.assessor = (
        data.report,
        data.opinion,
        actor.username,
    )
    _record(session, actor, "registry.assess", "registry_application", application.id, opinion=data.opinion)
    session.flush()
    return application


def decide_compliance(
    session: Session, actor: Actor, application_id: int, decision: DecisionIn, *, today: date | None = None
) -> Application:
    """The registry decides on the assessor's report: into public notice, or refused with reasons."""
    today = today or workdays.beijing_today()
    application = _application(session, actor, application_id, "registry.review")
    _expect(application, "compliance")
    if decision.approve:
        if not application.report:
            raise InvalidInput("report：合规评估报告尚未提交，不能通过合规审查", details={"field": "report"})
        application.status = "notice"
        application.notice_start, application.notice_end = (
            today,
            workdays.deadline_or_estimate(today, NOTICE_DAYS),
        )
    else:
        _refuse(application, decision.reason)
    _record(
        session,
        actor,
        "registry.compliance",
        "registry_application",
        application.id,
        approve=decision.approve,
    )
    session.flush()
    return application


def lodge_objection(
    session: Session,
    actor: Actor | None,
    application_id: int,
    data: ObjectionIn,
    *,
    today: date | None = None,
) -> NoticeObjection:
    """Anyone may object during public notice, with grounds; an open objection pauses the notice."""
    today = today or workdays.beijing_today()
    application = session.get(Application, application_id)
    if application is None or application.status not in ("notice", "paused"):
        raise ApplicationNotFound(f"公示中的登记申请 #{application_id} 不存在")
    who = actor.username if actor is not None else f"公众：{data.name or '匿名'}"
    objection = NoticeObjection(
        application_id=application.id, lodged_by=who, grounds=data.grounds, status="open"
    )
    session.add(objection)
    if application.status == "notice":
        application.status, application.paused_at = "paused", today
    session.flush()
    principal = actor or Actor.anonymous(data.name or "public")
    _record(
        session, principal, "registry.object", "registry_application", application.id, objection=objection.id
    )
    return objection


def decide_objection(
    session: Session, actor: Actor, objection_id: int, *, uphold: bool, reason: str, today: date | None = None
) -> NoticeObjection:
    """Uphold (the application is refused) or dismiss (the notice resumes for the days it had left)."""
    today = today or workdays.beijing_today()
    objection = session.get(NoticeObjection, objection_id)
    if objection is None:
        raise NotFound(f"异议 #{objection_id} 不存在")
    application = _application(session, actor, objection.application_id, "registry.review")
    if objection.status != "open":
        raise WrongState(f"异议 #{objection.id} 已处理")
    if not reason:
        raise InvalidInput("reason：处理异议须说明理由", details={"field": "reason"})
    objection.status, objection.decision, objection.decided_at = (
        ("upheld" if uphold else "dismissed"),
        reason,
        utcnow(),
    )
    if uphold:
        application.status, application.reason = "refused", f"公示异议成立：{reason}"
        _close_other_objections(session, application.id, objection.id)
    elif not _open_objections(session, application.id):
        _resume_notice(application, today)
    _record(session, actor, "registry.objection", "registry_objection", objection.id, uphold=uphold)
    session.flush()
    return objection


def _close_other_objections(session: Session, application_id: int, upheld_id: int) -> None:
    """An upheld objection ends the application: the others need no decision any more."""
    others = session.execute(
        select(NoticeObjection).where(
            NoticeObjection.application_id == application_id,
            NoticeObjection.status == "open",
            NoticeObjection.id != upheld_id,
        )
    ).scalars()
    for other in others:
        other.status, other.decided_at = "closed", utcnow()
        other.decision = f"异议 #{upheld_id} 成立，申请已不予登记，本异议无需再处理"


def _open_objections(session: Session, application_id: int) -> int:
    rows = session.execute(
        select(NoticeObjection.id).where(
            NoticeObjection.application_id == application_id, NoticeObjection.status == "open"
        )
    ).all()
    return len(rows)


def _resume_notice(application: Application, today: date) -> None:
    """The notice gets back the working days it had left when the objection paused it."""
    assert application.paused_at is not None
    assert application.notice_end is not None
    try:
        left = workdays.working_days_between(application.paused_at, application.notice_end)
    except workdays.CalendarUnknownYear:
        left = max(0, (application.notice_end - application.paused_at).days * 5 // 7)
    application.notice_end = workdays.deadline_or_estimate(today, max(1, left))
    application.status, application.paused_at = "notice", None


def issue_due(
    session: Session, actor: Actor, keyring: Keyring, *, today: date | None = None
) -> list[Certificate]:
    """Issue a certificate for every application whose public notice ended without open objections."""
    today = today or workdays.beijing_today()
    authorize(actor, "registry.review", target_type="registry_application")
    due = session.execute(
        select(Application).where(Application.status == "notice", Application.notice_end < today)
    ).scalars()
    return [_issue(session, actor, keyring, application, today) for application in list(due)]


# ------------------------------------------------------------------ certificates


def _next_number(session: Session, year: int) -> str:
    row = session.execute(
        select(CertificateSequence).where(CertificateSequence.year == year).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        row = CertificateSequence(year=year, last=0)
        session.add(row)
    row.last += 1
    return f"GD-DA-{year}-{row.last:06d}"


def _issue(
    session: Session, actor: Actor, keyring: Keyring, application: Application, today: date
) -> Certificate:
    holder = _org(session, application.holder_id)
    number = _next_number(session, today.year)
    valid_until = today.replace(year=today.year + VALID_YEARS)
    body = {
        "number": number,
        "name": application.name,
        "kind": application.kind,
        "holder": {"code": holder.code, "name": holder.name},
        "rights": json.loads(application.rights),
        "fingerprint": application.fingerprint,
        "records": application.records,
        "size_bytes": application.size_bytes,
        "update_frequency": application.update_frequency,
        "time_range": application.time_range,
        "scenarios": json.loads(application.scenarios),
        "personal_info": application.personal_info,
        "issued": today.isoformat(),
        "valid_until": valid_until.isoformat(),
        "registry": "广东省数据资产登记机构",
        "suite": keyring.suite_name,
    }
    text = canonical_json(body)
    signature = keyring.sign(certificate_message(text))
    certificate = Certificate(
        number=number,
        application_id=application.id,
        holder_id=holder.id,
        name=application.name,
        status="active",
        valid_until=valid_until,
        body=text,
        signature=canonical_json(signature.to_dict()),
    )
    session.add(certificate)
    session.flush()
    application.status = "issued"
    _event(session, keyring.suite_name, certificate, "issue", holder=holder.code)
    _record(session, actor, "registry.issue", "certificate", number, application=application.id)
    return certificate


CERTIFICATE_CONTEXT = "yiwang-data-asset-certificate"


def certificate_message(body_text: str) -> bytes:
    """What the registry signs: its context and the certificate's canonical JSON."""
    return (CERTIFICATE_CONTEXT + "\x1f" + body_text).encode()


def _event(
    session: Session, suite: str, certificate: Certificate, kind: str, **details: Any
) -> CertificateEvent:
    leaf = canonical_json(
        {
            "certificate": certificate.number,
            "event": kind,
            "status": certificate.status,
            "body_hash": get_suite(suite).hash_hex(certificate.body.encode()),
            "at": utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "details": details,
        }
    )
    index, leaf_hash = log.append(session, suite, leaf.encode())
    event = CertificateEvent(
        certificate_id=certificate.id, kind=kind, leaf=leaf, leaf_index=index, leaf_hash=leaf_hash
    )
    session.add(event)
    session.flush()
    return event


def _certificate(session: Session, number: str) -> Certificate:
    certificate = session.execute(
        select(Certificate).where(Certificate.number == number)
    ).scalar_one_or_none()
    if certificate is None:
        raise CertificateNotFound(f"凭证 {number} 不存在")
    return certificate


def pledge(session: Session, actor: Actor, suite: str, number: str) -> Certificate:
    """A bank records a pledge: only on an active, unpledged certificate; racing banks → one wins."""
    authorize(actor, "registry.pledge", target_type="certificate", target_id=number)
    certificate = _certificate(session, number)
    # The conditional UPDATE is the arbiter: of two banks pledging at once, one matches the row.
    won = session.execute(
        update(Certificate)
        .where(Certificate.id == certificate.id, Certificate.status == "active")
        .values(status="pledged", pledgee_id=actor.org_id)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount == 0:  # type: ignore[attr-defined]
        session.refresh(certificate)
        raise WrongState(
            f"凭证 {number} 当前{STATUS_ZH.get(certificate.status, certificate.status)}，不能质押"
        )
    session.refresh(certificate)
    _event(session, suite, certificate, "pledge", pledgee=actor.org_code)
    _record(session, actor, "registry.pledge", "certificate", number)
    return certificate


def release(session: Session, actor: Actor, suite: str, number: str) -> Certificate:
    """The pledgee bank releases its pledge."""
    authorize(actor, "registry.pledge", target_type="certificate", target_id=number)
    certificate = _certificate(session, number)
    if certificate.status != "pledged" or certificate.pledgee_id != actor.org_id:
        raise WrongState(f"凭证 {number} 没有本行的质押，不能解除")
    certificate.status, certificate.pledgee_id = "active", None
    session.flush()
    _event(session, suite, certificate, "release", pledgee=actor.org_code)
    _record(session, actor, "registry.release", "certificate", number)
    return certificate


def _not_pledged(certificate: Certificate, what: str) -> None:
    if certificate.status == "pledged":
        raise WrongState(f"凭证 {certificate.number} 已质押，解除质押前不能{what}")
    if certificate.status != "active":
        raise WrongState(
            f"凭证 {certificate.number} {STATUS_ZH.get(certificate.status, certificate.status)}，不能{what}"
        )


def transfer(session: Session, actor: Actor, suite: str, number: str, to: str, reason: str) -> Certificate:
    """Record a transfer to another holder (not while pledged)."""
    authorize(actor, "registry.review", target_type="certificate", target_id=number)
    certificate = _certificate(session, number)
    _not_pledged(certificate, "转让")
    new_holder = identity.org_by_code(session, to)
    if new_holder is None:
        raise InvalidInput(f"to：受让方 {to} 不存在", details={"field": "to"})
    if new_holder.id == certificate.holder_id:
        raise InvalidInput("to：受让方与现持有方相同", details={"field": "to"})
    certificate.holder_id = new_holder.id
    session.flush()
    _event(session, suite, certificate, "transfer", holder=new_holder.code, reason=reason)
    _record(session, actor, "registry.transfer", "certificate", number, to=to)
    return certificate


def cancel(session: Session, actor: Actor, suite: str, number: str, reason: str) -> Certificate:
    """Cancel at the holder's request (not while pledged)."""
    authorize(actor, "registry.review", target_type="certificate", target_id=number)
    certificate = _certificate(session, number)
    _not_pledged(certificate, "注销")
    certificate.status = "cancelled"
    session.flush()
    _event(session, suite, certificate, "cancel", reason=reason)
    _record(session, actor, "registry.cancel", "certificate", number)
    return certificate


def revoke(session: Session, actor: Actor, suite: str, number: str, reason: str) -> Certificate:
    """Revoke (an objection upheld after issue, fraud found): final."""
    authorize(actor, "registry.review", target_type="certificate", target_id=number)
    certificate = _certificate(session, number)
    if certificate.status in ("cancelled", "revoked"):
        raise WrongState(f"凭证 {number} {STATUS_ZH[certificate.status]}")
    # A revocation ends a pledge too: the event says so, for the bank reading the log.
    pledgee = _org(session, certificate.pledgee_id).code if certificate.pledgee_id else None
    certificate.status, certificate.pledgee_id = "revoked", None
    session.flush()
    _event(session, suite, certificate, "revoke", reason=reason, pledge_ended=pledgee)
    _record(session, actor, "registry.revoke", "certificate", number)
    return certificate


def acceptance_overdue(application: Application, today: date | None = None) -> bool:
    """A submitted application the registry has not checked within its working days."""
    today = today or workdays.beijing_today()
    return (
        application.status == "submitted"
        and application.accept_by is not None
        and today > application.accept_by
    )


@dataclass(frozen=True)
class Standing:
    """What another network (the exchange) needs to know of a certificate before relying on it."""

    number: str
    status: str
    holder: str
    listable: bool  # active and not pledged: may be listed, licensed or sold


def standing(session: Session, number: str) -> Standing:
    """The certificate's current status and holder; CertificateNotFound when unknown."""
    certificate = _certificate(session, number)
    holder = _org(session, certificate.holder_id)
    return Standing(certificate.number, certificate.status, holder.code, certificate.status == "active")


@dataclass(frozen=True)
class Listed:
    number: str
    status: str
    holder: str
    name: str


def list_certificates(session: Session, *, status: str | None = None) -> list[Listed]:
    """Every certificate's number, status, holder and name: public, as a register is."""
    query = (
        select(Certificate, Org.code).join(Org, Org.id == Certificate.holder_id).order_by(Certificate.number)
    )
    if status:
        query = query.where(Certificate.status == status)
    return [Listed(c.number, c.status, code, c.name) for c, code in session.execute(query)]


def certificate_events(session: Session, number: str) -> tuple[Certificate, list[CertificateEvent]]:
    certificate = _certificate(session, number)
    events = list(
        session.execute(
            select(CertificateEvent)
            .where(CertificateEvent.certificate_id == certificate.id)
            .order_by(CertificateEvent.leaf_index)
        ).scalars()
    )
    return certificate, events
