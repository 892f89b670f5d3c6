"""Attachment files: what an upload is (found from its bytes, not from the client's word), its name
made safe, and the content-addressed store under ``<data_dir>/attachments``.

The store keeps each distinct file once, named by its hash (SHA-256 or SM3, the platform's suite):
``attachments/ab/abcdef…``. A file is written (temporary file, fsync, rename: readers never see
half a file) only after the upload passed every check, inside the transaction that adds its row.

Why write inside the transaction and clean up after, rather than keep every file written: a
refused or failed upload must leave nothing behind, and files are shared between rows, so "is this
file still needed?" has one answer — a committed row names its hash. When the transaction that
created a file does not commit (a rollback, a failed commit, a session closed without commit), the
file is removed unless a committed row uses the same hash. Creating a file and that check both run
under a lock on the hash (PostgreSQL: an advisory transaction lock; SQLite: write transactions are
serialised by ``BEGIN IMMEDIATE``), so a cleanup never removes a file another transaction has just
come to rely on. What remains possible is an orphan, never a row without its file: a process killed
between writing and committing, or an upload inside a savepoint that rolls back while the outer
transaction commits (no caller does that). Orphans name no row and cost only disk space.
"""

from __future__ import annotations

import io
import logging
import os
import re
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, event, select, text
from sqlalchemy.orm import Session, SessionTransaction

from yiwang.kit.errors import InvalidInput, PlatformError
from yiwang.registry.models import Attachment

log = logging.getLogger(__name__)

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024  # each file (20 MB)
MAX_ATTACHMENTS = 20  # per application
MAX_NAME = 200  # characters of a file name, as the column holds
PENDING_KEY = "registry.attachments.created"  # session.info: files this transaction created
LOCK_CLASS = 0x59574154  # "YWAT": the advisory-lock namespace of attachment hashes (PostgreSQL)
HEX = re.compile(r"^[0-9a-f]{64}$")
# Characters no file name keeps: control characters, what Windows or a path would read as syntax,
# and the bidirectional overrides that make "报告\u202efdp.exe" look like "报告exe.pdf".
UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*\u200e\u200f\u202a-\u202e\u2066-\u2069]')
CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")  # not in text (tab, newlines, form feed are)


@dataclass(frozen=True)
class FileType:
    """An accepted kind of file: its media type, the name endings it may have, and how to say it."""

    content_type: str
    extensions: tuple[str, ...]  # the first is added to a name that has none
    label: str


PDF = FileType("application/pdf", (".pdf",), "PDF 文档")
PNG = FileType("image/png", (".png",), "PNG 图片")
JPEG = FileType("image/jpeg", (".jpg", ".jpeg"), "JPEG 图片")
DOCX = FileType(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document", (".docx",), "Word 文档（DOCX）"
)
XLSX = FileType(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (".xlsx",), "Excel 表格（XLSX）"
)
ZIP = FileType("application/zip", (".zip",), "ZIP 压缩包")
CSV = FileType("text/csv; charset=utf-8", (".csv",), "CSV 文本")
TXT = FileType("text/plain; charset=utf-8", (".txt",), "文本文件")
ALLOWED = "PDF、PNG、JPEG、DOCX、XLSX、ZIP，以及 UTF-8 编码的 CSV、TXT"


def _bad(message: str) -> InvalidInput:
    return InvalidInput(f"file：{message}", details={"field": "file"})


# ------------------------------------------------------------------ names


def safe_name(raw: str) -> str:
    """The uploaded name without any path, control or look-alike characters, at most 200 characters
    (the extension kept); "附件" when nothing is left."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = " ".join(UNSAFE.sub("_", name).split()).strip(" .")
    if not name or set(name) <= {"_", " ", "."}:
        name = "附件"
    stem, ext = split_extension(name)
    return stem[: MAX_NAME - len(ext)] + ext


def split_extension(name: str) -> tuple[str, str]:
    """("授权书", ".pdf"); an ending of more than 10 characters is not an extension."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 10 or " " in ext:
        return name, ""
    return stem, "." + ext


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the real one as RFC 5987 ``filename*``."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\%' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


# ------------------------------------------------------------------ what a file is


def sniff(content: bytes, name: str) -> FileType:
    """The file's type from its first bytes (text: valid UTF-8 without control characters); refused
    when it is none of the accepted types, or when the name's extension claims another type."""
    ext = split_extension(name)[1].lower()
    found = _by_content(content, ext)
    if not ext or ext in found.extensions:
        return found
    if ext == ".zip" and found in (DOCX, XLSX):
        return ZIP  # an Office file is a ZIP archive, and may be sent as one
    raise _bad(f"文件内容是{found.label}，与扩展名 {ext} 不符（按文件内容判断类型，不看扩展名）")


def _by_content(content: bytes, ext: str) -> FileType:
    if content.startswith(b"%PDF-"):
        return PDF
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if content.startswith(b"\xff\xd8\xff"):
        return JPEG
    if content.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _archive(content)
    if not CONTROL.search(content):
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad("文本文件须为 UTF-8 编码（GBK 等编码的文件请另存为 UTF-8 后上传）") from None
        return CSV if ext == ".csv" else TXT
    raise _bad(f"文件内容不是允许的类型；允许：{ALLOWED}（按文件内容判断，不看扩展名）")


def _archive(content: bytes) -> FileType:
    """DOCX and XLSX are ZIP archives with an Office content-types part and their own folder."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError):
        raise _bad("ZIP 文件已损坏或不完整") from None
    if "[Content_Types].xml" in names:
        if any(n.startswith("word/") for n in names):
            return DOCX
        if any(n.startswith("xl/") for n in names):
            return XLSX
    return ZIP


def with_extension(name: str, found: FileType) -> str:
    """The name, given the type's extension when it has none."""
    if split_extension(name)[1]:
        return name
    ext = found.extensions[0]
    return name[: MAX_NAME - len(ext)] + ext


# ------------------------------------------------------------------ the store


class AttachmentMissing(PlatformError):
    """A row names a file the store does not have: the data directory was damaged or moved."""

    code = "attachment_file_missing"
    status = 500


@dataclass(frozen=True)
class AttachmentStore:
    """Content-addressed files under ``root`` (``<data_dir>/attachments``)."""

    root: Path

    @classmethod
    def under(cls, data_dir: Path) -> AttachmentStore:
        return cls(data_dir / "attachments")

    def path(self, digest: str) -> Path:
        if not HEX.fullmatch(digest):
            raise ValueError("not a 64-digit hexadecimal hash")
        return self.root / digest[:2] / digest

    def put(self, session: Session, digest: str, content: bytes) -> None:
        """Keep ``content`` (whose hash is ``digest``) unless it is kept already. Call once the upload
        is valid, in the transaction that adds its row: if that transaction does not commit, the file
        goes again (unless a committed row uses it)."""
        _lock(session.connection(), digest)
        path = self.path(digest)
        if path.is_file() and path.stat().st_size == len(content):
            return  # the same bytes are kept already (same hash, same size)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{digest}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "xb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)  # the rename itself survives a power cut
        finally:
            tmp.unlink(missing_ok=True)
        session.info.setdefault(PENDING_KEY, {})[digest] = self

    def open(self, digest: str) -> Path:
        """The file of ``digest``, to send."""
        path = self.path(digest)
        if not path.is_file():
            log.error("attachment file %s is missing from %s", digest, self.root)
            raise AttachmentMissing("附件文件缺失（数据目录可能已损坏），请联系平台运维")
        return path

    def remove_unless_used(self, connection: Connection, digest: str) -> None:
        """Remove the file when no committed row names it (under the hash's lock)."""
        _lock(connection, digest)
        used = connection.execute(select(Attachment.id).where(Attachment.hash == digest).limit(1)).first()
        if used is None:
            self.path(digest).unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock(connection: Connection, digest: str) -> None:
    """Hold the hash's lock until the transaction ends. SQLite needs none: its write transactions
    begin with ``BEGIN IMMEDIATE`` and so never overlap."""
    if connection.dialect.name == "postgresql":
        key = int.from_bytes(bytes.fromhex(digest[:8]), "big", signed=True)
        connection.execute(
            text("SELECT pg_advisory_xact_lock(CAST(:space AS integer), CAST(:key AS integer))"),
            {"space": LOCK_CLASS, "key": key},
        )


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    # A savepoint's release fires after_commit too; only the outermost commit makes rows durable.
    if not session.in_nested_transaction():
        session.info.pop(PENDING_KEY, None)


@event.listens_for(Session, "after_transaction_end")
def _not_committed(session: Session, transaction: SessionTransaction) -> None:
    """The outermost transaction ended without committing: remove the files it created."""
    if transaction.parent is not None:
        return
    created: dict[str, Any] = session.info.pop(PENDING_KEY, None) or {}
    if not created:
        return
    try:
        engine = session.get_bind().engine
        with engine.connect() as connection, connection.begin():
            for digest, store in created.items():
                store.remove_unless_used(connection, digest)
    except Exception:  # noqa: BLE001 - a cleanup must not turn the caller's error into another one
        log.exception("could not remove the files of an upload that did not commit: %s", sorted(created))
