"""Crypto suites and the platform keyring.

Two suites, chosen at ``yiwang init`` (``YIWANG_CRYPTO_SUITE``) and recorded with
every hash and signature, so verification never has to guess:

=============  ===========  ====================  ======================
suite          hash         signature             field encryption
=============  ===========  ====================  ======================
``standard``   SHA-256      Ed25519               AES-256-GCM
``sm`` (国密)  SM3          SM2 (GB/T 32918)      SM4-GCM
=============  ===========  ====================  ======================

Key and signature encodings (raw bytes; hex or base64 only at the JSON edge):

- ``standard``: private key 32 bytes (Ed25519 seed), public key 32 bytes,
  signature 64 bytes.
- ``sm``: private key 32 bytes (the big-endian scalar d), public key 65 bytes
  (uncompressed point ``04 || x || y``, as OpenSSL and GmSSL print it), signature
  64 bytes ``r || s``. Signatures cover SM3(Z || M) with the default user id
  ``1234567812345678``, so they verify with any conforming SM2 implementation.
- Ciphertexts: ``nonce (12) || ciphertext || tag (16)``.

SM2 comes from gmssl, which is pure Python (milliseconds per operation), so
parsed public keys and their Z values are cached per key, and hashing is done by
OpenSSL through ``cryptography`` rather than gmssl's pure-Python SM3.

Keyring layout under ``<data_dir>/keys/`` (directory 0700, every file 0600)::

    manifest.json        {"format": 1, "suite", "active": key id,
                          "keys": {key id: {"suite", "public_key" (hex),
                                            "created", "retired" (ISO or null)}}}
    <key id>.key         the active private key (raw bytes; ":" in the id becomes "_")
    field.key            the data-encryption key for fields at rest (raw bytes)
    .lock                serialises creation and rotation across processes

Rotation deletes the retired private key: a retired key must never sign again,
and deleting it is the only way to be sure of that. Its public half stays in the
manifest, so everything it signed still verifies (and exports carry it).
The suite is fixed when the keyring is created; loading it with another suite
is refused, because every stored hash and the field key depend on it.
"""

from __future__ import annotations

import base64
import binascii
import copy
import fcntl
import hashlib
import json
import os
import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Protocol

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from gmssl import sm2

from yiwang.kit.errors import ConfigurationError, InvalidInput, PlatformError

__all__ = [
    "SM2_DEFAULT_USER_ID",
    "SUITE_NAMES",
    "DecryptionFailed",
    "Hasher",
    "Keyring",
    "Signature",
    "SmSuite",
    "StandardSuite",
    "Suite",
    "get_suite",
    "key_id",
    "verify_with_public_keys",
]

SUITE_NAMES: tuple[str, ...] = ("standard", "sm")
SM2_DEFAULT_USER_ID = b"1234567812345678"  # GB/T 32918 / GM/T 0009 default distinguishing id
NONCE_SIZE = 12  # the GCM nonce size that needs no extra hashing (NIST SP 800-38D)
TAG_SIZE = 16


class DecryptionFailed(PlatformError):
    """A ciphertext was altered, truncated, or belongs to another key or context.

    Status 500: field ciphertexts are the platform's own data at rest, so a failure
    means stored data or keys are damaged, not that the caller erred.
    """

    code = "decryption_failed"
    status = 500


class Hasher(Protocol):
    """An incremental hash (for large files): ``update`` any number of times, then ``digest``."""

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...

    def hexdigest(self) -> str: ...


class _OpenSSLHasher:
    """``cryptography``'s hash with hashlib's interface (digest may be called repeatedly)."""

    def __init__(self, algorithm: hashes.HashAlgorithm) -> None:
        self._hash = hashes.Hash(algorithm)

    def update(self, data: bytes, /) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        # finalize() ends a context; finalising a copy keeps this one usable, as hashlib does.
        return self._hash.copy().finalize()

    def hexdigest(self) -> str:
        return self.digest().hex()


def _sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


class Suite(ABC):
    """One suite's algorithms. Get instances with :func:`get_suite`; they are stateless."""

    name: ClassVar[str]
    field_key_size: ClassVar[int]  # bytes of the field-encryption key

    @abstractmethod
    def hash(self, data: bytes) -> bytes:
        """The 32-byte digest of ``data``."""

    def hash_hex(self, data: bytes) -> str:
        """The digest of ``data`` as 64 lowercase hex digits."""
        return self.hash(data).hex()

    @abstractmethod
    def new_hasher(self) -> Hasher:
        """An incremental hasher giving the same digest as :meth:`hash`."""

    @abstractmethod
    def generate_private_key(self) -> bytes:
        """A fresh private signing key from the OS's secure random source."""

    @abstractmethod
    def public_key(self, private_key: bytes) -> bytes:
        """The public key of ``private_key``; ConfigurationError when the key is malformed."""

    @abstractmethod
    def sign(self, private_key: bytes, data: bytes) -> bytes:
        """Sign ``data``; ConfigurationError when the private key is malformed."""

    @abstractmethod
    def verify(self, public_key: bytes, data: bytes, signature: bytes) -> bool:
        """True when ``signature`` is valid; False for any bad signature or key, never raises."""

    def generate_field_key(self) -> bytes:
        """A fresh key for :meth:`encrypt`."""
        return secrets.token_bytes(self.field_key_size)

    def encrypt(self, key: bytes, plaintext: bytes, associated: bytes = b"") -> bytes:
        """Authenticated encryption: ``nonce || ciphertext || tag``.

        ``associated`` is authenticated but not stored (e.g. table, column and row id),
        so a ciphertext copied to another row or field fails to decrypt.
        """
        self._check_key(key)
        nonce = secrets.token_bytes(NONCE_SIZE)
        return nonce + self._seal(key, nonce, plaintext, associated)

    def decrypt(self, key: bytes, ciphertext: bytes, associated: bytes = b"") -> bytes:
        """The plaintext of :meth:`encrypt`'s output; DecryptionFailed when anything does not match."""
        self._check_key(key)
        if len(ciphertext) < NONCE_SIZE + TAG_SIZE:
            raise DecryptionFailed("数据解密失败：密文长度不足，已被截断或不是本平台的密文")
        try:
            return self._open(key, ciphertext[:NONCE_SIZE], ciphertext[NONCE_SIZE:], associated)
        except InvalidTag:
            raise DecryptionFailed("数据解密失败：密文被篡改，或密钥、关联数据不符") from None

    def _check_key(self, key: bytes) -> None:
        if len(key) != self.field_key_size:
            raise ConfigurationError(
                f"{self.name} 套件的字段加密密钥应为 {self.field_key_size} 字节，实际为 {len(key)} 字节"
            )

    @abstractmethod
    def _seal(self, key: bytes, nonce: bytes, plaintext: bytes, associated: bytes) -> bytes:
        """Ciphertext followed by the tag."""

    @abstractmethod
    def _open(self, key: bytes, nonce: bytes, sealed: bytes, associated: bytes) -> bytes:
        """Plaintext of ``_seal``'s output; raises InvalidTag when it does not authenticate."""

    def __repr__(self) -> str:
        return f"<Suite {self.name}>"


# -- standard: SHA-256, Ed25519, AES-256-GCM


@lru_cache(maxsize=1024)
def _ed25519_public(public_key: bytes) -> Ed25519PublicKey:
    # Parsing checks the point; caching it makes repeated verification (audit checks) cheaper.
    return Ed25519PublicKey.from_public_bytes(public_key)


def _ed25519_private(private_key: bytes) -> Ed25519PrivateKey:
    try:
        return Ed25519PrivateKey.from_private_bytes(private_key)
    except ValueError:
        raise ConfigurationError("Ed25519 私钥格式无效：应为 32 字节") from None


class StandardSuite(Suite):
    """SHA-256 hashes, Ed25519 signatures, AES-256-GCM field encryption."""

    name = "standard"
    field_key_size = 32

    def hash(self, data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    def new_hasher(self) -> Hasher:
        return hashlib.sha256()

    def generate_private_key(self) -> bytes:
        return Ed25519PrivateKey.generate().private_bytes_raw()

    def public_key(self, private_key: bytes) -> bytes:
        return _ed25519_private(private_key).public_key().public_bytes_raw()

    def sign(self, private_key: bytes, data: bytes) -> bytes:
        return _ed25519_private(private_key).sign(data)

    def verify(self, public_key: bytes, data: bytes, signature: bytes) -> bool:
        try:
            _ed25519_public(bytes(public_key)).verify(bytes(signature), data)
        except (InvalidSignature, ValueError):
            return False
        return True

    def _seal(self, key: bytes, nonce: bytes, plaintext: bytes, associated: bytes) -> bytes:
        return AESGCM(key).encrypt(nonce, plaintext, associated)

    def _open(self, key: bytes, nonce: bytes, sealed: bytes, associated: bytes) -> bytes:
        return AESGCM(key).decrypt(nonce, sealed, associated)


# -- sm (国密): SM3, SM2, SM4-GCM

_SM2_TABLE: dict[str, str] = sm2.default_ecc_table
_SM2_P = int(_SM2_TABLE["p"], 16)
_SM2_N = int(_SM2_TABLE["n"], 16)
_SM2_A = int(_SM2_TABLE["a"], 16)
_SM2_B = int(_SM2_TABLE["b"], 16)
# The fixed part of Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA), GB/T 32918.2 §5.5.
_SM2_Z_PREFIX = (
    (len(SM2_DEFAULT_USER_ID) * 8).to_bytes(2, "big")
    + SM2_DEFAULT_USER_ID
    + bytes.fromhex(_SM2_TABLE["a"] + _SM2_TABLE["b"] + _SM2_TABLE["g"])
)


@dataclass(frozen=True)
class _SM2Key:
    crypt: Any  # gmssl.sm2.CryptSM2 (untyped)
    z: bytes

    def digest(self, data: bytes) -> bytes:
        """e = SM3(Z || M), computed by OpenSSL: gmssl's pure-Python SM3 is slow on large data."""
        return _sm3(self.z + data)


def _sm2_key(private_hex: str, public_point: bytes) -> _SM2Key:
    crypt = sm2.CryptSM2(private_key=private_hex, public_key="")
    # Set the point afterwards: the constructor's lstrip("04") corrupts coordinates that
    # begin with the hex digits 0 or 4 (about one key in 16).
    crypt.public_key = public_point[1:].hex()
    return _SM2Key(crypt, _sm3(_SM2_Z_PREFIX + public_point[1:]))


@lru_cache(maxsize=1024)
def _sm2_verifier(public_key: bytes) -> _SM2Key | None:
    """The parsed public key and its Z value, or None when it is not a point of the curve."""
    if len(public_key) != 65 or public_key[0] != 0x04:
        return None
    x, y = int.from_bytes(public_key[1:33], "big"), int.from_bytes(public_key[33:], "big")
    # Rejecting off-curve points stops invalid-curve tricks on the pure-Python arithmetic.
    if x >= _SM2_P or y >= _SM2_P or (y * y - x * x * x - _SM2_A * x - _SM2_B) % _SM2_P:
        return None
    return _sm2_key("", public_key)


def _sm2_scalar(private_key: bytes) -> int:
    d = int.from_bytes(private_key, "big")
    # d = n - 1 has no signing inverse (1 + d)^-1, so GB/T 32918 allows [1, n - 2].
    if len(private_key) != 32 or not 1 <= d <= _SM2_N - 2:
        raise ConfigurationError("SM2 私钥格式无效：应为 32 字节，取值在 [1, n-2]")
    return d


@lru_cache(maxsize=8)
def _sm2_signer(private_key: bytes) -> tuple[_SM2Key, bytes]:
    # Deriving the public key (needed for Z) costs a point multiplication, as much as the
    # signature itself; the platform signs with one key, so keep the last few.
    d = _sm2_scalar(private_key)
    point = bytes.fromhex("04" + sm2.CryptSM2(private_key="", public_key="")._kg(d, _SM2_TABLE["g"]))
    return _sm2_key(f"{d:064x}", point), point


class SmSuite(Suite):
    """国密: SM3 hashes, SM2 signatures with the GB/T 32918 Z value, SM4-GCM field encryption."""

    name = "sm"
    field_key_size = 16

    def hash(self, data: bytes) -> bytes:
        return _sm3(data)

    def new_hasher(self) -> Hasher:
        return _OpenSSLHasher(hashes.SM3())

    def generate_private_key(self) -> bytes:
        return (secrets.randbelow(_SM2_N - 2) + 1).to_bytes(32, "big")

    def public_key(self, private_key: bytes) -> bytes:
        return _sm2_signer(bytes(private_key))[1]

    def sign(self, private_key: bytes, data: bytes) -> bytes:
        key, _ = _sm2_signer(bytes(private_key))
        e = key.digest(data)
        while True:
            # Our own k: gmssl's default comes from the non-cryptographic `random` module,
            # and a predictable k gives away the private key.
            k = secrets.randbelow(_SM2_N - 1) + 1
            signature = key.crypt.sign(e, f"{k:064x}")
            if signature is not None:  # None: r = 0, r + k = n or s = 0; try another k
                return bytes.fromhex(signature)

    def verify(self, public_key: bytes, data: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        # gmssl does not range-check r and s (GB/T 32918.2 §7.1 B1, B2).
        if not (1 <= r < _SM2_N and 1 <= s < _SM2_N):
            return False
        key = _sm2_verifier(bytes(public_key))
        if key is None:
            return False
        try:
            return bool(key.crypt.verify(bytes(signature).hex(), key.digest(data)))
        except (TypeError, ValueError):  # the sum of points at infinity: not a valid signature
            return False

    def _seal(self, key: bytes, nonce: bytes, plaintext: bytes, associated: bytes) -> bytes:
        encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(associated)
        return encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag

    def _open(self, key: bytes, nonce: bytes, sealed: bytes, associated: bytes) -> bytes:
        body, tag = sealed[:-TAG_SIZE], sealed[-TAG_SIZE:]
        decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(associated)
        return decryptor.update(body) + decryptor.finalize()


_SUITES: dict[str, Suite] = {"standard": StandardSuite(), "sm": SmSuite()}


def get_suite(name: str) -> Suite:
    """The suite called ``name`` (``standard`` or ``sm``); ConfigurationError otherwise."""
    try:
        return _SUITES[name]
    except KeyError:
        raise ConfigurationError(
            f"未知的密码套件 {name!r}：可选 standard（SHA-256/Ed25519/AES-GCM）或 sm（国密 SM3/SM2/SM4）",
            details={"suite": name, "choices": list(SUITE_NAMES)},
        ) from None


def key_id(suite: Suite, public_key: bytes) -> str:
    """A short fingerprint naming the suite: ``"sm:"`` + the first 16 hex digits of SM3(public key)."""
    return f"{suite.name}:{suite.hash_hex(public_key)[:16]}"


@dataclass(frozen=True)
class Signature:
    """A signature with what verification needs: its suite and the id of its key."""

    suite: str
    key_id: str
    value: bytes

    def to_dict(self) -> dict[str, str]:
        """JSON-safe form; ``value`` in standard base64."""
        return {"suite": self.suite, "key_id": self.key_id, "value": base64.b64encode(self.value).decode()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """Inverse of :meth:`to_dict`; InvalidInput when a field is missing or malformed."""
        try:
            suite, kid, value = data["suite"], data["key_id"], data["value"]
            if not (isinstance(suite, str) and isinstance(kid, str) and isinstance(value, str)):
                raise TypeError
            return cls(suite, kid, base64.b64decode(value, validate=True))
        except (KeyError, TypeError, binascii.Error):
            raise InvalidInput(
                "签名格式无效：应包含 suite、key_id 和 base64 编码的 value", code="invalid_signature"
            ) from None


def verify_with_public_keys(
    public_keys: Mapping[str, Mapping[str, Any]], data: bytes, signature: Signature
) -> bool:
    """Verify offline with exported keys (:meth:`Keyring.public_keys`'s shape).

    False, never an exception, when the key is unknown, its entry is malformed, its
    suite differs from the signature's, or its key id is not the fingerprint of the
    key it carries (a relabelled export).
    """
    entry = public_keys.get(signature.key_id)
    if not isinstance(entry, Mapping) or entry.get("suite") != signature.suite:
        return False
    suite = _SUITES.get(signature.suite)
    try:
        public = bytes.fromhex(entry["public_key"])
    except (KeyError, TypeError, ValueError):
        return False
    if suite is None or key_id(suite, public) != signature.key_id:
        return False
    return suite.verify(public, data, signature.value)


# -- the keyring

_MANIFEST = "manifest.json"
_FIELD_KEY = "field.key"
_LOCK = ".lock"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _key_file(directory: Path, kid: str) -> Path:
    return directory / f"{kid.replace(':', '_')}.key"


def _write_private(path: Path, data: bytes, *, exclusive: bool = True) -> None:
    # Created with 0600 by os.open itself: there is no moment when the file is readable by others.
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(fd, 0o600)  # exact mode whatever the umask
        handle.write(data)
        handle.flush()
        os.fsync(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise creation and rotation between the API workers that share a data dir."""
    fd = os.open(directory / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _read_manifest(directory: Path) -> dict[str, Any] | None:
    path = directory / _MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"密钥清单 {path} 无法读取或已损坏：{exc}") from None
    if (
        not isinstance(manifest, dict)
        or not isinstance(manifest.get("keys"), dict)
        or manifest.get("active") not in manifest["keys"]
        or manifest.get("suite") not in _SUITES
    ):
        raise ConfigurationError(f"密钥清单 {path} 已损坏：缺少套件、当前密钥或密钥列表")
    return manifest


def _write_manifest(directory: Path, manifest: Mapping[str, Any]) -> None:
    # Write-then-rename: readers in other workers see the old or the new manifest, never half.
    tmp = directory / f".{_MANIFEST}.{secrets.token_hex(4)}.tmp"
    _write_private(tmp, json.dumps(manifest, indent=2, sort_keys=True).encode())
    os.replace(tmp, directory / _MANIFEST)
    _fsync_dir(directory)


def _prepare_directory(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if directory.stat().st_mode & 0o777 != 0o700:
        os.chmod(directory, 0o700)  # mkdir's mode is narrowed by the umask, and old dirs may be wider


class Keyring:
    """The platform's signing keys (the active one and the retired public halves) and field key.

    One per process, from :meth:`load_or_create`. See the module docstring for the files.
    """

    def __init__(
        self, directory: Path, manifest: dict[str, Any], private_key: bytes, field_key: bytes
    ) -> None:
        """Use :meth:`load_or_create`."""
        self.directory = directory
        self._manifest = manifest
        self._private = private_key
        self._field_key = field_key

    @classmethod
    def load_or_create(cls, directory: Path, suite_name: str) -> Keyring:
        """Load the keyring in ``directory``, creating it (and a first key) when absent.

        ConfigurationError when it was created with another suite than ``suite_name``,
        or when its files are damaged.
        """
        suite = get_suite(suite_name)
        directory = Path(directory)
        _prepare_directory(directory)
        with _locked(directory):
            manifest = _read_manifest(directory)
            if manifest is None:
                private = suite.generate_private_key()
                public = suite.public_key(private)
                kid = key_id(suite, public)
                _write_private(_key_file(directory, kid), private, exclusive=False)
                entry = {"suite": suite.name, "public_key": public.hex(), "created": _now(), "retired": None}
                manifest = {"format": 1, "suite": suite.name, "active": kid, "keys": {kid: entry}}
                _write_manifest(directory, manifest)
            elif manifest["suite"] != suite.name:
                raise ConfigurationError(
                    f"平台密钥在初始化时选定了 {manifest['suite']} 套件，与当前设置的 {suite.name} 不符；"
                    f"密码套件初始化后不能更换（请将 YIWANG_CRYPTO_SUITE 设为 {manifest['suite']}）",
                    details={"keyring_suite": manifest["suite"], "requested_suite": suite.name},
                )
            field_path = directory / _FIELD_KEY
            if not field_path.exists():
                _write_private(field_path, suite.generate_field_key())
        private = cls._read_active_private(directory, manifest)
        field_key = field_path.read_bytes()
        if len(field_key) != suite.field_key_size:
            raise ConfigurationError(f"字段加密密钥 {field_path} 长度不对，应为 {suite.field_key_size} 字节")
        return cls(directory, manifest, private, field_key)

    @staticmethod
    def _read_active_private(directory: Path, manifest: Mapping[str, Any]) -> bytes:
        kid = manifest["active"]
        path = _key_file(directory, kid)
        try:
            private = path.read_bytes()
        except FileNotFoundError:
            raise ConfigurationError(f"当前签名密钥 {kid} 的私钥文件 {path} 不存在") from None
        suite = get_suite(manifest["suite"])
        if suite.public_key(private).hex() != manifest["keys"][kid]["public_key"]:
            raise ConfigurationError(f"私钥文件 {path} 与密钥清单中 {kid} 的公钥不符")
        return private

    @property
    def suite_name(self) -> str:
        """The suite fixed when the keyring was created."""
        return str(self._manifest["suite"])

    @property
    def suite(self) -> Suite:
        return get_suite(self.suite_name)

    @property
    def active_key_id(self) -> str:
        """The id of the key that :meth:`sign` uses."""
        return str(self._manifest["active"])

    def sign(self, data: bytes) -> Signature:
        """Sign ``data`` with the active key."""
        value = self.suite.sign(self._private, data)
        return Signature(self.suite_name, self.active_key_id, value)

    def verify(self, data: bytes, signature: Signature) -> bool:
        """Verify with the active or any retired key; False for unknown keys and bad signatures."""
        if signature.key_id not in self._manifest["keys"]:
            # Another worker may have rotated since we loaded: its new key is in the file.
            fresh = _read_manifest(self.directory)
            if fresh is not None and fresh["suite"] == self.suite_name:
                self._manifest["keys"] = fresh["keys"]
        return verify_with_public_keys(self.public_keys(), data, signature)

    def rotate(self) -> str:
        """Make a new key the active one and return its id.

        The retired key's public half stays for verification; its private key file is
        deleted so it can never sign again. Workers that loaded the keyring earlier keep
        signing with the key they hold until restarted; those signatures still verify.
        """
        suite = self.suite
        with _locked(self.directory):
            # Start from the file, not memory: another worker may have rotated already.
            manifest = _read_manifest(self.directory) or self._manifest
            private = suite.generate_private_key()
            public = suite.public_key(private)
            kid = key_id(suite, public)
            _write_private(_key_file(self.directory, kid), private)
            now = _now()
            previous = manifest["active"]
            manifest["keys"][previous]["retired"] = now
            manifest["keys"][kid] = {
                "suite": suite.name,
                "public_key": public.hex(),
                "created": now,
                "retired": None,
            }
            manifest["active"] = kid
            _write_manifest(self.directory, manifest)
            _key_file(self.directory, previous).unlink(missing_ok=True)
        self._manifest, self._private = manifest, private
        return kid

    def public_keys(self) -> dict[str, dict[str, Any]]:
        """Every key's public half for export and offline checks:
        ``{key_id: {"suite", "public_key" (hex), "active", "created", "retired"}}``."""
        active = self.active_key_id
        return {
            kid: {**copy.deepcopy(entry), "active": kid == active}
            for kid, entry in self._manifest["keys"].items()
        }

    def field_key(self) -> bytes:
        """The key for encrypting fields at rest with ``suite.encrypt`` (32 bytes AES, 16 bytes SM4).

        Made once with the keyring and never rotated here: re-encrypting stored fields
        is a data migration, not a key-file operation.
        """
        return self._field_key
