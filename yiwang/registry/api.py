"""REST endpoints of the registry (/api/v1/registry/...), including the transparency log's proofs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse

from yiwang.http import CurrentActor, DbSession, OptionalActor, RowId, platform
from yiwang.identity import service as identity
from yiwang.identity.models import Org
from yiwang.kit.crypto import get_suite
from yiwang.kit.errors import InvalidInput
from yiwang.registry import bundle, files, log, service
from yiwang.registry.models import Application, Attachment, Certificate, ChangeRequest, Licence
from yiwang.registry.schemas import (
    ApplicationIn,
    AttachmentKind,
    ChangeIn,
    DecisionIn,
    LicenceIn,
    ObjectionIn,
    ReasonIn,
    ReportIn,
    TransferIn,
)

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "未登录"},
    403: {"description": "无权执行"},
    404: {"description": "不存在"},
    409: {"description": "状态不允许"},
    422: {"description": "输入不合规"},
}
NUMBER = Annotated[str, "certificate number"]
MAX_FINGERPRINT_BYTES = 512 * 1024 * 1024


def _application_out(db: DbSession, a: Application) -> dict[str, Any]:
    holder = identity.orgs_by_ids(db, {a.holder_id})[a.holder_id]
    return {
        "id": a.id,
        "status": a.status,
        "name": a.name,
        "kind": a.kind,
        "holder": holder.code,
        "holder_name": holder.name,
        "rights": json.loads(a.rights),
        "fingerprint": a.fingerprint,
        "reason": a.reason,
        "accept_by": a.accept_by,
        "accept_overdue": service.acceptance_overdue(a),
        "report_opinion": a.report_opinion or None,
        "notice_start": a.notice_start,
        "notice_end": a.notice_end,
        "created_at": a.created_at,
    }


def _certificate_out(db: DbSession, c: Certificate) -> dict[str, Any]:
    holder = identity.orgs_by_ids(db, {c.holder_id})[c.holder_id]
    return {
        "number": c.number,
        "status": c.status,
        "holder": holder.code,
        "holder_name": holder.name,
        "name": c.name,
        "valid_until": c.valid_until,
        "body": json.loads(c.body),
    }


@router.post("/fingerprint", responses=ERRORS)
def fingerprint(file: UploadFile, actor: CurrentActor, request: Request) -> dict[str, Any]:
    """The platform computes a dataset's (or a sample file's) fingerprint as it streams in."""
    hasher = get_suite(platform(request).keyring.suite_name).new_hasher()
    size = 0
    while chunk := file.file.read(1024 * 1024):
        size += len(chunk)
        if size > MAX_FINGERPRINT_BYTES:
            raise InvalidInput(
                "file：文件超过 512 MB，请上传样本文件或数据集的哈希清单", details={"field": "file"}
            )
        hasher.update(chunk)
    return {"fingerprint": hasher.hexdigest(), "bytes": size, "suite": platform(request).keyring.suite_name}


@router.post("/applications", status_code=201, responses=ERRORS)
def submit_application(body: ApplicationIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """Apply to register a data asset held by one's organisation."""
    return _application_out(db, service.submit_application(db, actor, body))


@router.get("/applications/{application_id}", responses=ERRORS)
def get_application(application_id: RowId, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    return _application_out(db, service.get_application(db, actor, application_id))


# ------------------------------------------------------------------ attachments (证明材料)


def _attachment_out(a: Attachment) -> dict[str, Any]:
    return {
        "id": a.id,
        "application": a.application_id,
        "kind": a.kind,
        "name": a.name,
        "content_type": a.content_type,
        "size": a.size,
        "hash": a.hash,
        "uploaded_by": a.uploaded_by,
        "created_at": a.created_at,
        "url": f"{router.prefix}/attachments/{a.id}",
    }


def _store(request: Request) -> files.AttachmentStore:
    return files.AttachmentStore.under(platform(request).settings.data_dir)


@router.post("/applications/{application_id}/attachments", status_code=201, responses=ERRORS)
def upload_attachment(
    application_id: RowId,
    file: UploadFile,
    kind: Annotated[AttachmentKind, Form()],
    actor: CurrentActor,
    db: DbSession,
    request: Request,
) -> dict[str, Any]:
    """Attach a supporting document (multipart ``file`` and ``kind``): the holder's staff or the
    registry, while the application is submitted or in compliance review; at most 20 files of
    20 MB each, PDF, PNG, JPEG, DOCX, XLSX, ZIP or UTF-8 CSV/TXT (checked from the bytes)."""
    # Read one byte past the limit: enough to tell "too large" without holding more in memory.
    content = file.file.read(files.MAX_ATTACHMENT_BYTES + 1)
    attachment = service.add_attachment(
        db,
        actor,
        _store(request),
        _suite(request),
        application_id,
        kind=kind,
        filename=file.filename or "",
        content=content,
    )
    return _attachment_out(attachment)


@router.get("/applications/{application_id}/attachments", responses=ERRORS)
def list_attachments(application_id: RowId, actor: CurrentActor, db: DbSession) -> list[dict[str, Any]]:
    """The application's attachments, oldest first (its holder, assessors, auditors, the registry)."""
    return [_attachment_out(a) for a in service.list_attachments(db, actor, application_id)]


@router.get(
    "/attachments/{attachment_id}",
    response_class=FileResponse,
    responses={**ERRORS, 200: {"description": "the file", "content": {"application/octet-stream": {}}}},
)
def download_attachment(
    attachment_id: RowId, actor: CurrentActor, db: DbSession, request: Request
) -> FileResponse:
    """Download an attachment (audited); its name in ``Content-Disposition`` (RFC 5987 ``filename*``)."""
    attachment = service.download_attachment(db, actor, attachment_id)
    return FileResponse(
        _store(request).open(attachment.hash),
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": files.content_disposition(attachment.name),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


@router.post("/applications/{application_id}/accept", responses=ERRORS)
def accept(application_id: RowId, body: DecisionIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """The registry's formal check."""
    return _application_out(db, service.accept_application(db, actor, application_id, body))


@router.post("/applications/{application_id}/report", responses=ERRORS)
def report(application_id: RowId, body: ReportIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """An assessor's compliance report."""
    return _application_out(db, service.attach_report(db, actor, application_id, body))


@router.post("/applications/{application_id}/compliance", responses=ERRORS)
def compliance(application_id: RowId, body: DecisionIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """The registry's compliance decision: into public notice, or refused."""
    return _application_out(db, service.decide_compliance(db, actor, application_id, body))


@router.post("/applications/{application_id}/objections", status_code=201, responses=ERRORS)
def object_to(
    application_id: RowId, body: ObjectionIn, actor: OptionalActor, db: DbSession
) -> dict[str, Any]:
    """Anyone — signed in or not — may object during public notice, with grounds."""
    objection = service.lodge_objection(db, actor, application_id, body)
    return {"id": objection.id, "status": objection.status, "application": objection.application_id}


@router.post("/objections/{objection_id}/decision", responses=ERRORS)
def decide_objection(
    objection_id: RowId, body: DecisionIn, actor: CurrentActor, db: DbSession
) -> dict[str, Any]:
    """``approve`` true upholds the objection (the application is refused); false dismisses it."""
    objection = service.decide_objection(db, actor, objection_id, uphold=body.approve, reason=body.reason)
    return {"id": objection.id, "status": objection.status}


@router.post("/issue", responses=ERRORS)
def issue_due(actor: CurrentActor, db: DbSession, request: Request) -> list[dict[str, Any]]:
    """Issue the certificates whose public notice has ended without open objections."""
    return [_certificate_out(db, c) for c in service.issue_due(db, actor, platform(request).keyring)]


@router.get("/certificates", responses=ERRORS)
def list_certificates(
    db: DbSession, status: Annotated[str | None, Query(pattern="^(active|pledged|cancelled|revoked)$")] = None
) -> list[dict[str, str]]:
    """The public register: number, status, holder and name of every certificate."""
    return [vars(item) for item in service.list_certificates(db, status=status)]


@router.get("/certificates/{number}", responses=ERRORS)
def get_certificate(number: NUMBER, db: DbSession) -> dict[str, Any]:
    certificate, _events = service.certificate_events(db, number)
    return _certificate_out(db, certificate)


@router.get("/certificates/{number}/bundle", responses=ERRORS)
def certificate_bundle(number: NUMBER, db: DbSession, request: Request) -> dict[str, Any]:
    """The self-contained bundle: verify it offline with ``yiwang certificate verify``."""
    return bundle.export(db, platform(request).keyring, number)


def _suite(request: Request) -> str:
    return platform(request).keyring.suite_name


@router.post("/certificates/{number}/pledge", responses=ERRORS)
def pledge(number: NUMBER, actor: CurrentActor, db: DbSession, request: Request) -> dict[str, Any]:
    return _certificate_out(db, service.pledge(db, actor, _suite(request), number))


@router.post("/certificates/{number}/release", responses=ERRORS)
def release(number: NUMBER, actor: CurrentActor, db: DbSession, request: Request) -> dict[str, Any]:
    return _certificate_out(db, service.release(db, actor, _suite(request), number))


@router.post("/certificates/{number}/transfer", responses=ERRORS)
def transfer(
    number: NUMBER, body: TransferIn, actor: CurrentActor, db: DbSession, request: Request
) -> dict[str, Any]:
    return _certificate_out(db, service.transfer(db, actor, _suite(request), number, body.to, body.reason))


@router.post("/certificates/{number}/cancel", responses=ERRORS)
def cancel(
    number: NUMBER, body: ReasonIn, actor: CurrentActor, db: DbSession, request: Request
) -> dict[str, Any]:
    return _certificate_out(db, service.cancel(db, actor, _suite(request), number, body.reason))


@router.post("/certificates/{number}/revoke", responses=ERRORS)
def revoke(
    number: NUMBER, body: ReasonIn, actor: CurrentActor, db: DbSession, request: Request
) -> dict[str, Any]:
    return _certificate_out(db, service.revoke(db, actor, _suite(request), number, body.reason))


# ------------------------------------------------------------------ change registration (变更登记)


def _change_out(number: str, c: ChangeRequest) -> dict[str, Any]:
    return {
        "id": c.id,
        "certificate": number,
        "status": c.status,
        "changes": json.loads(c.changes),
        "before": json.loads(c.before),
        "reason": c.reason,
        "decision": c.decision,
        "applicant": c.applicant,
        "decided_by": c.decided_by or None,
        "created_at": c.created_at,
        "decided_at": c.decided_at,
    }


def _number_of(db: DbSession, c: ChangeRequest) -> str:
    certificate = db.get(Certificate, c.certificate_id)
    return certificate.number if certificate is not None else ""


@router.post("/certificates/{number}/changes", status_code=201, responses=ERRORS)
def apply_change(number: NUMBER, body: ChangeIn, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """The holder applies to change registered fields (only those given), with a reason."""
    return _change_out(number, service.apply_change(db, actor, number, body))


@router.get("/certificates/{number}/changes", responses=ERRORS)
def list_changes(number: NUMBER, actor: CurrentActor, db: DbSession) -> list[dict[str, Any]]:
    """The certificate's change applications, newest first (its holder, the registry, auditors)."""
    return [_change_out(number, c) for c in service.changes_of(db, actor, number)]


@router.get("/changes", responses=ERRORS)
def pending_changes(actor: CurrentActor, db: DbSession) -> list[dict[str, Any]]:
    """The registry's queue: change applications waiting for a decision, oldest first."""
    return [_change_out(p.number, p.change) for p in service.pending_changes(db, actor)]


@router.post("/changes/{change_id}/decision", responses=ERRORS)
def decide_change(
    change_id: RowId, body: DecisionIn, actor: CurrentActor, db: DbSession, request: Request
) -> dict[str, Any]:
    """The registry approves (the certificate is signed again, a ``change`` event is logged) or
    refuses with a reason."""
    change = service.decide_change(db, actor, platform(request).keyring, change_id, body)
    return _change_out(_number_of(db, change), change)


@router.post("/changes/{change_id}/withdraw", responses=ERRORS)
def withdraw_change(change_id: RowId, actor: CurrentActor, db: DbSession) -> dict[str, Any]:
    """The holder withdraws its change application before the decision."""
    change = service.withdraw_change(db, actor, change_id)
    return _change_out(_number_of(db, change), change)


# ------------------------------------------------------------------ licence registration (授权许可登记)


def _licence_out(
    db: DbSession, number: str, licence: Licence, orgs: Mapping[int, Org] | None = None
) -> dict[str, Any]:
    orgs = orgs or identity.orgs_by_ids(db, {licence.licensee_id, licence.licensor_id})
    return {
        "id": licence.id,
        "certificate": number,
        "licensor": orgs[licence.licensor_id].code,
        "licensee": orgs[licence.licensee_id].code,
        "licensee_name": orgs[licence.licensee_id].name,
        "right": licence.right,
        "scope": licence.scope,
        "valid_from": licence.valid_from,
        "valid_until": licence.valid_until,
        "status": service.licence_state(licence),
        "end_reason": licence.end_reason or None,
        "created_at": licence.created_at,
        "ended_at": licence.ended_at,
    }


@router.post("/certificates/{number}/licences", status_code=201, responses=ERRORS)
def grant_licence(
    number: NUMBER, body: LicenceIn, actor: CurrentActor, db: DbSession, request: Request
) -> dict[str, Any]:
    """The holder licenses 加工使用权 (processing) or 产品经营权 (operating) to another org."""
    return _licence_out(db, number, service.grant_licence(db, actor, _suite(request), number, body))


@router.get("/certificates/{number}/licences", responses=ERRORS)
def list_licences(number: NUMBER, db: DbSession) -> list[dict[str, Any]]:
    """The certificate's licences (public, as the log is): active | pending | expired | ended."""
    certificate, licences = service.licences_of(db, number)
    ids = {i for licence in licences for i in (licence.licensee_id, licence.licensor_id)}
    orgs = identity.orgs_by_ids(db, ids) if ids else {}
    return [_licence_out(db, certificate.number, licence, orgs) for licence in licences]


@router.post("/licences/{licence_id}/end", responses=ERRORS)
def end_licence(
    licence_id: RowId, body: ReasonIn, actor: CurrentActor, db: DbSession, request: Request
) -> dict[str, Any]:
    """End a licence before its term (the holder or the registry), with a reason."""
    licence = service.end_licence(db, actor, _suite(request), licence_id, body.reason)
    certificate = db.get(Certificate, licence.certificate_id)
    return _licence_out(db, certificate.number if certificate is not None else "", licence)


# ------------------------------------------------------------------ the transparency log (CONTRACT)


@router.get("/log/checkpoint", responses=ERRORS)
def checkpoint(db: DbSession, request: Request) -> dict[str, Any]:
    """The latest signed checkpoint (size, root, time)."""
    return log.checkpoint(db, platform(request).keyring)


@router.get("/log/inclusion", responses=ERRORS)
def inclusion(
    db: DbSession,
    request: Request,
    leaf: Annotated[str, Query(pattern="^[0-9a-f]{64}$")],
    size: Annotated[int, Query(ge=1, le=2**40)],
) -> dict[str, Any]:
    """The inclusion proof of the leaf with hash ``leaf`` in the tree of ``size`` leaves."""
    return log.inclusion(db, _suite(request), leaf, size)


@router.get("/log/consistency", responses=ERRORS)
def consistency(
    db: DbSession,
    request: Request,
    from_: Annotated[int, Query(alias="from", ge=1, le=2**40)],
    to: Annotated[int, Query(ge=1, le=2**40)],
) -> dict[str, Any]:
    """The consistency proof between the trees of ``from`` and ``to`` leaves."""
    return log.consistency(db, _suite(request), from_, to)
