"""Crypto suites and the platform keyring.

Expected values come from outside this code: SHA-256 and SM3 from their standards
(FIPS 180-4, GB/T 32905 appendix A), Ed25519 from RFC 8032 §7.1 test 1, AES-256-GCM
from the GCM spec's test case 14, SM4-GCM from RFC 8998 appendix A.1, and the SM2
key and signature from OpenSSL 3.0 (``openssl genpkey -algorithm SM2``;
``openssl pkeyutl -sign -rawin -digest sm3 -pkeyopt distid:1234567812345678``).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from gmssl import sm2
from hypothesis import given, settings
from hypothesis import strategies as st

from yiwang.kit.crypto import (
    SUITE_NAMES,
    DecryptionFailed,
    Keyring,
    Signature,
    Suite,
    get_suite,
    key_id,
    verify_with_public_keys,
)
from yiwang.kit.errors import ConfigurationError, InvalidInput

SUITES = [get_suite(name) for name in SUITE_NAMES]
STANDARD, SM = get_suite("standard"), get_suite("sm")
# Pure-Python SM2 costs milliseconds per operation: few examples, no deadline.
FEW = settings(max_examples=10, deadline=None)

SM2_N = int(sm2.default_ecc_table["n"], 16)
# An SM2 key pair and a signature of b"abc" made by OpenSSL 3.0.
OPENSSL_SM2_PRIVATE = bytes.fromhex("04fa7d8ad2eedf8119d2acce9b881b00da3e41adfe9d911fb60708f136b750ae")
OPENSSL_SM2_PUBLIC = bytes.fromhex(
    "045cfed20e78ee3552f778113feea59feaca3b2fa6c24ecd02a0742e0d641494e5"
    "51e560414a862c03178bb2e912b7ec4623eb20c880c3d12deff0fe177f81ac64"
)
OPENSSL_SM2_SIGNATURE_ABC = bytes.fromhex(
    "e29bc860c96eae6f6ac92f3ca7a589a2e7cfd969ee4ed989d5c33c2f9d6fefe7"
    "4ffc2a3a829a1fe13899c9644f7b499626206710c1c27d6853d2b9f09a838fdc"
)
# RFC 8032 §7.1, test 1 (empty message).
RFC8032_PRIVATE = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
    "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
# One key per suite for property tests, made once: SM2 key generation is not free.
KEYS = {suite.name: suite.generate_private_key() for suite in SUITES}

by_suite = pytest.mark.parametrize("suite", SUITES, ids=SUITE_NAMES)


def flip_bit(data: bytes, bit: int) -> bytes:
    index = bit % (len(data) * 8)
    out = bytearray(data)
    out[index // 8] ^= 1 << (index % 8)
    return bytes(out)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestGetSuite:
    def test_names(self) -> None:
        assert [get_suite(name).name for name in ("standard", "sm")] == ["standard", "sm"]

    def test_unknown_suite_is_a_configuration_error_in_chinese(self) -> None:
        with pytest.raises(ConfigurationError, match="未知的密码套件 'rsa'") as caught:
            get_suite("rsa")
        assert caught.value.status == 500
        assert caught.value.details == {"suite": "rsa", "choices": ["standard", "sm"]}


class TestHash:
    @pytest.mark.parametrize(
        ("suite", "data", "expected"),
        [
            (STANDARD, b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (SM, b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
            (SM, b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
        ],
        ids=["sha256-abc", "sm3-abc", "sm3-abcd*16"],
    )
    def test_known_answers(self, suite: Suite, data: bytes, expected: str) -> None:
        assert suite.hash(data) == bytes.fromhex(expected)
        assert suite.hash_hex(data) == expected

    @by_suite
    @given(data=st.binary(max_size=512))
    def test_digest_is_32_bytes(self, suite: Suite, data: bytes) -> None:
        assert len(suite.hash(data)) == 32


class TestNewHasher:
    @by_suite
    @given(chunks=st.lists(st.binary(max_size=300), max_size=8))
    def test_incremental_equals_one_shot(self, suite: Suite, chunks: list[bytes]) -> None:
        hasher = suite.new_hasher()
        for chunk in chunks:
            hasher.update(chunk)
        assert hasher.digest() == suite.hash(b"".join(chunks))
        assert hasher.hexdigest() == suite.hash_hex(b"".join(chunks))

    @by_suite
    def test_digest_can_be_taken_midway_and_hashing_continues(self, suite: Suite) -> None:
        hasher = suite.new_hasher()
        hasher.update(b"ab")
        assert hasher.digest() == hasher.digest() == suite.hash(b"ab")
        hasher.update(b"c")
        assert hasher.digest() == suite.hash(b"abc")


class TestPublicKey:
    def test_sm2_matches_openssl(self) -> None:
        assert SM.public_key(OPENSSL_SM2_PRIVATE) == OPENSSL_SM2_PUBLIC

    def test_ed25519_matches_rfc8032(self) -> None:
        assert STANDARD.public_key(RFC8032_PRIVATE) == RFC8032_PUBLIC

    @pytest.mark.parametrize(
        ("suite", "private"),
        [
            (STANDARD, b"short"),
            (SM, b"short"),
            (SM, bytes(32)),  # d = 0
            (SM, (SM2_N - 1).to_bytes(32, "big")),  # 1 + d has no inverse
            (SM, SM2_N.to_bytes(32, "big")),
        ],
        ids=["ed25519-short", "sm2-short", "sm2-zero", "sm2-n-1", "sm2-n"],
    )
    def test_malformed_private_key_is_a_configuration_error(self, suite: Suite, private: bytes) -> None:
        with pytest.raises(ConfigurationError, match="私钥格式无效"):
            suite.public_key(private)
        with pytest.raises(ConfigurationError, match="私钥格式无效"):
            suite.sign(private, b"data")


class TestGeneratePrivateKey:
    @by_suite
    def test_fresh_keys_differ_and_have_public_halves(self, suite: Suite) -> None:
        first, second = suite.generate_private_key(), suite.generate_private_key()
        assert first != second
        assert len(first) == 32
        assert len(suite.public_key(first)) == {"standard": 32, "sm": 65}[suite.name]

    def test_sm2_key_is_in_range(self) -> None:
        for _ in range(20):
            assert 1 <= int.from_bytes(SM.generate_private_key(), "big") <= SM2_N - 2


class TestSign:
    def test_ed25519_matches_rfc8032(self) -> None:
        assert STANDARD.sign(RFC8032_PRIVATE, b"") == RFC8032_SIGNATURE

    @by_suite
    @FEW
    @given(data=st.binary(max_size=2000))
    def test_roundtrip(self, suite: Suite, data: bytes) -> None:
        private = KEYS[suite.name]
        signature = suite.sign(private, data)
        assert len(signature) == 64
        assert suite.verify(suite.public_key(private), data, signature)

    def test_sm2_signatures_are_randomised(self) -> None:
        # SM2 needs a fresh secret k per signature; a repeated k would leak the private key.
        assert SM.sign(KEYS["sm"], b"same") != SM.sign(KEYS["sm"], b"same")

    def test_sm2_verifies_with_gmssl_own_z_computation(self) -> None:
        # gmssl's sign_with_sm3/verify_with_sm3 build Z and e themselves: an independent path.
        public = SM.public_key(KEYS["sm"])
        reference = sm2.CryptSM2(private_key=KEYS["sm"].hex(), public_key="")
        reference.public_key = public[1:].hex()
        ours = SM.sign(KEYS["sm"], b"checkpoint 42")
        assert reference.verify_with_sm3(ours.hex(), b"checkpoint 42")
        theirs = reference.sign_with_sm3(b"checkpoint 42", "1f" * 32)
        assert SM.verify(public, b"checkpoint 42", bytes.fromhex(theirs))

    def test_sm2_large_data(self) -> None:
        data = os.urandom(3 * 1024 * 1024)
        assert SM.verify(SM.public_key(KEYS["sm"]), data, SM.sign(KEYS["sm"], data))


class TestVerify:
    def test_sm2_signature_made_by_openssl(self) -> None:
        assert SM.verify(OPENSSL_SM2_PUBLIC, b"abc", OPENSSL_SM2_SIGNATURE_ABC)
        assert not SM.verify(OPENSSL_SM2_PUBLIC, b"abd", OPENSSL_SM2_SIGNATURE_ABC)

    @by_suite
    @FEW
    @given(data=st.binary(min_size=1, max_size=500), bit=st.integers(min_value=0))
    def test_flipped_bit_in_data_fails(self, suite: Suite, data: bytes, bit: int) -> None:
        private = KEYS[suite.name]
        signature = suite.sign(private, data)
        assert not suite.verify(suite.public_key(private), flip_bit(data, bit), signature)

    @by_suite
    @FEW
    @given(data=st.binary(max_size=500), bit=st.integers(min_value=0))
    def test_flipped_bit_in_signature_fails(self, suite: Suite, data: bytes, bit: int) -> None:
        private = KEYS[suite.name]
        signature = suite.sign(private, data)
        assert not suite.verify(suite.public_key(private), data, flip_bit(signature, bit))

    @by_suite
    @FEW
    @given(garbage=st.binary(max_size=100))
    def test_garbage_signature_is_false_not_an_error(self, suite: Suite, garbage: bytes) -> None:
        assert not suite.verify(suite.public_key(KEYS[suite.name]), b"data", garbage)

    @by_suite
    @FEW
    @given(garbage=st.binary(max_size=100))
    def test_garbage_public_key_is_false_not_an_error(self, suite: Suite, garbage: bytes) -> None:
        signature = suite.sign(KEYS[suite.name], b"data")
        assert not suite.verify(garbage, b"data", signature)

    @by_suite
    def test_other_key_fails(self, suite: Suite) -> None:
        other = suite.public_key(suite.generate_private_key())
        assert not suite.verify(other, b"data", suite.sign(KEYS[suite.name], b"data"))

    @pytest.mark.parametrize(("r", "s"), [(0, 1), (1, 0), (SM2_N, 1), (1, SM2_N), (2**256 - 1, 2**256 - 1)])
    def test_sm2_out_of_range_r_or_s_fails(self, r: int, s: int) -> None:
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert not SM.verify(OPENSSL_SM2_PUBLIC, b"abc", signature)

    def test_sm2_point_off_the_curve_fails(self) -> None:
        off_curve = OPENSSL_SM2_PUBLIC[:-1] + bytes([OPENSSL_SM2_PUBLIC[-1] ^ 1])
        assert not SM.verify(off_curve, b"abc", OPENSSL_SM2_SIGNATURE_ABC)
        # The same point without its 04 prefix is not our encoding.
        assert not SM.verify(OPENSSL_SM2_PUBLIC[1:], b"abc", OPENSSL_SM2_SIGNATURE_ABC)

    def test_signature_of_one_suite_fails_in_the_other(self) -> None:
        signature = STANDARD.sign(KEYS["standard"], b"data")
        assert not SM.verify(SM.public_key(KEYS["sm"]), b"data", signature)


class TestEncrypt:
    def test_aes_256_gcm_known_answer(self) -> None:
        # GCM spec test case 14: zero key, zero IV, one zero block.
        sealed = bytes(12) + bytes.fromhex(
            "cea7403d4d606b6e074ec5d3baf39d18" + "d0d1c8a799996bf0265b98b5d48ab919"
        )
        assert STANDARD.decrypt(bytes(32), sealed) == bytes(16)

    def test_sm4_gcm_known_answer(self) -> None:
        # RFC 8998 appendix A.1.
        key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
        nonce = bytes.fromhex("00001234567800000000ABCD")
        associated = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
        plaintext = bytes.fromhex("".join(c * 16 for c in "ABCDEFEA"))
        ciphertext = bytes.fromhex(
            "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
            "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        )
        tag = bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")
        assert SM.decrypt(key, nonce + ciphertext + tag, associated) == plaintext

    @by_suite
    @given(plaintext=st.binary(max_size=1000), associated=st.binary(max_size=50))
    def test_roundtrip(self, suite: Suite, plaintext: bytes, associated: bytes) -> None:
        key = suite.generate_field_key()
        sealed = suite.encrypt(key, plaintext, associated)
        assert len(sealed) == 12 + len(plaintext) + 16
        assert suite.decrypt(key, sealed, associated) == plaintext

    @by_suite
    def test_fresh_nonce_each_time(self, suite: Suite) -> None:
        key = suite.generate_field_key()
        assert suite.encrypt(key, b"440106199001011234") != suite.encrypt(key, b"440106199001011234")

    @pytest.mark.parametrize(("suite", "size"), [(STANDARD, 16), (SM, 32)], ids=SUITE_NAMES)
    def test_wrong_key_size_is_a_configuration_error(self, suite: Suite, size: int) -> None:
        with pytest.raises(ConfigurationError, match="字段加密密钥应为"):
            suite.encrypt(bytes(size), b"x")


class TestDecrypt:
    @by_suite
    @given(plaintext=st.binary(max_size=200), bit=st.integers(min_value=0))
    def test_flipped_bit_raises(self, suite: Suite, plaintext: bytes, bit: int) -> None:
        key = suite.generate_field_key()
        sealed = suite.encrypt(key, plaintext)
        with pytest.raises(DecryptionFailed, match="数据解密失败"):
            suite.decrypt(key, flip_bit(sealed, bit))

    @by_suite
    def test_other_associated_data_raises(self, suite: Suite) -> None:
        key = suite.generate_field_key()
        sealed = suite.encrypt(key, b"13800138000", b"person:1:mobile")
        with pytest.raises(DecryptionFailed):
            suite.decrypt(key, sealed, b"person:2:mobile")

    @by_suite
    def test_other_key_raises(self, suite: Suite) -> None:
        sealed = suite.encrypt(suite.generate_field_key(), b"secret")
        with pytest.raises(DecryptionFailed):
            suite.decrypt(suite.generate_field_key(), sealed)

    @by_suite
    @pytest.mark.parametrize("length", [0, 1, 27])
    def test_truncated_raises(self, suite: Suite, length: int) -> None:
        key = suite.generate_field_key()
        with pytest.raises(DecryptionFailed, match="长度不足") as caught:
            suite.decrypt(key, suite.encrypt(key, b"")[:length])
        assert caught.value.code == "decryption_failed"


class TestKeyId:
    @by_suite
    def test_suite_prefix_and_hash_fingerprint(self, suite: Suite) -> None:
        public = suite.public_key(KEYS[suite.name])
        assert key_id(suite, public) == f"{suite.name}:{suite.hash(public).hex()[:16]}"

    def test_known_value(self) -> None:
        assert key_id(STANDARD, RFC8032_PUBLIC) == "standard:" + STANDARD.hash_hex(RFC8032_PUBLIC)[:16]
        assert key_id(SM, OPENSSL_SM2_PUBLIC).startswith("sm:")
        assert len(key_id(SM, OPENSSL_SM2_PUBLIC)) == len("sm:") + 16


class TestSignature:
    @given(
        suite=st.sampled_from(SUITE_NAMES),
        kid=st.text(max_size=30),
        value=st.binary(max_size=80),
    )
    def test_dict_roundtrip_through_json(self, suite: str, kid: str, value: bytes) -> None:
        signature = Signature(suite, kid, value)
        assert Signature.from_dict(json.loads(json.dumps(signature.to_dict()))) == signature

    @pytest.mark.parametrize(
        "data",
        [
            {},
            {"suite": "sm", "key_id": "sm:00"},
            {"suite": "sm", "key_id": "sm:00", "value": "not base64!"},
            {"suite": "sm", "key_id": 5, "value": ""},
            {"suite": "sm", "key_id": "sm:00", "value": b"AAAA"},
        ],
    )
    def test_malformed_is_invalid_input(self, data: dict[str, object]) -> None:
        with pytest.raises(InvalidInput, match="签名格式无效") as caught:
            Signature.from_dict(data)
        assert caught.value.code == "invalid_signature"


@pytest.fixture(params=SUITE_NAMES)
def suite_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "var" / "keys"


@pytest.fixture
def keyring(keys_dir: Path, suite_name: str) -> Keyring:
    return Keyring.load_or_create(keys_dir, suite_name)


@pytest.fixture
def open_umask() -> Iterator[None]:
    # The widest umask: file modes must still come out 0600 / 0700.
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


class TestVerifyWithPublicKeys:
    def test_offline_with_an_export_through_json(self, keyring: Keyring) -> None:
        signature = keyring.sign(b"checkpoint")
        exported = json.loads(json.dumps(keyring.public_keys()))
        restored = Signature.from_dict(json.loads(json.dumps(signature.to_dict())))
        assert verify_with_public_keys(exported, b"checkpoint", restored)
        assert not verify_with_public_keys(exported, b"checkpoint!", restored)

    def test_unknown_key_fails(self, keyring: Keyring) -> None:
        assert not verify_with_public_keys({}, b"x", keyring.sign(b"x"))

    def test_relabelled_key_fails(self, keyring: Keyring) -> None:
        # An export that files another public key under the signer's id must not verify.
        signature = keyring.sign(b"x")
        suite = keyring.suite
        impostor = suite.public_key(suite.generate_private_key())
        keys = {signature.key_id: {"suite": suite.name, "public_key": impostor.hex()}}
        assert not verify_with_public_keys(keys, b"x", signature)

    def test_suite_mismatch_fails(self, keyring: Keyring) -> None:
        signature = keyring.sign(b"x")
        other = "sm" if keyring.suite_name == "standard" else "standard"
        forged = Signature(other, signature.key_id, signature.value)
        keys = keyring.public_keys()
        assert not verify_with_public_keys(keys, b"x", forged)
        keys[signature.key_id]["suite"] = other
        assert not verify_with_public_keys(keys, b"x", forged)

    @pytest.mark.parametrize(
        "entry",
        [
            None,
            "text",
            {},
            {"suite": "standard"},
            {"suite": "standard", "public_key": "zz"},
            {"public_key": 5},
        ],
    )
    def test_malformed_entry_is_false_not_an_error(self, entry: object) -> None:
        signature = Signature("standard", "standard:0011223344556677", bytes(64))
        assert not verify_with_public_keys({signature.key_id: entry}, b"x", signature)  # type: ignore[dict-item]

    def test_unknown_suite_is_false(self) -> None:
        signature = Signature("rsa", "rsa:00", bytes(64))
        assert not verify_with_public_keys({"rsa:00": {"suite": "rsa", "public_key": "00"}}, b"x", signature)


class TestKeyringLoadOrCreate:
    def test_creates_private_files_and_directory(
        self, keys_dir: Path, suite_name: str, open_umask: None
    ) -> None:
        keyring = Keyring.load_or_create(keys_dir, suite_name)
        assert mode(keys_dir) == 0o700
        active_file = keys_dir / f"{keyring.active_key_id.replace(':', '_')}.key"
        for path in (active_file, keys_dir / "field.key", keys_dir / "manifest.json"):
            assert mode(path) == 0o600, path
        manifest = json.loads((keys_dir / "manifest.json").read_text())
        assert manifest["suite"] == suite_name
        assert manifest["active"] == keyring.active_key_id

    def test_tightens_an_existing_wide_directory(self, keys_dir: Path, suite_name: str) -> None:
        keys_dir.mkdir(parents=True)
        keys_dir.chmod(0o755)
        Keyring.load_or_create(keys_dir, suite_name)
        assert mode(keys_dir) == 0o700

    def test_reload_keeps_keys(self, keyring: Keyring, keys_dir: Path, suite_name: str) -> None:
        again = Keyring.load_or_create(keys_dir, suite_name)
        assert again.active_key_id == keyring.active_key_id
        assert again.field_key() == keyring.field_key()
        assert again.verify(b"data", keyring.sign(b"data"))

    def test_active_key_id_names_the_suite(self, keyring: Keyring, suite_name: str) -> None:
        assert keyring.suite_name == suite_name
        assert keyring.suite.name == suite_name
        assert keyring.active_key_id.startswith(f"{suite_name}:")

    def test_other_suite_is_refused_naming_both(self, keys_dir: Path) -> None:
        Keyring.load_or_create(keys_dir, "standard")
        with pytest.raises(ConfigurationError, match="standard 套件.*sm 不符") as caught:
            Keyring.load_or_create(keys_dir, "sm")
        assert caught.value.details == {"keyring_suite": "standard", "requested_suite": "sm"}

    def test_unknown_suite_creates_nothing(self, keys_dir: Path) -> None:
        with pytest.raises(ConfigurationError, match="未知的密码套件"):
            Keyring.load_or_create(keys_dir, "des")
        assert not keys_dir.exists()

    def test_damaged_manifest(self, keyring: Keyring, keys_dir: Path, suite_name: str) -> None:
        (keys_dir / "manifest.json").write_text("{not json")
        with pytest.raises(ConfigurationError, match="密钥清单"):
            Keyring.load_or_create(keys_dir, suite_name)

    def test_missing_private_key(self, keyring: Keyring, keys_dir: Path, suite_name: str) -> None:
        (keys_dir / f"{keyring.active_key_id.replace(':', '_')}.key").unlink()
        with pytest.raises(ConfigurationError, match="私钥文件.*不存在"):
            Keyring.load_or_create(keys_dir, suite_name)

    def test_private_key_not_matching_the_manifest(
        self, keyring: Keyring, keys_dir: Path, suite_name: str
    ) -> None:
        path = keys_dir / f"{keyring.active_key_id.replace(':', '_')}.key"
        path.write_bytes(keyring.suite.generate_private_key())
        with pytest.raises(ConfigurationError, match="公钥不符"):
            Keyring.load_or_create(keys_dir, suite_name)


class TestKeyringSign:
    def test_signature_names_suite_and_active_key(self, keyring: Keyring) -> None:
        signature = keyring.sign(b"data")
        assert (signature.suite, signature.key_id) == (keyring.suite_name, keyring.active_key_id)
        public = bytes.fromhex(keyring.public_keys()[signature.key_id]["public_key"])
        assert keyring.suite.verify(public, b"data", signature.value)


class TestKeyringVerify:
    def test_own_signature(self, keyring: Keyring) -> None:
        assert keyring.verify(b"data", keyring.sign(b"data"))

    def test_tampered_data_or_signature(self, keyring: Keyring) -> None:
        signature = keyring.sign(b"data")
        assert not keyring.verify(b"datA", signature)
        forged = Signature(signature.suite, signature.key_id, flip_bit(signature.value, 7))
        assert not keyring.verify(b"data", forged)

    def test_other_platforms_key_is_unknown(self, keyring: Keyring, tmp_path: Path, suite_name: str) -> None:
        other = Keyring.load_or_create(tmp_path / "other", suite_name)
        assert not keyring.verify(b"data", other.sign(b"data"))

    def test_sees_a_key_rotated_by_another_worker(self, keys_dir: Path, suite_name: str) -> None:
        first = Keyring.load_or_create(keys_dir, suite_name)
        second = Keyring.load_or_create(keys_dir, suite_name)
        second.rotate()
        assert first.verify(b"data", second.sign(b"data"))


class TestKeyringRotate:
    def test_old_signatures_still_verify_and_new_ones_use_the_new_key(
        self, keyring: Keyring, keys_dir: Path, suite_name: str
    ) -> None:
        old_id = keyring.active_key_id
        old_signature = keyring.sign(b"before")
        new_id = keyring.rotate()
        assert new_id != old_id
        assert new_id.startswith(f"{suite_name}:")
        assert keyring.active_key_id == new_id
        new_signature = keyring.sign(b"after")
        assert new_signature.key_id == new_id
        reloaded = Keyring.load_or_create(keys_dir, suite_name)
        for ring in (keyring, reloaded):
            assert ring.verify(b"before", old_signature)
            assert ring.verify(b"after", new_signature)
        assert verify_with_public_keys(reloaded.public_keys(), b"before", old_signature)

    def test_retired_private_key_is_deleted(self, keyring: Keyring, keys_dir: Path, open_umask: None) -> None:
        old_id = keyring.active_key_id
        new_id = keyring.rotate()
        assert not (keys_dir / f"{old_id.replace(':', '_')}.key").exists()
        assert mode(keys_dir / f"{new_id.replace(':', '_')}.key") == 0o600
        assert mode(keys_dir / "manifest.json") == 0o600
        assert sorted(p.name for p in keys_dir.iterdir() if p.suffix == ".key") == sorted(
            ["field.key", f"{new_id.replace(':', '_')}.key"]
        )

    def test_manifest_records_retirement(self, keyring: Keyring) -> None:
        old_id = keyring.active_key_id
        new_id = keyring.rotate()
        keys = keyring.public_keys()
        assert keys[old_id]["active"] is False
        assert keys[old_id]["retired"] is not None
        assert keys[new_id]["active"] is True
        assert keys[new_id]["retired"] is None

    def test_two_rotations_in_two_workers_keep_every_public_key(
        self, keys_dir: Path, suite_name: str
    ) -> None:
        first = Keyring.load_or_create(keys_dir, suite_name)
        second = Keyring.load_or_create(keys_dir, suite_name)
        original = first.active_key_id
        a, b = first.rotate(), second.rotate()
        keys = Keyring.load_or_create(keys_dir, suite_name).public_keys()
        assert set(keys) == {original, a, b}
        assert [kid for kid, key in keys.items() if key["active"]] == [b]

    def test_field_key_is_not_rotated(self, keyring: Keyring) -> None:
        before = keyring.field_key()
        keyring.rotate()
        assert keyring.field_key() == before


class TestKeyringPublicKeys:
    def test_export_shape(self, keyring: Keyring, suite_name: str) -> None:
        keys = keyring.public_keys()
        assert list(keys) == [keyring.active_key_id]
        entry = keys[keyring.active_key_id]
        assert set(entry) == {"suite", "public_key", "active", "created", "retired"}
        assert entry["suite"] == suite_name
        assert entry["active"] is True
        assert key_id(keyring.suite, bytes.fromhex(entry["public_key"])) == keyring.active_key_id
        json.dumps(keys)  # JSON-safe

    def test_returns_a_copy(self, keyring: Keyring) -> None:
        keyring.public_keys()[keyring.active_key_id]["public_key"] = "00"
        assert keyring.verify(b"x", keyring.sign(b"x"))


class TestKeyringFieldKey:
    def test_size_matches_the_suite_cipher(self, keyring: Keyring) -> None:
        assert len(keyring.field_key()) == {"standard": 32, "sm": 16}[keyring.suite_name]

    def test_encrypts_with_the_suite(self, keyring: Keyring) -> None:
        sealed = keyring.suite.encrypt(keyring.field_key(), b"440106199001011234", b"person:1")
        assert keyring.suite.decrypt(keyring.field_key(), sealed, b"person:1") == b"440106199001011234"

    def test_differs_between_keyrings(self, keyring: Keyring, tmp_path: Path, suite_name: str) -> None:
        assert Keyring.load_or_create(tmp_path / "other", suite_name).field_key() != keyring.field_key()
