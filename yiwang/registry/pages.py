"""The registry's pages: the public register and the log's checkpoint, the application form with the
fingerprint upload, the holder's applications, each application's page with its attachments (证明材料:
the list with download links, and the upload form while they may still be added), the registry's
and the assessor's review queue, the
public notice with its objection form, certificate pages (QR code, bank pledges, the holder's change
registrations and licences, the registry's decisions on changes and its transfer / cancel / revoke),
and the public verification page.

Every change goes through the registry's service functions with the signed-in actor, which check
the authorization table. The registry may not import the page shell (import-linter): it renders
through ``request.app.state.render_page``. Expected failures (bad input, wrong state) are shown on
the form in Chinese next to the field at fault, with what was typed kept; refusals (403) and unknown
targets (404) go to the app's handler, which records refusals and shows the error page.

The public forms (objections, bundle uploads) are open to people who are not signed in; they carry
a signed double-submit token (a cookie and the same value in the form), as the login form does,
since there is no session to hold one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Protocol

import segno
from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from yiwang import forms
from yiwang.http import CurrentActor, DbSession, OptionalActor, RowId, platform
from yiwang.identity import service as identity
from yiwang.identity.authz import AccessDenied, Actor, authorize, reach
from yiwang.identity.models import Org
from yiwang.kit import workdays
from yiwang.kit.crypto import get_suite
from yiwang.kit.errors import InvalidInput, NotFound, PermissionDenied, PlatformError
from yiwang.kit.explain import explain
from yiwang.kit.validators import whole_number
from yiwang.registry import bundle, files, log, service
from yiwang.registry.models import Application, Attachment, Certificate, ChangeRequest, Licence
from yiwang.registry.schemas import ApplicationIn, ChangeIn, DecisionIn, LicenceIn, ObjectionIn, ReportIn

router = APIRouter(include_in_schema=False)

Renderer = Callable[..., Response]
Text = Annotated[str, Form(max_length=4000)]
Short = Annotated[str, Form(max_length=200)]
NUMBER = re.compile(r"^GD-DA-\d{4}-\d{6}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
LINES = re.compile(r"[\n;；]+")
PUBLIC_CSRF_COOKIE = "yiwang_public_csrf"
MAX_FINGERPRINT_BYTES = 512 * 1024 * 1024
MAX_BUNDLE_BYTES = 5 * 1024 * 1024
RIGHTS = ("holding", "processing", "operating")
KINDS = ("data_resource", "data_product")
FREQUENCIES = ("realtime", "daily", "weekly", "monthly", "quarterly", "yearly", "irregular")
APPLICATION_STATUSES = ("submitted", "compliance", "notice", "paused", "issued", "refused", "withdrawn")
CERTIFICATE_STATUSES = ("active", "pledged", "cancelled", "revoked")
DONE = (
    "submitted",
    "accepted",
    "refused",
    "reported",
    "compliance",
    "objection",
    "upheld",
    "dismissed",
    "issued",
    "pledge",
    "release",
    "transfer",
    "cancel",
    "revoke",
    "change",
    "change_approved",
    "change_refused",
    "change_withdrawn",
    "licence",
    "licence_end",
    "attachment",
)
APPLY_INPUTS = (
    "name",
    "kind",
    "description",
    "rights",
    "source",
    "collection_method",
    "personal_info",
    "personal_info_basis",
    "records",
    "size_bytes",
    "field_summary",
    "update_frequency",
    "time_range",
    "scenarios",
    "fingerprint",
    "catalog_resource",
    "file",
)
COUNTS = {"records": "记录数", "size_bytes": "数据量（字节）"}
REQUIRED = {
    "name": "请填写资产名称",
    "description": "请填写资产描述",
    "source": "请填写数据来源",
    "collection_method": "请填写采集方式",
}


# The texts of the change and licence forms and events. They belong with the other registry texts
# in the page shell's catalog (yiwang/web/i18n.py); until they move there, templates look them up
# with the ``tx`` macro: this table in the page's language, then the shell's ``t``.
TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "registry.event.licence": "授权许可",
        "registry.event.licence_end": "许可终止",
        "registry.detail.change": "变更申请",
        "registry.detail.fields": "变更事项",
        "registry.detail.previous_body_hash": "变更前凭证哈希",
        "registry.detail.licence": "许可",
        "registry.detail.licensee": "被许可方",
        "registry.detail.licensee_name": "被许可方名称",
        "registry.detail.right": "权利",
        "registry.detail.scope": "范围",
        "registry.detail.valid_from": "起始",
        "registry.detail.valid_until": "截止",
        "registry.detail.licences_ended": "随之终止的许可",
        "registry.detail.pledge_ended": "随之终止的质押",
        "registry.done.change": "变更申请已提交，等待登记机构审核。",
        "registry.done.change_approved": "变更已核准：凭证已重新签名，变更事件已记入透明日志。",
        "registry.done.change_refused": "已决定不予变更。",
        "registry.done.change_withdrawn": "变更申请已撤回。",
        "registry.done.licence": "授权许可已登记。",
        "registry.done.licence_end": "许可已提前终止。",
        "registry.cert.version": "凭证版本",
        "registry.verify.as_of": "状态依据",
        "registry.verify.event_n": "凭证包中的第 {n} 个（最后一个）事件",
        "registry.licence.title": "授权许可",
        "registry.licence.none": "暂无授权许可登记。",
        "registry.licence.licensee": "被许可方",
        "registry.licence.right": "许可的权利",
        "registry.licence.scope": "许可范围（用途、方式、地域等）",
        "registry.licence.period": "许可期限",
        "registry.licence.valid_from": "起始日（默认今天）",
        "registry.licence.valid_until": "截止日",
        "registry.licence.state": "状态",
        "registry.licence.active": "有效",
        "registry.licence.pending": "未开始",
        "registry.licence.expired": "已到期",
        "registry.licence.ended": "已终止",
        "registry.licence.grant": "登记授权许可",
        "registry.licence.grant_hint": (
            "持有方将数据加工使用权或数据产品经营权许可给其他单位；许可期限不超过凭证有效期。"
            "已质押的凭证须先解除质押。"
        ),
        "registry.licence.licensee_code": "被许可方统一社会信用代码或单位代码",
        "registry.licence.end": "提前终止",
        "registry.licence.end_reason": "终止理由",
        "registry.change.title": "变更登记",
        "registry.change.hint": (
            "修改需要变更的登记事项并说明理由，登记机构审核通过后凭证重新签名。"
            "持有方、权利类型与个人信息不在此变更：持有方变化请办理转让，其余请重新申请登记。"
            "质押期间可以变更，质权人可在透明日志中看到变更。"
        ),
        "registry.change.submit": "提交变更申请",
        "registry.change.pending": "待审核的变更申请",
        "registry.change.field": "登记事项",
        "registry.change.before": "现登记内容",
        "registry.change.after": "申请变更为",
        "registry.change.reason": "变更理由",
        "registry.change.applicant": "申请人",
        "registry.change.approve": "核准变更",
        "registry.change.refuse": "不予变更",
        "registry.change.decide": "提交审核结果",
        "registry.change.withdraw": "撤回变更申请",
        "registry.change.file": "或上传新版本数据集（平台计算新指纹）",
        "registry.change.queue": "待审核的变更登记",
        "registry.change.open": "前往凭证页审核",
        "registry.done.attachment": "附件已上传。",
        "registry.application.title": "登记申请",
        "registry.application.open": "申请详情与附件",
        "registry.attachment.title": "证明材料（附件）",
        "registry.attachment.none": "暂无附件。",
        "registry.attachment.kind": "材料类别",
        "registry.attachment.name": "文件名",
        "registry.attachment.size": "大小",
        "registry.attachment.hash": "哈希",
        "registry.attachment.uploaded": "上传",
        "registry.attachment.file": "文件",
        "registry.attachment.choose": "请选择",
        "registry.attachment.upload": "上传附件",
        "registry.attachment.hint": (
            "可上传 PDF、PNG、JPEG、DOCX、XLSX、ZIP 以及 UTF-8 编码的 CSV、TXT，每份不超过 {mb} MB，"
            "每件申请最多 {n} 份；平台按文件内容判断类型。"
            "签发凭证时，各附件的类别、文件名、哈希和大小写入凭证。"
        ),
        "registry.attachment.closed": "公示开始后附件不再变动，不能再上传。",
        "registry.attachment.kind.source_proof": "数据来源证明",
        "registry.attachment.kind.authorization": "授权书",
        "registry.attachment.kind.compliance_self_assessment": "合规自评报告",
        "registry.attachment.kind.sample": "样例数据",
        "registry.attachment.kind.other": "其他材料",
        "registry.cert.attachments": "证明材料",
    },
    "en": {
        "registry.event.licence": "Licence",
        "registry.event.licence_end": "Licence ended",
        "registry.detail.change": "Change application",
        "registry.detail.fields": "Fields changed",
        "registry.detail.previous_body_hash": "Previous certificate hash",
        "registry.detail.licence": "Licence",
        "registry.detail.licensee": "Licensee",
        "registry.detail.licensee_name": "Licensee name",
        "registry.detail.right": "Right",
        "registry.detail.scope": "Scope",
        "registry.detail.valid_from": "From",
        "registry.detail.valid_until": "Until",
        "registry.detail.licences_ended": "Licences ended with it",
        "registry.detail.pledge_ended": "Pledge ended with it",
        "registry.done.change": "Change application submitted; the registry will review it.",
        "registry.done.change_approved": (
            "Change approved: the certificate is signed again and the change is in the log."
        ),
        "registry.done.change_refused": "Change refused.",
        "registry.done.change_withdrawn": "Change application withdrawn.",
        "registry.done.licence": "Licence registered.",
        "registry.done.licence_end": "Licence ended.",
        "registry.cert.version": "Certificate version",
        "registry.verify.as_of": "Status as of",
        "registry.verify.event_n": "event {n}, the last in the bundle",
        "registry.licence.title": "Licences",
        "registry.licence.none": "No licence registered.",
        "registry.licence.licensee": "Licensee",
        "registry.licence.right": "Right licensed",
        "registry.licence.scope": "Scope (purpose, manner, region …)",
        "registry.licence.period": "Term",
        "registry.licence.valid_from": "From (default today)",
        "registry.licence.valid_until": "Until",
        "registry.licence.state": "State",
        "registry.licence.active": "In force",
        "registry.licence.pending": "Not begun",
        "registry.licence.expired": "Expired",
        "registry.licence.ended": "Ended",
        "registry.licence.grant": "Register a licence",
        "registry.licence.grant_hint": (
            "The holder licenses processing or operating rights to another organisation, within the "
            "certificate's validity. A pledged certificate must be released first."
        ),
        "registry.licence.licensee_code": "Licensee credit code or org code",
        "registry.licence.end": "End early",
        "registry.licence.end_reason": "Reason",
        "registry.change.title": "Change registration",
        "registry.change.hint": (
            "Edit the registered fields to change and give a reason; once the registry approves, the "
            "certificate is signed again. Holder, rights and personal information are not changed here."
        ),
        "registry.change.submit": "Apply for the change",
        "registry.change.pending": "Change application under review",
        "registry.change.field": "Field",
        "registry.change.before": "Registered",
        "registry.change.after": "Change to",
        "registry.change.reason": "Reason",
        "registry.change.applicant": "Applicant",
        "registry.change.approve": "Approve",
        "registry.change.refuse": "Refuse",
        "registry.change.decide": "Submit decision",
        "registry.change.withdraw": "Withdraw the application",
        "registry.change.file": "or upload the new dataset version (the platform fingerprints it)",
        "registry.change.queue": "Change registrations to review",
        "registry.change.open": "Review on the certificate page",
        "registry.done.attachment": "Attachment uploaded.",
        "registry.application.title": "Application",
        "registry.application.open": "Details and attachments",
        "registry.attachment.title": "Supporting documents",
        "registry.attachment.none": "No attachments.",
        "registry.attachment.kind": "Kind",
        "registry.attachment.name": "File name",
        "registry.attachment.size": "Size",
        "registry.attachment.hash": "Hash",
        "registry.attachment.uploaded": "Uploaded",
        "registry.attachment.file": "File",
        "registry.attachment.choose": "Choose",
        "registry.attachment.upload": "Upload",
        "registry.attachment.hint": (
            "PDF, PNG, JPEG, DOCX, XLSX, ZIP and UTF-8 CSV or text; at most {mb} MB each and {n} per "
            "application; the platform checks the type from the file's content. The certificate lists "
            "each attachment's kind, name, hash and size."
        ),
        "registry.attachment.closed": "Attachments are fixed once the public notice starts.",
        "registry.attachment.kind.source_proof": "Proof of data source",
        "registry.attachment.kind.authorization": "Authorisation",
        "registry.attachment.kind.compliance_self_assessment": "Compliance self-assessment",
        "registry.attachment.kind.sample": "Sample data",
        "registry.attachment.kind.other": "Other",
        "registry.cert.attachments": "Supporting documents",
    },
}
CHANGE_INPUTS = (*service.CHANGEABLE, "file", "reason")
LICENCE_INPUTS = ("licensee", "right", "scope", "valid_from", "valid_until")
ATTACHMENT_INPUTS = ("kind", "file", "status")
REASON_REQUIRED = {"reason": "请说明理由"}
TRANSFER_REQUIRED = {"to": "请填写受让方统一社会信用代码或单位代码", **REASON_REQUIRED}
LICENCE_REQUIRED = {
    "licensee": "请填写被许可方代码",
    "right": "请选择许可的权利",
    "scope": "请填写许可范围",
    "valid_until": "请填写许可截止日",
}


# ------------------------------------------------------------------ helpers


def _render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    status: int = 200,
) -> Response:
    renderer: Renderer = request.app.state.render_page
    full = dict(context)
    token = ""
    if not getattr(request.state, "csrf_token", ""):
        token = _public_token(request)
    full["public_token"] = token
    full["registry_text"] = TEXT
    response = renderer(request, template, full, status=status)
    if token:
        response.set_cookie(
            PUBLIC_CSRF_COOKIE,
            token,
            max_age=2 * 3600,
            path="/registry",
            httponly=True,
            samesite="lax",
            secure=platform(request).settings.secure_cookies,
        )
    return response


def _viewer(request: Request, db: Session, actor: Actor | None) -> None:
    """Put the actor's organisation name where the layout's user menu finds it."""
    if actor is None:
        return
    org = identity.org_by_code(db, actor.org_code)
    request.state.org_name = org.name if org is not None else actor.org_code


def _sign(request: Request, nonce: str) -> str:
    key = platform(request).settings.resolved_secret_key().encode()
    return hmac.new(key, b"registry-public-csrf:" + nonce.encode(), hashlib.sha256).hexdigest()[:32]


def _public_token(request: Request) -> str:
    """The visitor's signed double-submit token: the one in its cookie when still good, else a new one."""
    token = request.cookies.get(PUBLIC_CSRF_COOKIE, "")
    nonce, _, signature = token.partition(".")
    if nonce and signature and secrets.compare_digest(signature, _sign(request, nonce)):
        return token
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_sign(request, nonce)}"


def _check_public_csrf(request: Request, submitted: str | None) -> None:
    """A signed-in visitor proves the session's token; anyone else the signed double-submit cookie."""
    if getattr(request.state, "csrf_token", ""):
        forms.check_csrf(request, submitted)
        return
    cookie = request.cookies.get(PUBLIC_CSRF_COOKIE, "")
    nonce, _, signature = cookie.partition(".")
    if (
        not nonce
        or not submitted
        or not secrets.compare_digest(cookie, submitted)
        or not secrets.compare_digest(signature, _sign(request, nonce))
    ):
        raise PermissionDenied("页面已过期或来源不明（CSRF 校验失败），请刷新页面后重试", code="csrf_failed")


def _done(request: Request) -> str | None:
    done = request.query_params.get("done")
    return done if done in DONE else None


def _feedback(
    request: Request, errors: Mapping[str, str] | None, kept: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What a page with forms shows about the last post: its errors, what was typed, what was done."""
    return {"errors": dict(errors or {}), "kept": dict(kept or {}), "done": _done(request)}


def _whole_message(exc: PlatformError) -> str:
    return exc.message


def _unprefixed(exc: PlatformError) -> str:
    """The message without the "field：" it starts with, as a form without that input shows it."""
    field = exc.details.get("field") if isinstance(exc.details, dict) else None
    return exc.message.removeprefix(f"{field}：") if isinstance(field, str) else exc.message


class _Page(Protocol):
    def __call__(self, *, errors: Mapping[str, str], kept: Mapping[str, Any], status: int) -> Response: ...


@dataclass(frozen=True)
class _PageForm:
    """One of the forms of a page that holds several (the review queue, the notices, a certificate):
    its error and what was typed go under its key, so the page shows them at that form only."""

    key: str
    kept: Mapping[str, Any]
    page: _Page
    message: Callable[[PlatformError], str] = _whole_message

    def again(self, error: str, status: int = 422) -> Response:
        return self.page(errors={self.key: error}, kept={self.key: self.kept}, status=status)

    def run(
        self,
        db: Session,
        verb: Callable[[], object],
        then: str,
        shown: Callable[[PlatformError], bool] = forms.shown_on_form,
    ) -> Response:
        """Do the verb and go to ``then``; or show the page again with why it could not be done."""
        outcome = forms.attempt(db, verb, shown)
        if isinstance(outcome, PlatformError):
            return self.again(self.message(outcome), outcome.status)
        return RedirectResponse(then, status_code=303)


def _can(actor: Actor | None, action: str) -> bool:
    return actor is not None and reach(actor, action) is not None


def _suite(request: Request) -> str:
    return platform(request).keyring.suite_name


def _checked_number(number: str) -> str:
    number = number.strip().upper()
    if not NUMBER.fullmatch(number):
        raise NotFound(
            f"凭证编号 {number[:40]} 格式不对：应为 GD-DA-年份-6位数字", code="certificate_not_found"
        )
    return number


def _application_shape(a: Application, orgs: Mapping[int, Org]) -> dict[str, Any]:
    holder = orgs.get(a.holder_id)
    return {
        "id": a.id,
        "name": a.name,
        "kind": a.kind,
        "description": a.description,
        "holder": holder.code if holder else "",
        "holder_name": holder.name if holder else "",
        "rights": json.loads(a.rights),
        "source": a.source,
        "collection_method": a.collection_method,
        "personal_info": a.personal_info,
        "personal_info_basis": a.personal_info_basis,
        "records": a.records,
        "size_bytes": a.size_bytes,
        "field_summary": a.field_summary,
        "update_frequency": a.update_frequency,
        "time_range": a.time_range,
        "scenarios": json.loads(a.scenarios),
        "fingerprint": a.fingerprint,
        "catalog_resource": a.catalog_resource,
        "status": a.status,
        "reason": a.reason,
        "accept_by": a.accept_by,
        "report": a.report,
        "report_opinion": a.report_opinion,
        "assessor": a.assessor,
        "notice_start": a.notice_start,
        "notice_end": a.notice_end,
        "paused_at": a.paused_at,
        "applicant": a.applicant,
        "created_at": a.created_at,
    }


def _shapes(db: Session, items: Sequence[Application]) -> list[dict[str, Any]]:
    orgs = identity.orgs_by_ids(db, {a.holder_id for a in items})
    objections = service.objections_of(db, [a.id for a in items])
    rows = []
    for a in items:
        shape = _application_shape(a, orgs)
        shape["objections"] = objections.get(a.id, [])
        shape["open_objections"] = [o for o in shape["objections"] if o.status == "open"]
        rows.append(shape)
    return rows


# ------------------------------------------------------------------ home: the public register


@router.get("/registry")
def registry_home(request: Request, actor: OptionalActor, db: DbSession) -> Response:
    status = request.query_params.get("status") or ""
    status = status if status in CERTIFICATE_STATUSES else ""
    listed = service.list_certificates(db, status=status or None)
    names = {code: org.name for code, org in identity.orgs_by_codes(db, {c.holder for c in listed}).items()}
    checkpoint = log.signed_checkpoint(db, platform(request).keyring)
    _viewer(request, db, actor)
    context = {
        "certificates": listed,
        "names": names,
        "status": status,
        "statuses": CERTIFICATE_STATUSES,
        "checkpoint": checkpoint.to_dict(),
        "can_apply": _can(actor, "registry.apply"),
        "can_review": _can(actor, "registry.review") or _can(actor, "registry.assess"),
    }
    return _render(request, "registry/home.html", context)


# ------------------------------------------------------------------ apply


def _empty_form() -> dict[str, Any]:
    return {
        "name": "",
        "kind": "data_resource",
        "description": "",
        "rights": [],
        "source": "",
        "collection_method": "",
        "personal_info": False,
        "personal_info_basis": "",
        "records": "",
        "size_bytes": "",
        "field_summary": "",
        "update_frequency": "irregular",
        "time_range": "",
        "scenarios": "",
        "fingerprint": "",
        "catalog_resource": "",
        "file_name": "",
        "file_bytes": None,
    }


def _apply_page(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    form: Mapping[str, Any],
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    holder = identity.org_by_code(db, actor.org_code)
    _viewer(request, db, actor)
    context = {
        "form": form,
        "errors": dict(errors or {}),
        "holder": holder,
        "kinds": KINDS,
        "rights": RIGHTS,
        "frequencies": FREQUENCIES,
        "suite": _suite(request),
    }
    return _render(request, "registry/apply.html", context, status=status)


@router.get("/registry/apply")
def apply_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    authorize(actor, "registry.apply", target_type="registry_application")
    return _apply_page(request, db, actor, form=_empty_form())


def _fingerprint(request: Request, upload: UploadFile) -> tuple[str, int]:
    """Hash the uploaded file as it streams in, with the platform's suite (SHA-256 or SM3)."""
    hasher = get_suite(_suite(request)).new_hasher()
    size = 0
    while chunk := upload.file.read(1024 * 1024):
        size += len(chunk)
        if size > MAX_FINGERPRINT_BYTES:
            raise InvalidInput(
                "file：文件超过 512 MB，请上传样本文件或数据集的哈希清单", details={"field": "file"}
            )
        hasher.update(chunk)
    return hasher.hexdigest(), size


def _count(text: str, label: str, errors: dict[str, str], key: str) -> int:
    text = text.strip().replace(",", "").replace("，", "")
    if not text:
        return 0
    number = whole_number(text)
    if number is None:
        errors[key] = f"{label}应为非负整数"
        return 0
    return number


def _counts(typed: Mapping[str, str], errors: dict[str, str]) -> dict[str, int]:
    """The record count and the size in bytes typed on the form (0 when left empty)."""
    return {key: _count(typed[key], label, errors, key) for key, label in COUNTS.items()}


def _lines(text: str) -> list[str]:
    """The application scenarios, one a line (or split by semicolons)."""
    return [line.strip() for line in LINES.split(text) if line.strip()]


@router.post("/registry/apply")
def submit_application(
    request: Request,
    actor: CurrentActor,
    db: DbSession,
    name: Short = "",
    kind: Annotated[str, Form(max_length=20)] = "",
    description: Text = "",
    rights: Annotated[list[str] | None, Form()] = None,
    source: Text = "",
    collection_method: Text = "",
    personal_info: Annotated[str, Form(max_length=10)] = "",
    personal_info_basis: Text = "",
    records: Annotated[str, Form(max_length=30)] = "",
    size_bytes: Annotated[str, Form(max_length=30)] = "",
    field_summary: Text = "",
    update_frequency: Annotated[str, Form(max_length=20)] = "",
    time_range: Annotated[str, Form(max_length=100)] = "",
    scenarios: Text = "",
    fingerprint: Annotated[str, Form(max_length=200)] = "",
    catalog_resource: Annotated[str, Form(max_length=80)] = "",
    file_name: Annotated[str, Form(max_length=300)] = "",
    file: Annotated[UploadFile | None, File()] = None,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    authorize(actor, "registry.apply", target_type="registry_application")
    form: dict[str, Any] = {
        "name": name.strip(),
        "kind": kind if kind in KINDS else "",
        "description": description.strip(),
        "rights": [r for r in RIGHTS if r in (rights or [])],
        "source": source.strip(),
        "collection_method": collection_method.strip(),
        "personal_info": personal_info in ("1", "on", "true", "yes"),
        "personal_info_basis": personal_info_basis.strip(),
        "records": records.strip(),
        "size_bytes": size_bytes.strip(),
        "field_summary": field_summary.strip(),
        "update_frequency": update_frequency if update_frequency in FREQUENCIES else "irregular",
        "time_range": time_range.strip(),
        "scenarios": scenarios.strip(),
        "fingerprint": fingerprint.strip().lower(),
        "catalog_resource": catalog_resource.strip(),
        "file_name": file_name.strip(),
        "file_bytes": None,
    }
    errors: dict[str, str] = {}
    if file is not None and file.filename:
        try:
            form["fingerprint"], form["file_bytes"] = _fingerprint(request, file)
            form["file_name"] = file.filename[:300]
        except InvalidInput as exc:
            key, message = forms.field_message(exc, APPLY_INPUTS)
            errors[key] = message
    for key, message in REQUIRED.items():
        if not form[key]:
            errors[key] = message
    if not form["kind"]:
        errors["kind"] = "请选择资产类型"
    if not form["rights"]:
        errors["rights"] = "请至少选择一项权利（持有权、加工使用权、产品经营权）"
    lines = _lines(form["scenarios"])
    if not lines:
        errors["scenarios"] = "请至少填写一个应用场景（每行一个）"
    if form["personal_info"] and not form["personal_info_basis"]:
        errors["personal_info_basis"] = "涉及个人信息的数据须说明合法性基础（如个人同意、法定职责）"
    if not form["fingerprint"]:
        errors.setdefault("fingerprint", "请上传数据集或样本文件，由平台计算指纹；或粘贴 64 位十六进制指纹")
    elif not HEX64.fullmatch(form["fingerprint"]):
        errors["fingerprint"] = "指纹应为 64 位十六进制字符（SHA-256 或 SM3）"
    counts = _counts(form, errors)
    if errors:
        return _apply_page(request, db, actor, form=form, errors=errors, status=422)
    # The counts and scenarios go in as parsed above; the file served only for its fingerprint.
    item = {k: form[k] for k in APPLY_INPUTS if k not in (*COUNTS, "scenarios", "file")}
    try:
        data = ApplicationIn.model_validate({**item, **counts, "scenarios": lines})
    except ValidationError as exc:
        return _apply_page(
            request, db, actor, form=form, errors=forms.validation_errors(exc, APPLY_INPUTS), status=422
        )
    application = forms.attempt(db, lambda: service.submit_application(db, actor, data))
    if isinstance(application, PlatformError):
        key, message = forms.field_message(application, APPLY_INPUTS)
        return _apply_page(request, db, actor, form=form, errors={key: message}, status=application.status)
    return RedirectResponse(f"/registry/mine?done=submitted#application-{application.id}", status_code=303)


# ------------------------------------------------------------------ my applications


@router.get("/registry/mine")
def my_applications(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    rows: list[dict[str, Any]] = []
    scope = reach(actor, "registry.apply")
    if scope is not None:
        within = identity.orgs_in_reach(actor, "registry.apply")
        rows = _shapes(db, service.list_applications(db, holders=within))
    numbers = service.certificate_numbers(db, [r["id"] for r in rows])
    _viewer(request, db, actor)
    context = {
        "rows": list(reversed(rows)),
        "numbers": numbers,
        "can_apply": scope is not None,
        "done": _done(request),
    }
    return _render(request, "registry/mine.html", context)


# ------------------------------------------------------------------ an application and its attachments


def _human_size(n: int) -> str:
    """A size for people: 980 B, 12.3 KB, 4.5 MB."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def _attachment_shape(a: Attachment) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind,
        "name": a.name,
        "size": a.size,
        "size_text": _human_size(a.size),
        "hash": a.hash,
        "content_type": a.content_type,
        "uploaded_by": a.uploaded_by,
        "created_at": a.created_at,
        "url": f"/api/v1/registry/attachments/{a.id}",
    }


def _application_page(
    request: Request,
    db: Session,
    actor: Actor,
    application_id: int,
    *,
    errors: Mapping[str, str] | None = None,
    kept: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Response:
    application, holder = service.visible_application(db, actor, application_id)
    shape = _shapes(db, [application])[0]
    attachments = service.attachments_of(db, [application.id])[application.id]
    _viewer(request, db, actor)
    context = {
        "a": shape,
        "number": service.certificate_numbers(db, [application.id]).get(application.id),
        "attachments": [_attachment_shape(f) for f in attachments],
        "can_attach": service.may_attach(actor, application, holder),
        "holds": _holds(actor, holder),
        "kinds": service.ATTACHMENT_KINDS,
        "max_mb": files.MAX_ATTACHMENT_BYTES // (1024 * 1024),
        "max_count": files.MAX_ATTACHMENTS,
        **_feedback(request, errors, kept),
    }
    return _render(request, "registry/application.html", context, status=status)


@router.get("/registry/applications/{application_id}")
def application_page(request: Request, application_id: RowId, actor: CurrentActor, db: DbSession) -> Response:
    """One application: its fields, where it stands, its attachments (and the upload form while they
    may be added). Its holder, assessors, auditors and the registry; "not found" for anyone else."""
    return _application_page(request, db, actor, application_id)


@router.post("/registry/applications/{application_id}/attachments")
def upload_attachment(
    request: Request,
    application_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    kind: Annotated[str, Form(max_length=40)] = "",
    file: Annotated[UploadFile | None, File()] = None,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    kept = {"kind": kind if kind in service.ATTACHMENT_KINDS else ""}
    errors: dict[str, str] = {}
    if not kept["kind"]:
        errors["kind"] = "请选择材料类别"
    if file is None or not file.filename:
        errors["file"] = "请选择要上传的文件"
    if errors or file is None:
        return _application_page(request, db, actor, application_id, errors=errors, kept=kept, status=422)
    content = file.file.read(files.MAX_ATTACHMENT_BYTES + 1)  # one byte past the limit tells "too large"
    store = files.AttachmentStore.under(platform(request).settings.data_dir)
    filename, suite = file.filename or "", _suite(request)
    # A failure's rollback takes with it any file this upload stored (files.py).
    failure = forms.attempt(
        db,
        lambda: service.add_attachment(
            db, actor, store, suite, application_id, kind=kind, filename=filename, content=content
        ),
    )
    if isinstance(failure, PlatformError):
        key, message = forms.field_message(failure, ATTACHMENT_INPUTS)
        return _application_page(
            request, db, actor, application_id, errors={key: message}, kept=kept, status=failure.status
        )
    return RedirectResponse(
        f"/registry/applications/{application_id}?done=attachment#attachments", status_code=303
    )


# ------------------------------------------------------------------ the review queue


def _review_page(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    errors: Mapping[str, str] | None = None,
    kept: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Response:
    registry = _can(actor, "registry.review")
    assessor = _can(actor, "registry.assess")
    if not registry and not assessor:
        authorize(actor, "registry.review", target_type="registry_application")
    today = workdays.beijing_today()
    open_states = ("submitted", "compliance", "notice", "paused")
    rows = _shapes(db, service.list_applications(db, statuses=open_states))
    by_status: dict[str, list[dict[str, Any]]] = {s: [] for s in open_states}
    for row in rows:
        by_status[row["status"]].append(row)
    due = [r for r in by_status["notice"] if r["notice_end"] is not None and r["notice_end"] < today]
    _viewer(request, db, actor)
    context = {
        "registry": registry,
        "assessor": assessor,
        "submitted": by_status["submitted"],
        "compliance": by_status["compliance"],
        "notice": by_status["notice"] + by_status["paused"],
        "objected": [r for r in rows if r["open_objections"]],
        "due": due,
        "changes": [
            {
                "change": p.change,
                "number": p.number,
                "name": p.name,
                "fields": "、".join(t for t in map(service.FIELD_ZH.get, json.loads(p.change.changes)) if t),
            }
            for p in (service.pending_changes(db, actor) if registry else [])
        ],
        "today": today,
        **_feedback(request, errors, kept),
    }
    return _render(request, "registry/review.html", context, status=status)


@router.get("/registry/review")
def review_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    return _review_page(request, db, actor)


def _review_form(request: Request, db: Session, actor: Actor, key: str, kept: Mapping[str, Any]) -> _PageForm:
    return _PageForm(key, kept, partial(_review_page, request, db, actor))


def _decision(decision: str, reason: str) -> DecisionIn | str:
    """The decision posted, or what it lacks: the choice must be made; a refusal needs its reason."""
    if decision not in ("approve", "refuse"):
        return "请选择处理结果"
    if decision == "refuse" and not reason.strip():
        return "不予通过须说明理由"
    return DecisionIn(approve=decision == "approve", reason=reason.strip())


def _decide_application(
    form: _PageForm, db: Session, verb: Callable[[DecisionIn], object], approved: str
) -> Response:
    """The registry's acceptance or compliance decision, posted as the form's decision and reason."""
    decided = _decision(form.kept["decision"], form.kept["reason"])
    if isinstance(decided, str):
        return form.again(decided)
    done = approved if decided.approve else "refused"
    return form.run(db, lambda: verb(decided), f"/registry/review?done={done}")


@router.post("/registry/applications/{application_id}/accept")
def accept_application(
    request: Request,
    application_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    decision: Annotated[str, Form(max_length=20)] = "",
    reason: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    kept = {"decision": decision, "reason": reason}
    form = _review_form(request, db, actor, f"accept-{application_id}", kept)
    return _decide_application(
        form, db, lambda data: service.accept_application(db, actor, application_id, data), "accepted"
    )


@router.post("/registry/applications/{application_id}/report")
def attach_report(
    request: Request,
    application_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    opinion: Annotated[str, Form(max_length=10)] = "",
    report: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    kept = {"opinion": opinion, "report": report}
    form = _review_form(request, db, actor, f"report-{application_id}", kept)
    if opinion not in ("pass", "fail"):
        return form.again("请选择评估意见")
    if not report.strip():
        return form.again("请填写评估报告")
    data = ReportIn.model_validate({"opinion": opinion, "report": report.strip()})
    return form.run(
        db, lambda: service.attach_report(db, actor, application_id, data), "/registry/review?done=reported"
    )


@router.post("/registry/applications/{application_id}/compliance")
def decide_compliance(
    request: Request,
    application_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    decision: Annotated[str, Form(max_length=20)] = "",
    reason: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    kept = {"decision": decision, "reason": reason}
    form = _review_form(request, db, actor, f"compliance-{application_id}", kept)
    return _decide_application(
        form, db, lambda data: service.decide_compliance(db, actor, application_id, data), "compliance"
    )


@router.post("/registry/objections/{objection_id}/decision")
def decide_objection(
    request: Request,
    objection_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    decision: Annotated[str, Form(max_length=20)] = "",
    reason: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    kept = {"decision": decision, "reason": reason}
    form = _review_form(request, db, actor, f"objection-{objection_id}", kept)
    if decision not in ("uphold", "dismiss"):
        return form.again("请选择异议成立或不成立")
    if not reason.strip():
        return form.again("处理异议须说明理由")
    uphold = decision == "uphold"
    return form.run(
        db,
        lambda: service.decide_objection(db, actor, objection_id, uphold=uphold, reason=reason.strip()),
        f"/registry/review?done={'upheld' if uphold else 'dismissed'}",
    )


@router.post("/registry/issue")
def issue_due(
    request: Request, actor: CurrentActor, db: DbSession, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    forms.check_csrf(request, csrf_token)
    issued = service.issue_due(db, actor, platform(request).keyring)
    return RedirectResponse(f"/registry/review?done=issued&n={len(issued)}", status_code=303)


# ------------------------------------------------------------------ public notice and objections


def _notices_page(
    request: Request,
    db: Session,
    actor: Actor | None,
    *,
    errors: Mapping[str, str] | None = None,
    kept: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Response:
    rows = _shapes(db, service.list_applications(db, statuses=("notice", "paused")))
    _viewer(request, db, actor)
    context = {
        "rows": rows,
        **_feedback(request, errors, kept),
        "today": workdays.beijing_today(),
    }
    return _render(request, "registry/notices.html", context, status=status)


@router.get("/registry/notices")
def notices_page(request: Request, actor: OptionalActor, db: DbSession) -> Response:
    return _notices_page(request, db, actor)


@router.post("/registry/notices/{application_id}/objections")
def lodge_objection(
    request: Request,
    application_id: RowId,
    actor: OptionalActor,
    db: DbSession,
    name: Annotated[str, Form(max_length=100)] = "",
    grounds: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    _check_public_csrf(request, csrf_token)
    kept = {"name": name, "grounds": grounds}
    form = _PageForm(f"object-{application_id}", kept, partial(_notices_page, request, db, actor))
    if not grounds.strip():
        return form.again("请填写异议理由和依据")
    data = ObjectionIn(grounds=grounds.strip(), name=name.strip())
    return form.run(
        db,
        lambda: service.lodge_objection(db, actor, application_id, data),
        f"/registry/notices?done=objection#notice-{application_id}",
        shown=_shown_on_notices,
    )


def _shown_on_notices(exc: PlatformError) -> bool:
    """As on other forms, but an application that has left its notice (404) is told there too."""
    return exc.status < 500 and exc.status not in (401, 403)


# ------------------------------------------------------------------ certificate pages


def _qr_svg(request: Request, number: str) -> str:
    """An inline SVG QR code of the public verification page for this certificate."""
    url = str(request.base_url).rstrip("/") + "/registry/verify?number=" + number
    return str(segno.make(url, error="m").svg_inline(scale=3, svgclass="qr", title=f"核验 {number}"))


def _certificate_page(
    request: Request,
    db: Session,
    actor: Actor | None,
    number: str,
    *,
    errors: Mapping[str, str] | None = None,
    kept: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Response:
    number = _checked_number(number)
    certificate, events = service.certificate_events(db, number)
    _, licences = service.licences_of(db, number)
    orgs = identity.orgs_by_ids(
        db, {certificate.holder_id, certificate.pledgee_id, *(licence.licensee_id for licence in licences)}
    )
    holder, pledgee = orgs.get(certificate.holder_id), orgs.get(certificate.pledgee_id or 0)
    bank = _can(actor, "registry.pledge")
    registry = _can(actor, "registry.review")
    holds = _holds(actor, holder)
    own_pledge = (
        actor is not None and certificate.pledgee_id is not None and certificate.pledgee_id == actor.org_id
    )
    live = certificate.status in ("active", "pledged")
    pending = _pending_change(db, actor, certificate) if holds or registry else None
    current = service.registered_fields(db, certificate)
    _viewer(request, db, actor)
    context = {
        "c": certificate,
        "body": json.loads(certificate.body),
        "holder": holder,
        "pledgee": pledgee,
        "events": [
            {"kind": e.kind, "at": e.at, "index": e.leaf_index, "hash": e.leaf_hash, **_event_details(e.leaf)}
            for e in events
        ],
        "licences": [_licence_shape(licence, orgs) for licence in licences],
        "pending": pending,
        "current": {**current, "scenarios": "\n".join(current["scenarios"] or [])},
        "frequencies": FREQUENCIES,
        "licensable": _licensable(json.loads(certificate.body).get("rights", [])),
        "qr": _qr_svg(request, number),
        "verify_url": "/registry/verify?number=" + number,
        "can": {
            "pledge": bank and certificate.status == "active",
            "release": bank and certificate.status == "pledged" and own_pledge,
            "transfer": registry and certificate.status == "active",
            "cancel": registry and certificate.status == "active",
            "revoke": registry and live,
            "change": holds and live and pending is None,
            "licence": holds and certificate.status == "active",
            "end_licence": (holds or registry) and live,
            "decide_change": registry and pending is not None,
            "withdraw_change": holds and pending is not None,
        },
        **_feedback(request, errors, kept),
    }
    return _render(request, "registry/certificate.html", context, status=status)


def _holds(actor: Actor | None, holder: Org | None) -> bool:
    """Whether the actor acts for the certificate's holder (its staff, or a CDO above it)."""
    if actor is None or holder is None or reach(actor, "registry.hold") is None:
        return False
    try:
        authorize(actor, "registry.hold", org_path=holder.path)
    except AccessDenied:
        return False
    return True


def _licensable(rights: Sequence[str]) -> list[str]:
    """The rights a holder may license: those registered (持有权 includes licensing processing)."""
    return [
        r for r in ("processing", "operating") if r in rights or (r == "processing" and "holding" in rights)
    ]


def _pending_change(db: Session, actor: Actor | None, certificate: Certificate) -> dict[str, Any] | None:
    if actor is None:
        return None
    waiting = [c for c in service.changes_of(db, actor, certificate.number) if c.status == "submitted"]
    return _change_shape(waiting[0]) if waiting else None


def _change_shape(change: ChangeRequest) -> dict[str, Any]:
    after, before = json.loads(change.changes), json.loads(change.before)
    return {
        "id": change.id,
        "reason": change.reason,
        "applicant": change.applicant,
        "created_at": change.created_at,
        "rows": [
            {"field": key, "before": _shown(before.get(key)), "after": _shown(value)}
            for key, value in after.items()
        ],
    }


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return "" if value is None else str(value)


def _licence_shape(licence: Licence, orgs: Mapping[int, Org]) -> dict[str, Any]:
    licensee = orgs.get(licence.licensee_id)
    return {
        "id": licence.id,
        "right": licence.right,
        "licensee": licensee.code if licensee else "",
        "licensee_name": licensee.name if licensee else "",
        "scope": licence.scope,
        "valid_from": licence.valid_from,
        "valid_until": licence.valid_until,
        "state": service.licence_state(licence),
        "end_reason": licence.end_reason,
    }


def _event_details(leaf: str) -> dict[str, Any]:
    try:
        details = json.loads(leaf).get("details", {})
    except (ValueError, AttributeError):
        details = {}
    if not isinstance(details, dict):
        return {"details": {}}
    shown = {}
    for key, value in details.items():
        if value is None:
            continue  # e.g. no pledge ended by a revocation
        if key == "fields" and isinstance(value, list):
            value = [service.FIELD_ZH.get(str(v), str(v)) for v in value]
        if key == "right":
            value = service.RIGHTS_ZH.get(str(value), value)
        shown[key] = _shown(value)
    return {"details": shown}


@router.get("/registry/certificates/{number}")
def certificate_page(request: Request, number: str, actor: OptionalActor, db: DbSession) -> Response:
    return _certificate_page(request, db, actor, number)


def _certificate_form(
    request: Request,
    db: Session,
    actor: Actor,
    number: str,
    key: str,
    kept: Mapping[str, Any] | None = None,
) -> _PageForm:
    page = partial(_certificate_page, request, db, actor, number)
    return _PageForm(key, {} if kept is None else kept, page, message=_unprefixed)


def _certificate_action(
    form: _PageForm, db: Session, number: str, verb: Callable[[str], object], done: str = ""
) -> Response:
    """Do the verb on the certificate and come back to its page, saying what was done (by default the
    form's key)."""
    number = _checked_number(number)
    return form.run(db, lambda: verb(number), f"/registry/certificates/{number}?done={done or form.key}")


def _missing(kept: Mapping[str, str], required: Mapping[str, str]) -> list[str]:
    """What to say about each required input left empty, in the form's order."""
    return [message for name, message in required.items() if not kept[name].strip()]


def _pledge_action(
    request: Request,
    db: Session,
    actor: Actor,
    number: str,
    key: str,
    verb: Callable[[Session, Actor, str, str], object],
) -> Response:
    """A bank's pledge or release; the service checks that it may."""
    suite = _suite(request)
    form = _certificate_form(request, db, actor, number, key)
    return _certificate_action(form, db, number, lambda n: verb(db, actor, suite, n))


@router.post("/registry/certificates/{number}/pledge")
def pledge(
    request: Request, number: str, actor: CurrentActor, db: DbSession, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    forms.check_csrf(request, csrf_token)
    return _pledge_action(request, db, actor, number, "pledge", service.pledge)


@router.post("/registry/certificates/{number}/release")
def release(
    request: Request, number: str, actor: CurrentActor, db: DbSession, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    forms.check_csrf(request, csrf_token)
    return _pledge_action(request, db, actor, number, "release", service.release)


def _registry_decision(
    request: Request,
    db: Session,
    actor: Actor,
    number: str,
    key: str,
    kept: Mapping[str, str],
    required: Mapping[str, str],
    verb: Callable[[str, str], object],
) -> Response:
    """The registry transfers, cancels or revokes a certificate; ``verb`` takes the suite and number."""
    authorize(actor, "registry.review", target_type="certificate", target_id=number[:40])
    form = _certificate_form(request, db, actor, number, key, kept)
    missing = _missing(kept, required)
    if missing:
        return form.again(missing[0])
    suite = _suite(request)
    return _certificate_action(form, db, number, lambda n: verb(suite, n))


@router.post("/registry/certificates/{number}/transfer")
def transfer(
    request: Request,
    number: str,
    actor: CurrentActor,
    db: DbSession,
    to: Annotated[str, Form(max_length=100)] = "",
    reason: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    verb = partial(service.transfer, db, actor, to=to.strip(), reason=reason.strip())
    kept = {"to": to, "reason": reason}
    return _registry_decision(request, db, actor, number, "transfer", kept, TRANSFER_REQUIRED, verb)


@router.post("/registry/certificates/{number}/cancel")
def cancel(
    request: Request,
    number: str,
    actor: CurrentActor,
    db: DbSession,
    reason: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    verb = partial(service.cancel, db, actor, reason=reason.strip())
    return _registry_decision(request, db, actor, number, "cancel", {"reason": reason}, REASON_REQUIRED, verb)


@router.post("/registry/certificates/{number}/revoke")
def revoke(
    request: Request,
    number: str,
    actor: CurrentActor,
    db: DbSession,
    reason: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    verb = partial(service.revoke, db, actor, reason=reason.strip())
    return _registry_decision(request, db, actor, number, "revoke", {"reason": reason}, REASON_REQUIRED, verb)


# ------------------------------------------------------------------ change registrations and licences


def _explained(exc: ValidationError) -> str:
    return "；".join(f"{p['field']}：{p['reason']}" for p in explain(exc.errors())[:3])


@router.post("/registry/certificates/{number}/changes")
def apply_change(
    request: Request,
    number: str,
    actor: CurrentActor,
    db: DbSession,
    name: Short = "",
    description: Text = "",
    records: Annotated[str, Form(max_length=30)] = "",
    size_bytes: Annotated[str, Form(max_length=30)] = "",
    update_frequency: Annotated[str, Form(max_length=20)] = "",
    time_range: Annotated[str, Form(max_length=100)] = "",
    scenarios: Text = "",
    fingerprint: Annotated[str, Form(max_length=200)] = "",
    reason: Text = "",
    file: Annotated[UploadFile | None, File()] = None,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """The holder's change form: every changeable field comes prefilled; the service keeps those
    that differ from the registration."""
    forms.check_csrf(request, csrf_token)
    authorize(actor, "registry.hold", target_type="certificate", target_id=number[:40])
    kept = {
        "name": name,
        "description": description,
        "records": records,
        "size_bytes": size_bytes,
        "update_frequency": update_frequency,
        "time_range": time_range,
        "scenarios": scenarios,
        "fingerprint": fingerprint,
        "reason": reason,
    }
    form = _certificate_form(request, db, actor, number, "change", kept)
    if file is not None and file.filename:
        try:
            kept["fingerprint"], _size = _fingerprint(request, file)
        except InvalidInput as exc:
            return form.again(exc.message.removeprefix("file："))
    errors: dict[str, str] = {}
    counts = _counts(kept, errors)
    if errors:
        return form.again("；".join(errors.values()))
    if not reason.strip():
        return form.again("请说明变更理由")
    lines = _lines(scenarios)
    try:
        data = ChangeIn.model_validate(
            {
                "name": name.strip() or None,
                "description": description.strip() or None,
                **counts,
                "update_frequency": update_frequency if update_frequency in FREQUENCIES else None,
                "time_range": time_range.strip(),
                "scenarios": lines or None,
                "fingerprint": kept["fingerprint"].strip().lower() or None,
                "reason": reason.strip(),
            }
        )
    except ValidationError as exc:
        return form.again(_explained(exc))
    return _certificate_action(form, db, number, lambda n: service.apply_change(db, actor, n, data))


def _number_of(db: Session, row: ChangeRequest | Licence | None, unknown: PlatformError) -> str:
    """The number of the certificate a change request or licence is on."""
    certificate = db.get(Certificate, row.certificate_id) if row is not None else None
    if certificate is None:
        raise unknown
    return certificate.number


def _change_number(db: Session, change_id: int) -> str:
    unknown = service.ChangeNotFound(f"变更申请 #{change_id} 不存在")
    return _number_of(db, db.get(ChangeRequest, change_id), unknown)


@router.post("/registry/changes/{change_id}/decision")
def decide_change(
    request: Request,
    change_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    decision: Annotated[str, Form(max_length=20)] = "",
    reason: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    authorize(actor, "registry.review", target_type="registry_change", target_id=change_id)
    number = _change_number(db, change_id)
    form = _certificate_form(request, db, actor, number, "decide", {"decision": decision, "reason": reason})
    decided = _decision(decision, reason)
    if isinstance(decided, str):
        return form.again(decided)
    keyring = platform(request).keyring
    done = "change_approved" if decided.approve else "change_refused"
    return _certificate_action(
        form, db, number, lambda _n: service.decide_change(db, actor, keyring, change_id, decided), done
    )


@router.post("/registry/changes/{change_id}/withdraw")
def withdraw_change(
    request: Request,
    change_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    number = _change_number(db, change_id)
    form = _certificate_form(request, db, actor, number, "withdraw")
    return _certificate_action(
        form, db, number, lambda _n: service.withdraw_change(db, actor, change_id), "change_withdrawn"
    )


@router.post("/registry/certificates/{number}/licences")
def grant_licence(
    request: Request,
    number: str,
    actor: CurrentActor,
    db: DbSession,
    licensee: Annotated[str, Form(max_length=100)] = "",
    right: Annotated[str, Form(max_length=20)] = "",
    scope: Text = "",
    valid_from: Annotated[str, Form(max_length=20)] = "",
    valid_until: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    authorize(actor, "registry.hold", target_type="certificate", target_id=number[:40])
    kept = {
        "licensee": licensee,
        "right": right,
        "scope": scope,
        "valid_from": valid_from,
        "valid_until": valid_until,
    }
    form = _certificate_form(request, db, actor, number, "licence", kept)
    missing = _missing(kept, LICENCE_REQUIRED)
    if missing:
        return form.again("；".join(missing))
    try:
        data = LicenceIn.model_validate(
            {
                "licensee": licensee.strip(),
                "right": right,
                "scope": scope.strip(),
                "valid_from": valid_from.strip() or None,
                "valid_until": valid_until.strip(),
            }
        )
    except ValidationError as exc:
        return form.again(_explained(exc))
    suite = _suite(request)
    return _certificate_action(form, db, number, lambda n: service.grant_licence(db, actor, suite, n, data))


@router.post("/registry/licences/{licence_id}/end")
def end_licence(
    request: Request,
    licence_id: RowId,
    actor: CurrentActor,
    db: DbSession,
    reason: Text = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    forms.check_csrf(request, csrf_token)
    if not _can(actor, "registry.review"):
        authorize(actor, "registry.hold", target_type="registry_licence", target_id=licence_id)
    unknown = service.LicenceNotFound(f"许可 #{licence_id} 不存在")
    number = _number_of(db, db.get(Licence, licence_id), unknown)
    kept = {"reason": reason}
    form = _certificate_form(request, db, actor, number, f"end-{licence_id}", kept)
    missing = _missing(kept, REASON_REQUIRED)
    if missing:
        return form.again(missing[0])
    suite = _suite(request)
    return _certificate_action(
        form,
        db,
        number,
        lambda _n: service.end_licence(db, actor, suite, licence_id, reason.strip()),
        "licence_end",
    )


# ------------------------------------------------------------------ public verification


def _verify_page(
    request: Request,
    db: Session,
    actor: Actor | None,
    *,
    number: str = "",
    result: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    _viewer(request, db, actor)
    context = {
        "number": number,
        "result": dict(result) if result is not None else None,
        "errors": dict(errors or {}),
    }
    return _render(request, "registry/verify.html", context, status=status)


def _outcome(outcome: bundle.Outcome, source: str, **extra: Any) -> dict[str, Any]:
    return {
        "ok": outcome.ok,
        "failed": outcome.failed,
        "status": outcome.status,
        "number": outcome.number,
        "checked": list(outcome.checked),
        "events": outcome.events,
        "last_event": outcome.last_event,
        "version": outcome.version,
        "licences": list(outcome.licences),
        "source": source,
        **extra,
    }


@router.get("/registry/verify")
def verify_page(request: Request, actor: OptionalActor, db: DbSession) -> Response:
    number = (request.query_params.get("number") or "").strip().upper()[:40]
    if not number:
        return _verify_page(request, db, actor)
    if not NUMBER.fullmatch(number):
        return _verify_page(
            request,
            db,
            actor,
            number=number,
            errors={"number": "凭证编号格式应为 GD-DA-年份-6位数字，如 GD-DA-2025-000001"},
            status=422,
        )
    try:
        certificate, _events = service.certificate_events(db, number)
    except NotFound as exc:
        return _verify_page(request, db, actor, number=number, errors={"number": exc.message}, status=404)
    exported = bundle.export(db, platform(request).keyring, number)
    outcome = bundle.verify(exported)
    holder = identity.orgs_by_ids(db, {certificate.holder_id}).get(certificate.holder_id)
    result = _outcome(
        outcome,
        "number",
        current=certificate.status,
        name=certificate.name,
        holder=holder.name if holder else "",
        valid_until=certificate.valid_until,
        size=exported["checkpoint"]["size"],
    )
    return _verify_page(request, db, actor, number=number, result=result)


def _read_json(upload: UploadFile | None, field: str, label: str, required: bool) -> Any:
    if upload is None or not upload.filename:
        if required:
            raise InvalidInput(f"{field}：请选择{label}（JSON 文件）", details={"field": field})
        return None
    raw = upload.file.read(MAX_BUNDLE_BYTES + 1)
    if len(raw) > MAX_BUNDLE_BYTES:
        raise InvalidInput(f"{field}：{label}超过 5 MB", details={"field": field})
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput(f"{field}：{label}不是有效的 JSON", details={"field": field}) from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{field}：{label}应为 JSON 对象", details={"field": field})
    return data


@router.post("/registry/verify")
def verify_upload(
    request: Request,
    actor: OptionalActor,
    db: DbSession,
    bundle_file: Annotated[UploadFile | None, File()] = None,
    checkpoint_file: Annotated[UploadFile | None, File()] = None,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    _check_public_csrf(request, csrf_token)
    errors: dict[str, str] = {}
    data: Any = None
    later: Any = None
    for field, upload, label, required in (
        ("bundle_file", bundle_file, "凭证包", True),
        ("checkpoint_file", checkpoint_file, "后续检查点", False),
    ):
        try:
            value = _read_json(upload, field, label, required)
        except InvalidInput as exc:
            errors[field] = exc.message.removeprefix(f"{field}：")
            continue
        if field == "bundle_file":
            data = value
        else:
            later = value
    if errors:
        return _verify_page(request, db, actor, errors=errors, status=422)
    outcome = bundle.verify(data, later)
    result = _outcome(
        outcome,
        "upload",
        file=(bundle_file.filename if bundle_file is not None else "") or "",
        with_later=later is not None,
        size=_size(data),
    )
    return _verify_page(request, db, actor, result=result)


def _size(data: Any) -> int | None:
    try:
        return int(data["checkpoint"]["size"])
    except (KeyError, TypeError, ValueError):
        return None
