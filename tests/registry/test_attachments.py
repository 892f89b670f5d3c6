"""Attachments of registry applications (证明材料): upload, list and download through the API, the type
found from the bytes, the limits, who may see them (others get 404), the store left clean when a
transaction fails, the certificate listing them (its bundle still verifying offline), and the page."""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import warnings
import weakref
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import PASSWORD, Province
from tests.registry.test_registry import Registry, application
from tests.test_cli import run
from tests.web.test_pages import HTML, csrf, login
from yiwang.app import create_app
from yiwang.config import reset_settings
from yiwang.identity import service as identity
from yiwang.identity.authz import Actor
from yiwang.kit.audit import AuditEntry
from yiwang.kit.validators import make_uscc_from
from yiwang.registry import bundle, files, service
from yiwang.registry.models import Application, Attachment
from yiwang.registry.schemas import DecisionIn, ReportIn
from yiwang.runtime import Platform

API = "/api/v1/registry"
OTHER = make_uscc_from("9", "1", "440300", "MA5D56789")
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"This program cannot be run in DOS mode."
)
START = date(2025, 9, 29)


def office(folder: str) -> bytes:
    """A minimal DOCX (``word``) or XLSX (``xl``): a ZIP with the Office content-types part."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(f"{folder}/document.xml", "<doc/>")
    return buffer.getvalue()


@pytest.fixture
def registry(platform: Platform, province: Province) -> Registry:
    found = Registry(platform, province)
    with platform.session_scope() as db:
        system = Actor.system()
        identity.create_org(
            db, system, code=OTHER, name="深圳另一数据公司", parent="440300", kind="enterprise"
        )
        identity.create_user(
            db, system, username="other", org_code=OTHER, roles=["enterprise"], password=PASSWORD
        )
    return found


@pytest.fixture
def client(registry: Registry) -> Iterator[TestClient]:
    with TestClient(create_app(registry.platform)) as c:
        yield c


TOKENS: weakref.WeakKeyDictionary[Registry, dict[str, str]] = weakref.WeakKeyDictionary()


def bearer(registry: Registry, username: str) -> dict[str, str]:
    tokens = TOKENS.setdefault(registry, {})
    if username not in tokens:
        tokens[username] = registry.province.token(username)
    return {"Authorization": "Bearer " + tokens[username]}


def store(registry: Registry) -> files.AttachmentStore:
    return files.AttachmentStore.under(registry.platform.settings.data_dir)


def stored_files(registry: Registry) -> set[str]:
    root = store(registry).root
    return {p.name for p in root.glob("*/*") if not p.name.startswith(".")} if root.exists() else set()


def count(platform: Platform) -> int:
    with platform.session_scope(read_only=True) as db:
        return int(db.execute(select(func.count(Attachment.id))).scalar_one())


def audit_actions(platform: Platform, prefix: str) -> list[tuple[str, str, str]]:
    with platform.session_scope(read_only=True) as db:
        rows = db.execute(
            select(AuditEntry.action, AuditEntry.actor, AuditEntry.outcome)
            .where(AuditEntry.action.startswith(prefix))
            .order_by(AuditEntry.seq)
        )
        return [(action, actor, outcome) for action, actor, outcome in rows]


def submitted(registry: Registry) -> int:
    with registry.platform.session_scope() as db:
        return service.submit_application(db, registry.actor("holder"), application(), today=START).id


def advance(registry: Registry, app_id: int, to: str) -> None:
    """Take a submitted application on to ``compliance``, ``notice`` or ``issued``."""
    operator = registry.actor("operator")
    with registry.platform.session_scope() as db:
        service.accept_application(db, operator, app_id, DecisionIn(approve=True))
        if to == "compliance":
            return
        service.attach_report(db, registry.actor("assessor"), app_id, ReportIn(opinion="pass", report="合规"))
        service.decide_compliance(db, operator, app_id, DecisionIn(approve=True), today=START)
        found = db.get(Application, app_id)
        assert found is not None
        assert found.notice_end is not None
        if to == "issued":
            service.issue_due(db, operator, registry.platform.keyring, today=found.notice_end.replace(day=28))


def upload(
    client: TestClient,
    headers: dict[str, str],
    app_id: int,
    name: str,
    content: bytes,
    kind: str = "source_proof",
    claimed: str = "application/octet-stream",
) -> Any:
    return client.post(
        f"{API}/applications/{app_id}/attachments",
        data={"kind": kind},
        files={"file": (name, content, claimed)},
        headers=headers,
    )


class TestUploadListDownload:
    def test_the_same_bytes_come_back_with_the_chinese_name(
        self, client: TestClient, registry: Registry
    ) -> None:
        app_id = submitted(registry)
        holder = bearer(registry, "holder")
        name = "数据来源证明（2025）.pdf"
        sent = upload(client, holder, app_id, name, PDF, claimed="text/html")  # the client's type is ignored
        assert sent.status_code == 201, sent.text
        attachment = sent.json()
        digest = hashlib.sha256(PDF).hexdigest()  # the standard suite: SHA-256
        assert {
            k: attachment[k] for k in ("application", "kind", "name", "content_type", "size", "hash")
        } == {
            "application": app_id,
            "kind": "source_proof",
            "name": name,
            "content_type": "application/pdf",
            "size": len(PDF),
            "hash": digest,
        }
        assert attachment["uploaded_by"] == "holder"
        assert (store(registry).root / digest[:2] / digest).read_bytes() == PDF

        for who in ("holder", "assessor", "operator", "auditor"):
            listed = client.get(f"{API}/applications/{app_id}/attachments", headers=bearer(registry, who))
            assert listed.status_code == 200, (who, listed.text)
            assert [a["id"] for a in listed.json()] == [attachment["id"]]

        got = client.get(attachment["url"], headers=bearer(registry, "assessor"))
        assert got.status_code == 200, got.text
        assert got.content == PDF
        assert got.headers["content-type"] == "application/pdf"
        assert got.headers["x-content-type-options"] == "nosniff"
        disposition = got.headers["content-disposition"]
        assert disposition.startswith("attachment; ")
        assert f"filename*=UTF-8''{quote(name, safe='')}" in disposition
        assert re.search(r'filename="[ -~]+\.pdf"', disposition)  # an ASCII fallback

        assert audit_actions(registry.platform, "registry.attachment.") == [
            ("registry.attachment.upload", "holder", "ok"),
            ("registry.attachment.download", "assessor", "ok"),
        ]

    def test_types_are_found_from_the_bytes(self, client: TestClient, registry: Registry) -> None:
        app_id = submitted(registry)
        holder = bearer(registry, "holder")
        accepted = {
            "样例.png": (PNG, "image/png"),
            "扫描件.jpg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(32), "image/jpeg"),
            "合规自评报告.docx": (office("word"), files.DOCX.content_type),
            "字段清单.xlsx": (office("xl"), files.XLSX.content_type),
            "样例数据.csv": ("编号,用电量\n1,12\n".encode(), "text/csv; charset=utf-8"),
            "说明": ("没有扩展名的 UTF-8 文本\n".encode(), "text/plain; charset=utf-8"),
        }
        for name, (content, content_type) in accepted.items():
            sent = upload(client, holder, app_id, name, content, kind="sample")
            assert sent.status_code == 201, (name, sent.text)
            assert sent.json()["content_type"] == content_type
        assert sent.json()["name"] == "说明.txt"  # a name without an extension gets the type's

        refused = {
            "授权书.pdf": (PNG, "文件内容是PNG 图片，与扩展名 .pdf 不符"),
            "数据.csv": ("编号,名称\n1,广州\n".encode("gbk"), "UTF-8"),
            "坏的.zip": (b"PK\x03\x04" + bytes(40), "ZIP 文件已损坏"),
            "空.txt": (b"", "文件为空"),
        }
        for name, (content, reason) in refused.items():
            sent = upload(client, holder, app_id, name, content)
            assert sent.status_code == 422, (name, sent.text)
            error = sent.json()["error"]
            assert error["details"] == {"field": "file"}, name
            assert error["message"].startswith("file："), name
            assert reason in error["message"], (name, error["message"])
        assert count(registry.platform) == len(accepted)

    def test_an_exe_renamed_pdf_is_refused_and_nothing_is_stored(
        self, client: TestClient, registry: Registry
    ) -> None:
        app_id = submitted(registry)
        before = stored_files(registry)
        sent = upload(
            client, bearer(registry, "holder"), app_id, "授权书.pdf", EXE, claimed="application/pdf"
        )
        assert sent.status_code == 422
        error = sent.json()["error"]
        assert error["details"] == {"field": "file"}
        assert "文件内容不是允许的类型" in error["message"]
        assert (count(registry.platform), stored_files(registry)) == (0, before)

    def test_twenty_megabytes_is_the_limit(self, client: TestClient, registry: Registry) -> None:
        app_id = submitted(registry)
        holder = bearer(registry, "holder")
        before = stored_files(registry)
        limit = files.MAX_ATTACHMENT_BYTES
        assert limit == 20 * 1024 * 1024
        too_big = upload(client, holder, app_id, "样例数据.csv", b"a" * (limit + 1))
        assert too_big.status_code == 422
        assert too_big.json()["error"]["details"] == {"field": "file"}
        assert "文件超过 20 MB" in too_big.json()["error"]["message"]
        assert (count(registry.platform), stored_files(registry)) == (0, before)
        exactly = upload(client, holder, app_id, "样例数据.csv", b"a" * limit, kind="sample")
        assert exactly.status_code == 201, exactly.text
        assert exactly.json()["size"] == limit

    def test_at_most_twenty_per_application(self, client: TestClient, registry: Registry) -> None:
        app_id = submitted(registry)
        with registry.platform.session_scope() as db:
            for n in range(files.MAX_ATTACHMENTS):
                service.add_attachment(
                    db,
                    registry.actor("holder"),
                    store(registry),
                    "standard",
                    app_id,
                    kind="other",
                    filename=f"材料{n}.txt",
                    content=f"第 {n} 份\n".encode(),
                )
        sent = upload(client, bearer(registry, "holder"), app_id, "第21份.pdf", PDF)
        assert sent.status_code == 422
        assert sent.json()["error"]["details"] == {"field": "file"}
        assert "最多 20 份附件" in sent.json()["error"]["message"]
        assert count(registry.platform) == files.MAX_ATTACHMENTS

    def test_an_unknown_kind_is_refused_naming_the_field(
        self, client: TestClient, registry: Registry
    ) -> None:
        app_id = submitted(registry)
        sent = upload(client, bearer(registry, "holder"), app_id, "授权书.pdf", PDF, kind="invoice")
        assert sent.status_code == 422
        assert "kind" in sent.json()["error"]["message"]
        assert count(registry.platform) == 0

    def test_names_are_cleaned_and_one_copy_is_kept(self, client: TestClient, registry: Registry) -> None:
        app_id = submitted(registry)
        holder = bearer(registry, "holder")
        first = upload(client, holder, app_id, "../../etc/授权\u202e书.pdf", PDF)
        assert first.status_code == 201, first.text
        assert first.json()["name"] == "授权_书.pdf"
        long_name = "很长的文件名" * 50 + ".pdf"
        second = upload(client, holder, app_id, long_name, PDF, kind="authorization")
        assert second.status_code == 201, second.text
        assert len(second.json()["name"]) == 200
        assert second.json()["name"].endswith(".pdf")
        assert first.json()["hash"] == second.json()["hash"]
        assert stored_files(registry) >= {first.json()["hash"]}
        assert len([f for f in stored_files(registry) if f == first.json()["hash"]]) == 1


class TestNames:
    @pytest.mark.parametrize(
        ("raw", "clean"),
        [
            ("C:\\Users\\张三\\授权书.pdf", "授权书.pdf"),
            ("报告\u202efdp.exe", "报告_fdp.exe"),
            ('a<b>c:d"e|f?g*h\x07.txt', "a_b_c_d_e_f_g_h_.txt"),
            ("  多个   空格 .csv ", "多个 空格 .csv"),
            ("..", "附件"),
            ("", "附件"),
            (".hidden.pdf", "hidden.pdf"),
            ("ｆｕｌｌ\u3000width.pdf", "ｆｕｌｌ width.pdf"),
        ],
    )
    def test_safe_name(self, raw: str, clean: str) -> None:
        assert files.safe_name(raw) == clean

    def test_the_download_name_has_an_ascii_fallback_and_the_rfc_5987_form(self) -> None:
        header = files.content_disposition('授权书 "v2".pdf')
        assert header == (
            'attachment; filename="___ _v2_.pdf"; '
            "filename*=UTF-8''%E6%8E%88%E6%9D%83%E4%B9%A6%20%22v2%22.pdf"
        )


class TestWhoAndWhen:
    def test_the_holder_uploads_until_the_notice_starts(self, client: TestClient, registry: Registry) -> None:
        app_id = submitted(registry)
        holder, operator = bearer(registry, "holder"), bearer(registry, "operator")
        advance(registry, app_id, "compliance")
        assert (
            upload(
                client, holder, app_id, "合规自评报告.pdf", PDF, kind="compliance_self_assessment"
            ).status_code
            == 201
        )
        assert upload(client, operator, app_id, "补正材料.pdf", PDF + b"\n", kind="other").status_code == 201
        assessor = upload(client, bearer(registry, "assessor"), app_id, "评估.pdf", PDF)
        assert assessor.status_code == 403  # sees the application, may not add to it

        with registry.platform.session_scope() as db:
            service.attach_report(
                db, registry.actor("assessor"), app_id, ReportIn(opinion="pass", report="合规")
            )
            service.decide_compliance(
                db, registry.actor("operator"), app_id, DecisionIn(approve=True), today=START
            )
        before = stored_files(registry)
        for who in (holder, operator):
            late = upload(client, who, app_id, "迟到的材料.pdf", PDF + b"late")
            assert late.status_code == 409, late.text
            error = late.json()["error"]
            assert error["code"] == "wrong_state"
            assert error["details"]["field"] == "status"
            assert "公示中" in error["message"]
            assert "不能再上传附件" in error["message"]
        assert (count(registry.platform), stored_files(registry)) == (2, before)

    def test_another_enterprise_gets_404_as_if_nothing_were_there(
        self, client: TestClient, registry: Registry
    ) -> None:
        app_id = submitted(registry)
        sent = upload(client, bearer(registry, "holder"), app_id, "授权书.pdf", PDF)
        attachment_id = sent.json()["id"]
        for who in ("other", "bank_a"):
            headers = bearer(registry, who)
            listed = client.get(f"{API}/applications/{app_id}/attachments", headers=headers)
            nowhere = client.get(f"{API}/applications/999999/attachments", headers=headers)
            assert (listed.status_code, nowhere.status_code) == (404, 404)
            assert (
                listed.json()["error"]["code"] == nowhere.json()["error"]["code"] == "application_not_found"
            )
            assert listed.json()["error"]["details"] is None
            assert listed.json()["error"]["message"] == f"登记申请 #{app_id} 不存在"
            got = client.get(f"{API}/attachments/{attachment_id}", headers=headers)
            missing = client.get(f"{API}/attachments/999999", headers=headers)
            assert (got.status_code, missing.status_code) == (404, 404)
            assert got.json()["error"]["code"] == missing.json()["error"]["code"] == "attachment_not_found"
            put = upload(client, headers, app_id, "冒名材料.pdf", PDF + b"x")
            assert put.status_code == 404
        assert count(registry.platform) == 1
        # The refusals are in the audit log, though the answer was "not found".
        denied = [entry for entry in audit_actions(registry.platform, "registry.") if entry[2] == "denied"]
        assert ("registry.view", "other", "denied") in denied
        assert ("registry.view", "bank_a", "denied") in denied
        assert ("registry.attachment.download", "other", "ok") not in audit_actions(
            registry.platform, "registry."
        )

    def test_signed_out_callers_are_asked_to_sign_in(self, client: TestClient, registry: Registry) -> None:
        app_id = submitted(registry)
        assert client.get(f"{API}/applications/{app_id}/attachments").status_code == 401
        assert upload(client, {}, app_id, "授权书.pdf", PDF).status_code == 401


class TestTheStoreAfterAFailedTransaction:
    def test_a_rolled_back_upload_leaves_no_file_unless_a_committed_row_uses_it(
        self, registry: Registry
    ) -> None:
        app_id = submitted(registry)
        holder = registry.actor("holder")

        def attach(content: bytes) -> str:
            with registry.platform.session_scope() as db:
                return service.add_attachment(
                    db,
                    holder,
                    store(registry),
                    "standard",
                    app_id,
                    kind="other",
                    filename="a.txt",
                    content=content,
                ).hash

        def attach_then_fail(content: bytes) -> None:
            def failing() -> None:
                with registry.platform.session_scope() as db:
                    service.add_attachment(
                        db,
                        holder,
                        store(registry),
                        "standard",
                        app_id,
                        kind="other",
                        filename="b.txt",
                        content=content,
                    )
                    raise RuntimeError("the database step after the upload failed")

            with pytest.raises(RuntimeError, match="database step"):
                failing()

        fresh = "只在失败的事务中上传过\n".encode()
        attach_then_fail(fresh)
        assert hashlib.sha256(fresh).hexdigest() not in stored_files(registry)
        assert count(registry.platform) == 0

        kept = attach("已提交的材料\n".encode())
        attach_then_fail("已提交的材料\n".encode())  # the same file again, in a failing transaction
        assert kept in stored_files(registry)
        with registry.platform.session_scope(read_only=True) as db:
            attachment = db.execute(select(Attachment)).scalar_one()
        assert store(registry).open(attachment.hash).read_bytes() == "已提交的材料\n".encode()

    def test_a_rollback_never_removes_the_file_a_concurrent_upload_relies_on(
        self, registry: Registry
    ) -> None:
        """Two applications get the same file at once. The first transaction writes it, then rolls
        back; the second finds it stored and commits only after the first has cleaned up. Without
        the hash's lock the cleanup would see no committed row and remove the file the second row
        names. With it, the second waits (PostgreSQL: the advisory lock; SQLite: the write
        transaction), so the cleanup runs either before it (the second writes the file again) or
        after its commit (and keeps the file)."""
        first_id, second_id = submitted(registry), submitted(registry)
        holder = registry.actor("holder")
        content = "两件申请同时上传的同一份授权书\n".encode()
        written, found, cleaned = threading.Event(), threading.Event(), threading.Event()
        outcome: dict[str, Any] = {}

        def add(app_id: int) -> None:
            with registry.platform.session_scope() as db:
                service.add_attachment(
                    db,
                    holder,
                    store(registry),
                    "standard",
                    app_id,
                    kind="authorization",
                    filename="授权书.txt",
                    content=content,
                )
                if app_id == first_id:
                    written.set()
                    found.wait(1)  # without a lock the second finds the file at once; with one it waits
                    raise RuntimeError("the first transaction fails after the file is written")
                found.set()
                cleaned.wait(2)  # commit after the first's cleanup, when nothing holds the second back

        def first() -> None:
            try:
                add(first_id)
            except RuntimeError as error:
                outcome["first"] = str(error)
            cleaned.set()

        def second() -> None:
            add(second_id)
            outcome["second"] = "committed"

        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        threads[0].start()
        assert written.wait(10)
        threads[1].start()
        for thread in threads:
            thread.join(30)
        assert outcome == {
            "first": "the first transaction fails after the file is written",
            "second": "committed",
        }
        with registry.platform.session_scope(read_only=True) as db:
            rows = list(db.execute(select(Attachment)).scalars())
        assert [row.application_id for row in rows] == [second_id]
        assert store(registry).open(rows[0].hash).read_bytes() == content

    def test_a_missing_file_is_reported_not_crashed_on(self, client: TestClient, registry: Registry) -> None:
        app_id = submitted(registry)
        sent = upload(client, bearer(registry, "holder"), app_id, "授权书.pdf", PDF).json()
        (store(registry).root / sent["hash"][:2] / sent["hash"]).unlink()
        got = client.get(sent["url"], headers=bearer(registry, "holder"))
        assert got.status_code == 500
        assert got.json()["error"]["code"] == "attachment_file_missing"


class TestCertificate:
    def test_the_certificate_lists_the_attachments_and_its_bundle_verifies_offline(
        self, client: TestClient, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        app_id = submitted(registry)
        holder = bearer(registry, "holder")
        first = upload(client, holder, app_id, "数据来源证明.pdf", PDF).json()
        second = upload(
            client, holder, app_id, "样例数据.csv", "编号,用电量\n1,12\n".encode(), kind="sample"
        ).json()
        advance(registry, app_id, "issued")
        with registry.platform.session_scope(read_only=True) as db:
            number = service.certificate_numbers(db, [app_id])[app_id]
        body = client.get(f"{API}/certificates/{number}").json()["body"]
        assert body["attachments"] == [
            {"kind": a["kind"], "name": a["name"], "hash": a["hash"], "size": a["size"]}
            for a in (first, second)
        ]

        page = client.get(f"/registry/certificates/{number}", headers=HTML)
        assert page.status_code == 200
        assert "证明材料" in page.text
        assert "数据来源证明：数据来源证明.pdf" in page.text
        assert first["hash"] in page.text

        exported = client.get(f"{API}/certificates/{number}/bundle").json()
        assert exported["certificate"]["attachments"] == body["attachments"]
        assert bundle.verify(exported).ok
        bundle_file = tmp_path / f"{number}.json"
        bundle_file.write_text(json.dumps(exported, ensure_ascii=False), encoding="utf-8")
        # Offline: no data directory, a database that cannot be reached.
        monkeypatch.setenv("YIWANG_DATA_DIR", str(tmp_path / "nowhere"))
        monkeypatch.setenv("YIWANG_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
        reset_settings()
        try:
            code, out = run("certificate", "verify", str(bundle_file))
            assert code == 0, out
            assert "有效" in out
            tampered = json.loads(bundle_file.read_text(encoding="utf-8"))
            tampered["certificate"]["attachments"][0]["hash"] = hashlib.sha256(b"another file").hexdigest()
            bundle_file.write_text(json.dumps(tampered, ensure_ascii=False), encoding="utf-8")
            code, out = run("certificate", "verify", str(bundle_file))
            assert code == 1
            assert "凭证签名" in out
        finally:
            reset_settings()

    def test_a_certificate_without_attachments_has_the_body_it_always_had(self, registry: Registry) -> None:
        number = registry.certificate()
        with registry.platform.session_scope(read_only=True) as db:
            certificate, _events = service.certificate_events(db, number)
        assert "attachments" not in json.loads(certificate.body)


# ------------------------------------------------------------------ the application page


def signed_in(app: Any, username: str) -> TestClient:
    client = TestClient(app, headers=HTML)
    assert login(client, username).status_code == 303
    return client


class TestApplicationPage:
    def test_upload_through_the_form_then_download_from_the_list(self, registry: Registry) -> None:
        app_id = submitted(registry)
        app = create_app(registry.platform)
        page_url = f"/registry/applications/{app_id}"
        with signed_in(app, "holder") as holder:
            mine = holder.get("/registry/mine")
            assert f'href="{page_url}"' in mine.text
            page = holder.get(page_url)
            assert page.status_code == 200, page.text
            assert 'id="form-attachment"' in page.text
            assert 'enctype="multipart/form-data"' in page.text
            assert '<option value="authorization">授权书</option>' in page.text
            assert "暂无附件" in page.text

            # A bad file: the error under the file input, the kind kept, nothing stored.
            bad = holder.post(
                f"{page_url}/attachments",
                data={"kind": "authorization", "csrf_token": csrf(page)},
                files={"file": ("授权书.pdf", EXE, "application/pdf")},
                follow_redirects=False,
            )
            assert bad.status_code == 422
            assert re.search(r'id="f-file"[^>]*aria-invalid="true"', bad.text)
            assert 'id="err-file">文件内容不是允许的类型' in bad.text
            assert '<option value="authorization" selected>' in bad.text
            assert count(registry.platform) == 0

            missing = holder.post(
                f"{page_url}/attachments", data={"csrf_token": csrf(page)}, follow_redirects=False
            )
            assert missing.status_code == 422
            assert 'id="err-kind">请选择材料类别' in missing.text
            assert 'id="err-file">请选择要上传的文件' in missing.text

            forged = holder.post(
                f"{page_url}/attachments",
                data={"kind": "authorization"},
                files={"file": ("授权书.pdf", PDF, "application/pdf")},
                follow_redirects=False,
            )
            assert forged.status_code == 403
            assert count(registry.platform) == 0

            done = holder.post(
                f"{page_url}/attachments",
                data={"kind": "authorization", "csrf_token": csrf(page)},
                files={"file": ("授权书.pdf", PDF, "application/pdf")},
                follow_redirects=False,
            )
            assert done.status_code == 303, done.text
            assert done.headers["location"] == f"{page_url}?done=attachment#attachments"
            listed = holder.get(done.headers["location"])
            assert "附件已上传" in listed.text
            with registry.platform.session_scope(read_only=True) as db:
                attachment = db.execute(select(Attachment)).scalar_one()
            link = f"/api/v1/registry/attachments/{attachment.id}"
            assert f'href="{link}"' in listed.text
            assert holder.get(link).content == PDF

        with signed_in(app, "assessor") as assessor:
            seen = assessor.get(page_url)
            assert seen.status_code == 200
            assert "授权书.pdf" in seen.text
            assert 'id="form-attachment"' not in seen.text  # the assessor reads, does not add

        with signed_in(app, "operator") as operator:
            assert f'href="{page_url}"' in operator.get("/registry/review").text
            assert 'id="form-attachment"' in operator.get(page_url).text  # the registry may add too

        with signed_in(app, "other") as other:
            hidden = other.get(page_url)
            assert hidden.status_code == 404
            assert "授权书.pdf" not in hidden.text
            assert f"登记申请 #{app_id} 不存在" in hidden.text  # as for an application that does not exist
            assert "登记申请 #999999 不存在" in other.get("/registry/applications/999999").text

        advance(registry, app_id, "notice")
        with signed_in(app, "holder") as holder:
            closed = holder.get(page_url)
            assert 'id="form-attachment"' not in closed.text
            assert "公示开始后附件不再变动" in closed.text
