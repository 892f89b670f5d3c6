"""Registry rules: apply → accept → compliance review → public notice → certificate, then the
certificate's life (change, licence, pledge, release, transfer, cancellation, revocation), every
event a leaf of the registry's transparency log.

Verbs take ``(session, actor, ...)``, check the authorization table, write an audit entry and
flush; the entrypoint commits. Time limits count working days (工作日) in Beijing time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, get_args

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from yiwang.identity import service as identity
from yiwang.identity.authz import AccessDenied, Actor, Scope, authorize, reach, register_actions
from yiwang.identity.models import Org
from yiwang.kit import audit, workdays
from yiwang.kit.audit import canonical_json
from yiwang.kit.crypto import Keyring, get_suite
from yiwang.kit.db import utcnow
from yiwang.kit.errors import Conflict, InvalidInput, NotFound
from yiwang.registry import log
from yiwang.registry.files import (
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    AttachmentStore,
    safe_name,
    sniff,
    with_extension,
)
from yiwang.registry.models import (
    Application,
    Attachment,
    Certificate,
    CertificateEvent,
    CertificateSequence,
    ChangeRequest,
    Licence,
    NoticeObjection,
)
from yiwang.registry.schemas import (
    ApplicationIn,
    AttachmentKind,
    ChangeIn,
    DecisionIn,
    LicenceIn,
    ObjectionIn,
    ReportIn,
)

REGISTRY: dict[str, Scope] = {"admin": "all", "operator": "all"}
register_actions(
    {
        # apply to register a data asset held by one's own organisation
        "registry.apply": {"enterprise": "own_org", "staff": "own_org", "cdo": "subtree"},
        # attach supporting documents to an application of one's own organisation (the registry: to
        # any), while it is submitted or in compliance review
        "registry.attach": {"enterprise": "own_org", "staff": "own_org", "cdo": "subtree", **REGISTRY},
        # act as the holder of one's own organisation's certificates: apply for a change
        # registration, license usage rights to another org, end such a licence early
        "registry.hold": {"enterprise": "own_org", "staff": "own_org", "cdo": "subtree"},
        # see applications (the holder its own; the registry, assessors and auditors all)
        "registry.view": {
            "enterprise": "own_org",
            "staff": "own_org",
            "cdo": "subtree",
            "assessor": "all",
            "auditor": "all",
            **REGISTRY,
        },
        # the registry's decisions: acceptance, compliance, objections, issuing, changes, transfer,
        # cancel, revoke (and ending a licence)
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
EVENT_ZH = {
    "issue": "签发",
    "change": "变更登记",
    "licence": "授权许可",
    "licence_end": "许可终止",
    "transfer": "转让",
    "pledge": "质押",
    "release": "解除质押",
    "cancel": "注销",
    "revoke": "撤销",
}
# The registered fields a change registration may change, as named in the certificate body. The
# holder, the rights, the kind and personal information are not among them: a new holder is a
# transfer, and different rights or personal information need a new registration with its own
# compliance review and public notice.
CHANGEABLE = (
    "name",
    "description",
    "records",
    "size_bytes",
    "update_frequency",
    "time_range",
    "scenarios",
    "fingerprint",
)
FIELD_ZH = {
    "name": "资产名称",
    "description": "资产描述",
    "records": "记录数",
    "size_bytes": "数据量（字节）",
    "update_frequency": "更新频率",
    "time_range": "时间范围",
    "scenarios": "应用场景",
    "fingerprint": "数据指纹",
}
CHANGE_STATUS_ZH = {
    "submitted": "待审核",
    "approved": "已核准",
    "refused": "不予变更",
    "withdrawn": "已撤回",
    "lapsed": "已失效",  # the certificate was transferred, cancelled or revoked before the decision
}


APPLICATION_STATUS_ZH = {
    "submitted": "待受理",
    "compliance": "合规审查中",
    "notice": "公示中",
    "paused": "公示暂停",
    "issued": "已发证",
    "refused": "不予登记",
    "withdrawn": "已撤回",
}
ATTACHMENT_KINDS: tuple[str, ...] = get_args(AttachmentKind)
ATTACHMENT_KIND_ZH = {
    "source_proof": "数据来源证明",
    "authorization": "授权书",
    "compliance_self_assessment": "合规自评报告",
    "sample": "样例数据",
    "other": "其他材料",
}
# Attachments may be added until the public notice starts: what the public sees in the notice, and
# what the certificate then lists, is the material the registry reviewed.
ATTACHABLE = ("submitted", "compliance")


class WrongState(Conflict):
    code = "wrong_state"


class CertificateNotFound(NotFound):
    code = "certificate_not_found"


class ApplicationNotFound(NotFound):
    code = "application_not_found"


class ChangeNotFound(NotFound):
    code = "change_not_found"


class LicenceNotFound(NotFound):
    code = "licence_not_found"


class AttachmentNotFound(NotFound):
    code = "attachment_not_found"


class NotRevealed(AccessDenied):
    """A refusal answered as "not found", so that whether another organisation's application (or its
    attachment) exists is not revealed. Still an :class:`AccessDenied`: the app records it in the
    audit log as a denied attempt (with the action and target), in a transaction of its own."""

    status = 404

    def __init__(self, denied: AccessDenied, message: str, code: str) -> None:
        super().__init__(denied.actor, denied.action, denied.target_type, denied.target_id, "不在查看范围内")
        self.message, self.details, self.args = message, None, (message,)
        self.code = code  # type: ignore[misc]


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


# ------------------------------------------------------------------ attachments (证明材料)


def visible_application(
    session: Session, actor: Actor, application_id: int, *, lock: bool = False
) -> tuple[Application, Org]:
    """The application and its holder, when the actor may see it; "not found" otherwise (an
    application of another organisation is not revealed). ``lock`` holds its row until the
    transaction ends (an upload counts the attachments and checks the state under it)."""
    query = select(Application).where(Application.id == application_id)
    if lock:
        query = query.with_for_update()
    application = session.execute(query).scalar_one_or_none()
    missing = f"登记申请 #{application_id} 不存在"
    if application is None:
        raise ApplicationNotFound(missing)
    holder = _org(session, application.holder_id)
    try:
        authorize(
            actor,
            "registry.view",
            org_path=holder.path,
            target_type="registry_application",
            target_id=application_id,
        )
    except AccessDenied as denied:
        raise NotRevealed(denied, missing, ApplicationNotFound.code) from None
    return application, holder


def may_attach(actor: Actor | None, application: Application, holder: Org) -> bool:
    """Whether the actor may add attachments to the application now (its state allows, and it acts
    for the holder or is the registry)."""
    if actor is None or application.status not in ATTACHABLE:
        return False
    try:
        authorize(actor, "registry.attach", org_path=holder.path)
    except AccessDenied:
        return False
    return True


def add_attachment(
    session: Session,
    actor: Actor,
    store: AttachmentStore,
    suite: str,
    application_id: int,
    *,
    kind: str,
    filename: str,
    content: bytes,
) -> Attachment:
    """The holder's staff (or the registry) attach a supporting document to an application that is
    submitted or in compliance review: at most 20 per application, each at most 20 MB, of a type
    found from the file's bytes (PDF, PNG, JPEG, DOCX, XLSX, ZIP, UTF-8 CSV or text). Every check
    comes before anything is stored; the file is kept by its hash (SHA-256 or SM3)."""
    application, holder = visible_application(session, actor, application_id, lock=True)
    authorize(
        actor,
        "registry.attach",
        org_path=holder.path,
        target_type="registry_application",
        target_id=application_id,
    )
    if application.status not in ATTACHABLE:
        state = APPLICATION_STATUS_ZH.get(application.status, application.status)
        raise WrongState(
            f"status：登记申请 #{application.id} {state}，不能再上传附件（只在待受理和合规审查阶段可以上传，"
            "公示开始后材料不再变动）",
            details={"field": "status", "status": application.status},
        )
    if kind not in ATTACHMENT_KINDS:
        raise InvalidInput(
            "kind：附件类别应为 " + "、".join(f"{k}（{ATTACHMENT_KIND_ZH[k]}）" for k in ATTACHMENT_KINDS),
            details={"field": "kind"},
        )
    count = session.execute(
        select(func.count(Attachment.id)).where(Attachment.application_id == application.id)
    ).scalar_one()
    if count >= MAX_ATTACHMENTS:
        raise InvalidInput(
            f"file：每件登记申请最多 {MAX_ATTACHMENTS} 份附件，本申请已有 {count} 份",
            details={"field": "file"},
        )
    if not content:
        raise InvalidInput("file：文件为空", details={"field": "file"})
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise InvalidInput(
            f"file：文件超过 {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB（{len(content)} 字节）",
            details={"field": "file"},
        )
    name = safe_name(filename)
    found = sniff(content, name)
    name = with_extension(name, found)
    digest = get_suite(suite).hash_hex(content)
    store.put(session, digest, content)
    attachment = Attachment(
        application_id=application.id,
        kind=kind,
        name=name,
        content_type=found.content_type,
        size=len(content),
        hash=digest,
        uploaded_by=actor.username,
    )
    session.add(attachment)
    session.flush()
    # The file name stays out of the audit entry: names may carry personal data ("张三身份证.pdf").
    _record(
        session,
        actor,
        "registry.attachment.upload",
        "registry_application",
        application.id,
        attachment=attachment.id,
        kind=kind,
        size=len(content),
        hash=digest,
    )
    return attachment


def list_attachments(session: Session, actor: Actor, application_id: int) -> list[Attachment]:
    """An application's attachments, oldest first: for its holder, assessors, auditors and the
    registry; "not found" for anyone else."""
    application, _holder = visible_application(session, actor, application_id)
    return attachments_of(session, [application.id])[application.id]


def attachments_of(session: Session, application_ids: Sequence[int]) -> dict[int, list[Attachment]]:
    """The attachments of each application, oldest first (one query). Callers decide who may see."""
    found: dict[int, list[Attachment]] = {i: [] for i in application_ids}
    if application_ids:
        query = (
            select(Attachment).where(Attachment.application_id.in_(application_ids)).order_by(Attachment.id)
        )
        for attachment in session.execute(query).scalars():
            found[attachment.application_id].append(attachment)
    return found


def download_attachment(session: Session, actor: Actor, attachment_id: int) -> Attachment:
    """An attachment to send, for those who may see its application (else "not found"); audited."""
    attachment = session.get(Attachment, attachment_id)
    missing = f"附件 #{attachment_id} 不存在"
    if attachment is None:
        raise AttachmentNotFound(missing)
    try:
        visible_application(session, actor, attachment.application_id)
    except NotRevealed as hidden:
        raise NotRevealed(hidden, missing, AttachmentNotFound.code) from None
    _record(
        session,
        actor,
        "registry.attachment.download",
        "registry_attachment",
        attachment.id,
        application=attachment.application_id,
        hash=attachment.hash,
    )
    return attachment


def certified_attachments(attachments: Sequence[Attachment]) -> list[dict[str, Any]]:
    """What a certificate body says of the attachments: kind, name, hash and size of each."""
    return [{"kind": a.kind, "name": a.name, "hash": a.hash, "size": a.size} for a in attachments]


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
    due = list(
        session.execute(
            select(Application).where(Application.status == "notice", Application.notice_end < today)
        ).scalars()
    )
    attachments = attachments_of(session, [application.id for application in due])
    return [
        _issue(session, actor, keyring, application, today, attachments[application.id])
        for application in due
    ]


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
    session: Session,
    actor: Actor,
    keyring: Keyring,
    application: Application,
    today: date,
    attachments: Sequence[Attachment] = (),
) -> Certificate:
    holder = _org(session, application.holder_id)
    number = _next_number(session, today.year)
    valid_until = today.replace(year=today.year + VALID_YEARS)
    body = {
        "number": number,
        "name": application.name,
        "kind": application.kind,
        "holder": {"code": holder.code, "name": holder.name},
        "description": application.description,
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
        "version": 1,  # a change registration re-signs the body as version 2, 3, …
    }
    if attachments:
        # Only when there are any: certificates issued without attachments keep the body they had.
        body["attachments"] = certified_attachments(attachments)
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
    """Append the certificate's next event to the log. ``seq`` numbers a certificate's events 1, 2, …
    inside the signed leaves, so a bundle that leaves one out is caught offline. The verbs lock the
    certificate's row first (PostgreSQL; SQLite's write transaction is exclusive), so no two events
    of one certificate get the same number."""
    seq = session.execute(
        select(func.count(CertificateEvent.id)).where(CertificateEvent.certificate_id == certificate.id)
    ).scalar_one()
    leaf = canonical_json(
        {
            "certificate": certificate.number,
            "seq": seq + 1,
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


def _certificate(session: Session, number: str, *, lock: bool = False) -> Certificate:
    """The certificate ``number``; ``lock`` holds its row until the transaction ends, so that a verb
    that checks the status and then acts cannot interleave with another (a transfer with a pledge)."""
    query = select(Certificate).where(Certificate.number == number)
    if lock:
        query = query.with_for_update()
    certificate = session.execute(query).scalar_one_or_none()
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
    certificate = _certificate(session, number, lock=True)
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
    certificate = _certificate(session, number, lock=True)
    _not_pledged(certificate, "转让")
    new_holder = identity.org_by_code(session, to)
    if new_holder is None:
        raise InvalidInput(f"to：受让方 {to} 不存在", details={"field": "to"})
    if new_holder.id == certificate.holder_id:
        raise InvalidInput("to：受让方与现持有方相同", details={"field": "to"})
    certificate.holder_id = new_holder.id
    _lapse_changes(session, certificate, "凭证已转让，变更申请失效；如需变更，由现持有方重新申请")
    session.flush()
    _event(session, suite, certificate, "transfer", holder=new_holder.code, reason=reason)
    _record(session, actor, "registry.transfer", "certificate", number, to=to)
    return certificate


def cancel(session: Session, actor: Actor, suite: str, number: str, reason: str) -> Certificate:
    """Cancel at the holder's request (not while pledged); the licences registered on it end with it."""
    authorize(actor, "registry.review", target_type="certificate", target_id=number)
    certificate = _certificate(session, number, lock=True)
    _not_pledged(certificate, "注销")
    certificate.status = "cancelled"
    ended = _end_licences(session, certificate, f"凭证注销：{reason}")
    _lapse_changes(session, certificate, "凭证已注销，变更申请失效")
    session.flush()
    _event(
        session, suite, certificate, "cancel", reason=reason, **({"licences_ended": ended} if ended else {})
    )
    _record(session, actor, "registry.cancel", "certificate", number)
    return certificate


def revoke(session: Session, actor: Actor, suite: str, number: str, reason: str) -> Certificate:
    """Revoke (an objection upheld after issue, fraud found): final. Ends a pledge and the licences."""
    authorize(actor, "registry.review", target_type="certificate", target_id=number)
    certificate = _certificate(session, number, lock=True)
    if certificate.status in ("cancelled", "revoked"):
        raise WrongState(f"凭证 {number} {STATUS_ZH[certificate.status]}")
    # A revocation ends a pledge too: the event says so, for the bank reading the log.
    pledgee = _org(session, certificate.pledgee_id).code if certificate.pledgee_id else None
    certificate.status, certificate.pledgee_id = "revoked", None
    ended = _end_licences(session, certificate, f"凭证撤销：{reason}")
    _lapse_changes(session, certificate, "凭证已撤销，变更申请失效")
    session.flush()
    _event(
        session,
        suite,
        certificate,
        "revoke",
        reason=reason,
        pledge_ended=pledgee,
        **({"licences_ended": ended} if ended else {}),
    )
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


# ------------------------------------------------------------------ change registration (变更登记)


def _holder_of(session: Session, actor: Actor, certificate: Certificate) -> Org:
    """The certificate's current holder, once the actor is found to act for it."""
    holder = _org(session, certificate.holder_id)
    authorize(
        actor, "registry.hold", org_path=holder.path, target_type="certificate", target_id=certificate.number
    )
    return holder


def registered_fields(session: Session, certificate: Certificate) -> dict[str, Any]:
    """The current value of each changeable registered field (as certified, or as applied for when
    a certificate issued before descriptions were certified has none in its body)."""
    body = json.loads(certificate.body)
    if "description" not in body:
        application = session.get(Application, certificate.application_id)
        body["description"] = application.description if application is not None else ""
    return {key: body.get(key) for key in CHANGEABLE}


def apply_change(session: Session, actor: Actor, number: str, data: ChangeIn) -> ChangeRequest:
    """The holder applies to change registered fields of its active (or pledged) certificate, with a
    reason; the registry then approves or refuses. One change application at a time per certificate.

    A pledge does not stop a change: the pledge is over the asset, which may get a new data version
    (a new fingerprint); the change is in the log for the bank to see. Transfer and cancellation stay
    refused while pledged."""
    certificate = _certificate(session, number, lock=True)
    holder = _holder_of(session, actor, certificate)
    if certificate.status not in ("active", "pledged"):
        raise WrongState(
            f"凭证 {number} {STATUS_ZH.get(certificate.status, certificate.status)}，不能申请变更登记"
        )
    pending = session.execute(
        select(ChangeRequest.id).where(
            ChangeRequest.certificate_id == certificate.id, ChangeRequest.status == "submitted"
        )
    ).scalar()
    if pending is not None:
        raise WrongState(f"凭证 {number} 已有待审核的变更申请 #{pending}，请待其办结或撤回后再申请")
    current = registered_fields(session, certificate)
    proposed = data.model_dump(include=set(CHANGEABLE), exclude_none=True)
    changes = {key: value for key, value in proposed.items() if value != current[key]}
    if not changes:
        raise InvalidInput(
            "changes：没有与现登记内容不同的变更事项（可变更：" + "、".join(FIELD_ZH.values()) + "）",
            details={"field": "changes"},
        )
    change = ChangeRequest(
        certificate_id=certificate.id,
        holder_id=holder.id,
        changes=json.dumps(changes, ensure_ascii=False, sort_keys=True),
        before=json.dumps({key: current[key] for key in changes}, ensure_ascii=False, sort_keys=True),
        reason=data.reason,
        status="submitted",
        applicant=actor.username,
    )
    session.add(change)
    session.flush()
    _record(
        session,
        actor,
        "registry.change.apply",
        "certificate",
        number,
        change=change.id,
        fields=sorted(changes),
    )
    return change


def _change(session: Session, change_id: int) -> tuple[ChangeRequest, Certificate]:
    change = session.get(ChangeRequest, change_id)
    if change is None:
        raise ChangeNotFound(f"变更申请 #{change_id} 不存在")
    certificate = session.get(Certificate, change.certificate_id, with_for_update=True)
    assert certificate is not None  # a foreign key
    return change, certificate


def _expect_submitted(change: ChangeRequest) -> None:
    if change.status != "submitted":
        state = CHANGE_STATUS_ZH.get(change.status, change.status)
        raise WrongState(f"变更申请 #{change.id} 已办结（{state}），不能再处理")


def decide_change(
    session: Session,
    actor: Actor,
    keyring: Keyring,
    change_id: int,
    decision: DecisionIn,
    *,
    today: date | None = None,
) -> ChangeRequest:
    """The registry approves a change — the certificate body gets the new values and the next
    version number, is signed again, and a ``change`` event (naming the fields and the previous
    body's hash) goes into the log — or refuses it with reasons."""
    today = today or workdays.beijing_today()
    authorize(actor, "registry.review", target_type="registry_change", target_id=change_id)
    change, certificate = _change(session, change_id)
    _expect_submitted(change)
    if not decision.approve:
        if not decision.reason:
            raise InvalidInput("reason：不予变更须说明理由", details={"field": "reason"})
        change.status, change.decision = "refused", decision.reason
    else:
        _apply_change(session, keyring, certificate, change, today)
        change.status, change.decision = "approved", decision.reason
    change.decided_by, change.decided_at = actor.username, utcnow()
    session.flush()
    _record(
        session,
        actor,
        "registry.change.decide",
        "certificate",
        certificate.number,
        change=change.id,
        approve=decision.approve,
    )
    return change


def _apply_change(
    session: Session, keyring: Keyring, certificate: Certificate, change: ChangeRequest, today: date
) -> None:
    if certificate.status not in ("active", "pledged"):
        raise WrongState(
            f"凭证 {certificate.number} {STATUS_ZH.get(certificate.status, certificate.status)}，不能变更登记"
        )
    if certificate.holder_id != change.holder_id:
        raise WrongState(
            f"凭证 {certificate.number} 在申请变更后已转让，变更申请 #{change.id} 失效，请由现持有方重新申请"
        )
    suite = get_suite(keyring.suite_name)
    previous = suite.hash_hex(certificate.body.encode())
    changes = json.loads(change.changes)
    body = json.loads(certificate.body)
    body.update(changes)
    body["version"] = int(body.get("version", 1)) + 1
    body["changed"] = today.isoformat()
    text = canonical_json(body)
    certificate.body = text
    certificate.signature = canonical_json(keyring.sign(certificate_message(text)).to_dict())
    certificate.name = body["name"]
    session.flush()
    _event(
        session,
        keyring.suite_name,
        certificate,
        "change",
        change=change.id,
        fields=sorted(changes),
        previous_body_hash=previous,
        reason=change.reason,
    )


def withdraw_change(session: Session, actor: Actor, change_id: int) -> ChangeRequest:
    """The holder withdraws its change application before the registry decides."""
    change, certificate = _change(session, change_id)
    _holder_of(session, actor, certificate)
    _expect_submitted(change)
    change.status, change.decided_by, change.decided_at = "withdrawn", actor.username, utcnow()
    session.flush()
    _record(session, actor, "registry.change.withdraw", "certificate", certificate.number, change=change.id)
    return change


def changes_of(session: Session, actor: Actor, number: str) -> list[ChangeRequest]:
    """A certificate's change applications, newest first: for its holder, the registry, assessors
    and auditors (approved changes are public anyway, as events in the log)."""
    certificate = _certificate(session, number)
    holder = _org(session, certificate.holder_id)
    authorize(actor, "registry.view", org_path=holder.path, target_type="certificate", target_id=number)
    return list(
        session.execute(
            select(ChangeRequest)
            .where(ChangeRequest.certificate_id == certificate.id)
            .order_by(ChangeRequest.id.desc())
        ).scalars()
    )


@dataclass(frozen=True)
class PendingChange:
    change: ChangeRequest
    number: str
    name: str


def pending_changes(session: Session, actor: Actor) -> list[PendingChange]:
    """The change applications waiting for the registry, oldest first."""
    authorize(actor, "registry.review", target_type="registry_change")
    rows = session.execute(
        select(ChangeRequest, Certificate.number, Certificate.name)
        .join(Certificate, Certificate.id == ChangeRequest.certificate_id)
        .where(ChangeRequest.status == "submitted")
        .order_by(ChangeRequest.id)
    )
    return [PendingChange(change, number, name) for change, number, name in rows]


# ------------------------------------------------------------------ licence registration (授权许可登记)


def grant_licence(
    session: Session, actor: Actor, suite: str, number: str, data: LicenceIn, *, today: date | None = None
) -> Licence:
    """The holder licenses a usage right — 数据加工使用权 (processing) or 数据产品经营权 (operating) —
    of its certificate to another org, for a scope and a period within the certificate's validity;
    a ``licence`` event goes into the log.

    The right must be registered on the certificate (holding the data, 持有权, lets the holder
    license its processing too). Not while pledged: a pledged right may not be licensed without the
    pledgee (民法典 第四百四十四条), so the bank releases first, as for a transfer."""
    today = today or workdays.beijing_today()
    certificate = _certificate(session, number, lock=True)
    holder = _holder_of(session, actor, certificate)
    _not_pledged(certificate, "授权许可")
    rights = json.loads(certificate.body).get("rights", [])
    if data.right not in rights and not (data.right == "processing" and "holding" in rights):
        raise InvalidInput(
            f"right：凭证未登记{RIGHTS_ZH[data.right]}，不能许可该权利", details={"field": "right"}
        )
    licensee = identity.org_by_code(session, data.licensee)
    if licensee is None:
        raise InvalidInput(f"licensee：被许可方 {data.licensee} 不存在", details={"field": "licensee"})
    if licensee.id == holder.id:
        raise InvalidInput("licensee：被许可方不能是持有方自己", details={"field": "licensee"})
    start = data.valid_from or today
    if start < today:
        raise InvalidInput(
            f"valid_from：许可起始日 {start} 早于今天（{today}），登记不能追溯",
            details={"field": "valid_from"},
        )
    if data.valid_until < start:
        raise InvalidInput(
            f"valid_until：许可截止日 {data.valid_until} 早于起始日 {start}", details={"field": "valid_until"}
        )
    if data.valid_until > certificate.valid_until:
        raise InvalidInput(
            f"valid_until：许可期限不能超过凭证有效期（至 {certificate.valid_until}）",
            details={"field": "valid_until"},
        )
    overlapping = session.execute(
        select(Licence).where(
            Licence.certificate_id == certificate.id,
            Licence.licensee_id == licensee.id,
            Licence.right == data.right,
            Licence.status == "active",
            Licence.valid_from <= data.valid_until,
            Licence.valid_until >= start,
        )
    ).scalar()
    if overlapping is not None:
        raise WrongState(
            f"被许可方 {licensee.code} 已有期限重叠的{RIGHTS_ZH[data.right]}许可 #{overlapping.id}"
            f"（{overlapping.valid_from} 至 {overlapping.valid_until}）",
            details={"field": "valid_from"},
        )
    licence = Licence(
        certificate_id=certificate.id,
        licensor_id=holder.id,
        licensee_id=licensee.id,
        right=data.right,
        scope=data.scope,
        valid_from=start,
        valid_until=data.valid_until,
        status="active",
        granted_by=actor.username,
    )
    session.add(licence)
    session.flush()
    _event(
        session,
        suite,
        certificate,
        "licence",
        licence=licence.id,
        licensee=licensee.code,
        licensee_name=licensee.name,
        right=data.right,
        scope=data.scope,
        valid_from=start.isoformat(),
        valid_until=data.valid_until.isoformat(),
    )
    _record(
        session,
        actor,
        "registry.licence",
        "certificate",
        number,
        licence=licence.id,
        licensee=licensee.code,
        right=data.right,
    )
    return licence


def end_licence(
    session: Session, actor: Actor, suite: str, licence_id: int, reason: str, *, today: date | None = None
) -> Licence:
    """End a licence before its term: by the holder (or the registry), with a reason; a
    ``licence_end`` event goes into the log."""
    today = today or workdays.beijing_today()
    licence = session.get(Licence, licence_id)
    if licence is None:
        raise LicenceNotFound(f"许可 #{licence_id} 不存在")
    certificate = session.get(Certificate, licence.certificate_id, with_for_update=True)
    assert certificate is not None  # a foreign key
    if reach(actor, "registry.review") is None:
        _holder_of(session, actor, certificate)
    if licence.status != "active":
        raise WrongState(f"许可 #{licence.id} 已终止")
    if licence.valid_until < today:
        raise WrongState(f"许可 #{licence.id} 已于 {licence.valid_until} 到期，无需终止")
    if not reason.strip():
        raise InvalidInput("reason：提前终止许可须说明理由", details={"field": "reason"})
    licence.status, licence.end_reason, licence.ended_at = "ended", reason.strip(), utcnow()
    licensee = _org(session, licence.licensee_id)
    session.flush()
    _event(
        session, suite, certificate, "licence_end", licence=licence.id, licensee=licensee.code, reason=reason
    )
    _record(session, actor, "registry.licence.end", "certificate", certificate.number, licence=licence.id)
    return licence


def _lapse_changes(session: Session, certificate: Certificate, why: str) -> None:
    """A change application waiting for a decision lapses with a transfer, cancellation or revocation."""
    waiting = session.execute(
        select(ChangeRequest).where(
            ChangeRequest.certificate_id == certificate.id, ChangeRequest.status == "submitted"
        )
    ).scalars()
    for change in waiting:
        change.status, change.decision, change.decided_at = "lapsed", why, utcnow()


def _end_licences(session: Session, certificate: Certificate, reason: str) -> list[int]:
    """End the certificate's licences with it (cancellation, revocation); their ids, for the event."""
    open_ = session.execute(
        select(Licence)
        .where(Licence.certificate_id == certificate.id, Licence.status == "active")
        .order_by(Licence.id)
    ).scalars()
    ended = []
    for licence in open_:
        licence.status, licence.end_reason, licence.ended_at = "ended", reason, utcnow()
        ended.append(licence.id)
    return ended


def licence_state(licence: Licence, today: date | None = None) -> str:
    """active | pending (not begun) | expired | ended."""
    today = today or workdays.beijing_today()
    if licence.status != "active":
        return "ended"
    if licence.valid_until < today:
        return "expired"
    return "pending" if licence.valid_from > today else "active"


def licences_of(session: Session, number: str) -> tuple[Certificate, list[Licence]]:
    """A certificate's licences, oldest first: public, as the register and the log are."""
    certificate = _certificate(session, number)
    licences = list(
        session.execute(
            select(Licence).where(Licence.certificate_id == certificate.id).order_by(Licence.id)
        ).scalars()
    )
    return certificate, licences
