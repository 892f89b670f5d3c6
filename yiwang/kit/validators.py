"""Validators for the identifiers that government data is keyed by.

Each ``validate_*`` function takes what a person or a system typed, returns the
normalised value (or a small info object) and raises
:class:`~yiwang.kit.errors.InvalidInput` with a Chinese message that says what
is wrong, a stable ``code`` (``invalid_id_number``, ``invalid_uscc``,
``invalid_region_code``, ``invalid_mobile``, ``invalid_email``) and ``details``
with a machine-readable ``reason``. The ``is_valid_*`` twins answer yes/no.

Personal identifiers (ID numbers, mobiles, e-mail addresses) are never copied
whole into ``details``: errors get logged and echoed, and the platform masks
personal information at every exit.

This module stands alone on purpose (it imports only the error hierarchy), so
that it can be used in Pydantic models, the CLI and the demo generator without
pulling in the database or the region table. Checking that a region code
really exists is the caller's job: pass the known codes as ``known=``.

Standards:

- 居民身份证号码 GB 11643-1999 (check character ISO 7064 MOD 11-2);
- 统一社会信用代码 GB 32100-2015 (check character MOD 31);
- 组织机构代码 GB 11714-1997 (the body of a credit code);
- 行政区划代码 GB/T 2260 (6 digits) and 乡镇街道 GB/T 10114 (9 digits).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from yiwang.kit.errors import InvalidInput

__all__ = [
    "ID_ADDRESS_PREFIXES",
    "PROVINCE_CODES",
    "USCC_AUTHORITY_CODES",
    "USCC_CHARSET",
    "IdNumberInfo",
    "id_check_char",
    "is_valid_email",
    "is_valid_id_number",
    "is_valid_mobile",
    "is_valid_region_code",
    "is_valid_uscc",
    "make_id_number",
    "make_org_code",
    "make_uscc",
    "make_uscc_from",
    "org_code_check_char",
    "uscc_check_char",
    "validate_email",
    "validate_id_number",
    "validate_mobile",
    "validate_region_code",
    "validate_uscc",
]

# Province-level divisions of GB/T 2260: 31 mainland provinces, autonomous
# regions and municipalities, 台湾 (71), 香港 (81) and 澳门 (82).
# "91" appears in some old lists as "国外" but is not a GB/T 2260 code and no
# issuing rule we could verify uses it, so it is left out on purpose.
PROVINCE_CODES: frozenset[str] = frozenset(
    ["11", "12", "13", "14", "15", "21", "22", "23"]
    + [str(n) for n in range(31, 38)]
    + [str(n) for n in range(41, 47)]
    + [str(n) for n in range(50, 55)]
    + [str(n) for n in range(61, 66)]
    + ["71", "81", "82"]
)

# The first two digits of an 18-digit ID number. Besides the provinces, the
# 港澳台居民居住证 (2018) carry the address codes 810000 (香港), 820000 (澳门)
# and 830000 (台湾) and use the same number format and check character, so 83
# is accepted here although it is not a GB/T 2260 code. The 2023 外国人永久居留
# 身份证 (leading "9") follows other rules and is out of scope.
ID_ADDRESS_PREFIXES: frozenset[str] = PROVINCE_CODES | {"83"}

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"  # indexed by (weighted sum mod 11)
_ID_EARLIEST_BIRTH = date(1900, 1, 1)

# GB 32100-2015 uses digits and upper-case letters without I, O, Z, S, V (they
# are easily confused with 1, 0, 2, 5, U when read aloud or handwritten).
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {ch: i for i, ch in enumerate(USCC_CHARSET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# 登记管理部门码. GB 32100-2015 assigns 1 机构编制, 5 民政, 9 工商 and Y 其他;
# later notices added 2 外交, 3 司法行政, 4 文化, 6 旅游, 7 宗教, 8 工会,
# A-G (e.g. A 中央军委改革和编制办公室) and N 农业农村 (N2… 农村集体经济组织).
# The set is kept generous: refusing a real organisation's code is worse than
# accepting an unassigned authority letter, and the check character still
# catches typos.
USCC_AUTHORITY_CODES: frozenset[str] = frozenset("123456789ABCDEFGNY")

# GB 11714 organisation code: digits and upper-case letters, value of a letter
# is 10 for A up to 35 for Z.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_DIGITS = frozenset("0123456789")
_MOBILE_RE = re.compile(r"1[3-9]\d{9}")
# Phone numbers are typed with all sorts of separators; these carry no meaning.
_MOBILE_SEPARATORS = re.compile(r"[\s\-()（）]")

_EMAIL_MAX = 254  # RFC 5321 path limit minus the angle brackets
_EMAIL_LOCAL_MAX = 64
_EMAIL_LOCAL_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DNS_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _invalid(kind: str, message: str, reason: str, **details: Any) -> InvalidInput:
    return InvalidInput(message, code=f"invalid_{kind}", details={"reason": reason, **details})


def _text(value: object, kind: str, label: str) -> str:
    """The stripped text of ``value``; anything but a string is refused, not crashed on."""
    if not isinstance(value, str):
        raise _invalid(kind, f"{label}应为文本", "type")
    return value.strip()


# ---------------------------------------------------------------- ID numbers


@dataclass(frozen=True, slots=True)
class IdNumberInfo:
    """What a valid 居民身份证号码 says about its holder."""

    number: str  # normalised: 18 characters, check character upper-case
    region_code: str  # 6-digit address code where the number was first issued
    birth_date: date
    sex: Literal["male", "female"]


def id_check_char(first17: str) -> str:
    """The GB 11643 check character ("0"-"9" or "X") for the first 17 digits."""
    if len(first17) != 17 or not set(first17) <= _DIGITS:
        raise ValueError("first17 must be 17 ASCII digits")
    total = sum(int(ch) * w for ch, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def validate_id_number(value: str, *, today: date | None = None) -> IdNumberInfo:
    """Check an 18-character 居民身份证号码 (GB 11643-1999) and describe it.

    Surrounding spaces are dropped and a lower-case ``x`` check character is
    upper-cased. The birth date must be a real date between 1900-01-01 and
    ``today`` (default: the current date); the first two digits must name a
    province-level division (see :data:`ID_ADDRESS_PREFIXES`). Only the
    province is checked, not the whole address code: numbers keep the code of
    the county where they were issued even after that county is abolished.
    """
    kind, label = "id_number", "居民身份证号码"
    number = _text(value, kind, label).upper()
    if len(number) != 18:
        raise _invalid(kind, f"{label}长度应为18位，实际为{len(number)}位", "length", length=len(number))
    for pos, ch in enumerate(number, start=1):
        allowed = ch in _DIGITS or (pos == 18 and ch == "X")
        if not allowed:
            where = "前17位应为数字" if pos < 18 else "第18位应为数字或X"
            raise _invalid(kind, f"{label}含非法字符「{ch}」（第{pos}位；{where}）", "charset", position=pos)
    birth_text = number[6:14]
    try:
        birth = date(int(birth_text[:4]), int(birth_text[4:6]), int(birth_text[6:]))
    except ValueError:
        raise _invalid(kind, f"{label}出生日期无效：{birth_text} 不是有效日期", "birth_date") from None
    latest = today or date.today()
    if birth > latest:
        raise _invalid(kind, f"{label}出生日期无效：{birth.isoformat()} 晚于今天", "birth_date")
    if birth < _ID_EARLIEST_BIRTH:
        raise _invalid(kind, f"{label}出生日期无效：{birth.isoformat()} 早于1900年", "birth_date")
    if number[:2] not in ID_ADDRESS_PREFIXES:
        raise _invalid(
            kind, f"{label}地区码无效：{number[:6]} 不属于任何省级行政区", "region_code", prefix=number[:2]
        )
    expected = id_check_char(number[:17])
    if number[17] != expected:
        raise _invalid(kind, f"{label}校验码错误（应为 {expected}）", "check_char", expected=expected)
    sex: Literal["male", "female"] = "male" if int(number[16]) % 2 else "female"
    return IdNumberInfo(number=number, region_code=number[:6], birth_date=birth, sex=sex)


def make_id_number(region_code: str, birth: date, seq: int) -> str:
    """Build a well-formed ID number (for tests and demo data, never for real people).

    ``seq`` is the 3-digit 顺序码 (0-999); odd numbers are men, even are women.
    """
    if len(region_code) != 6 or not set(region_code) <= _DIGITS:
        raise ValueError("region_code must be 6 digits")
    if not 0 <= seq <= 999:
        raise ValueError("seq must be between 0 and 999")
    if not 1000 <= birth.year <= 9999:
        raise ValueError("birth year must have 4 digits")
    first17 = f"{region_code}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_char(first17)


# ------------------------------------------------------ unified credit codes


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character of the first 17 characters of a credit code."""
    if len(first17) != 17 or not all(ch in _USCC_VALUE for ch in first17):
        raise ValueError(f"first17 must be 17 characters from {USCC_CHARSET}")
    total = sum(_USCC_VALUE[ch] * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def validate_uscc(value: str) -> str:
    """Check a 统一社会信用代码 (GB 32100-2015); return it upper-cased.

    Checked: 18 characters from :data:`USCC_CHARSET`; the 登记管理部门码 (1st)
    in :data:`USCC_AUTHORITY_CODES`; characters 3-8 a 6-digit division code
    whose province part is real, or ``100000`` (the state, used by central
    organs); the check character. The 机构类别码 (2nd) is any allowed
    character because its values depend on the authority and keep growing; the
    embedded organisation code's own GB 11714 check is not enforced because
    the credit-code check character already covers those positions.
    """
    kind, label = "uscc", "统一社会信用代码"
    code = _text(value, kind, label).upper()
    if len(code) != 18:
        raise _invalid(kind, f"{label}长度应为18位，实际为{len(code)}位", "length", length=len(code))
    for pos, ch in enumerate(code, start=1):
        if ch not in _USCC_VALUE:
            raise _invalid(
                kind,
                f"{label}含非法字符「{ch}」（第{pos}位；只能是数字和除I、O、Z、S、V以外的大写字母）",
                "charset",
                position=pos,
            )
    if code[0] not in USCC_AUTHORITY_CODES:
        raise _invalid(kind, f"{label}登记管理部门码「{code[0]}」无效", "authority", value=code)
    region = code[2:8]
    if not set(region) <= _DIGITS or (region[:2] not in PROVINCE_CODES and region != "100000"):
        raise _invalid(kind, f"{label}第3-8位应为行政区划代码，{region} 无效", "region_code", value=code)
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        raise _invalid(
            kind, f"{label}校验码错误（应为 {expected}）", "check_char", value=code, expected=expected
        )
    return code


def make_uscc(first17_without_check: str) -> str:
    """Append the check character to 17 credit-code characters (tests and demo data)."""
    body = first17_without_check.upper()
    return body + uscc_check_char(body)


def org_code_check_char(first8: str) -> str:
    """The GB 11714 check character ("0"-"9" or "X") of an 8-character organisation code body."""
    if len(first8) != 8 or not all(ch in _ORG_CHARS for ch in first8):
        raise ValueError("first8 must be 8 digits or upper-case letters")
    total = sum(_ORG_CHARS.index(ch) * w for ch, w in zip(first8, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def make_org_code(first8: str) -> str:
    """A 9-character 组织机构代码: ``first8`` plus its GB 11714 check character."""
    return first8 + org_code_check_char(first8)


def make_uscc_from(authority: str, kind: str, region_code: str, org_code9: str) -> str:
    """Assemble a credit code from its parts and append the check character.

    ``authority`` is the 登记管理部门码 (e.g. "9" 市场监管), ``kind`` the 机构类别码
    (e.g. "1" 企业), ``region_code`` the 6-digit division code and
    ``org_code9`` the 9-character 主体标识码 (see :func:`make_org_code`).
    """
    if len(authority) != 1 or len(kind) != 1:
        raise ValueError("authority and kind are one character each")
    if len(region_code) != 6 or not set(region_code) <= _DIGITS:
        raise ValueError("region_code must be 6 digits")
    if len(org_code9) != 9:
        raise ValueError("org_code9 must be 9 characters")
    return make_uscc(f"{authority}{kind}{region_code}{org_code9}")


# ------------------------------------------------------------- region codes


def validate_region_code(value: str, known: Collection[str] | None = None) -> str:
    """Check a 行政区划代码: 6 digits (GB/T 2260) or 9 digits (乡镇/街道).

    A 6-digit code is province (2) + city (2) + county (2), e.g. ``440000``
    广东省, ``440100`` 广州市, ``440106`` 天河区; the province must be real
    and a county part needs a city part. A 9-digit code is a county-level or
    city-level code plus a 3-digit town number, e.g. ``441900003`` (东莞's
    towns sit directly under the city). When ``known`` is given, the code must
    also be one of those codes (this module knows no region table).
    """
    kind, label = "region_code", "行政区划代码"
    code = _text(value, kind, label)
    if len(code) not in (6, 9) or not set(code) <= _DIGITS:
        raise _invalid(kind, f"{label}应为6位或9位数字，{code!r} 无效", "format", value=code)
    province, city, county, town = code[:2], code[2:4], code[4:6], code[6:]
    if province not in PROVINCE_CODES:
        raise _invalid(kind, f"{label} {code} 无效：省级代码 {province} 不存在", "province", value=code)
    if city == "00" and county != "00":
        raise _invalid(kind, f"{label} {code} 无效：县级代码必须位于地级代码之下", "structure", value=code)
    if town and (city == "00" or town == "000"):
        raise _invalid(
            kind, f"{label} {code} 无效：乡镇街道代码应位于市或县之下且序号不为000", "structure", value=code
        )
    if known is not None and code not in known:
        raise _invalid(kind, f"{label} {code} 不存在", "unknown", value=code)
    return code


# ------------------------------------------------------------------ contacts


def validate_mobile(value: str) -> str:
    """Check a mainland mobile number; return its 11 digits.

    Spaces, hyphens and brackets are dropped, and a ``+86``/``0086``/``86``
    country prefix is removed, so ``+86 138-0013-8000`` gives ``13800138000``.
    """
    kind, label = "mobile", "手机号码"
    digits = _MOBILE_SEPARATORS.sub("", _text(value, kind, label))
    for prefix in ("+86", "0086", "86"):
        # A mainland mobile never starts with 86, so a 13-digit "86..." is a prefix.
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
            break
    if not digits.isascii() or not _MOBILE_RE.fullmatch(digits):
        raise _invalid(kind, f"{label}格式无效：应为以13-19开头的11位数字", "format")
    return digits


def validate_email(value: str) -> str:
    """Check an e-mail address pragmatically (RFC 5321 dot-atom); lower-case the domain.

    One ``@``; an ASCII local part of at most 64 characters without leading,
    trailing or doubled dots; a domain of two or more DNS labels (中文域名 are
    checked in their IDNA form and kept as typed); at most 254 characters.
    Quoted local parts and IP-literal domains are refused: no one types them
    into a government form, and mail systems handle them badly.
    """
    kind, label = "email", "电子邮箱"
    address = _text(value, kind, label)
    if len(address) > _EMAIL_MAX:
        raise _invalid(kind, f"{label}过长：最多{_EMAIL_MAX}个字符", "length")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise _invalid(kind, f"{label}格式无效：应为 名称@域名", "format")
    if len(local) > _EMAIL_LOCAL_MAX or not _EMAIL_LOCAL_RE.fullmatch(local):
        raise _invalid(kind, f"{label}格式无效：@前的名称含不允许的字符或格式有误", "local_part")
    domain = domain.lower()
    try:
        ascii_domain = domain if domain.isascii() else domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise _invalid(kind, f"{label}域名无效：{domain}", "domain") from None
    labels = ascii_domain.split(".")
    if (
        len(labels) < 2
        or len(ascii_domain) > 253
        or not all(_DNS_LABEL_RE.fullmatch(part) for part in labels)
        or labels[-1].isdigit()  # a numeric "TLD" means an IP address, not a domain
    ):
        raise _invalid(kind, f"{label}域名无效：{domain}", "domain")
    return f"{local}@{domain}"


# -------------------------------------------------------------- yes/no twins


def _predicate(validator: Callable[[str], object], name: str) -> Callable[[object], bool]:
    """A yes/no twin of ``validator``: true when it accepts the value."""

    def check(value: object) -> bool:
        try:
            validator(value)  # type: ignore[arg-type]  # _text refuses non-strings itself
        except InvalidInput:
            return False
        return True

    check.__name__ = check.__qualname__ = name
    check.__doc__ = f"True when :func:`{validator.__name__}` accepts ``value``."
    return check


is_valid_id_number = _predicate(validate_id_number, "is_valid_id_number")
is_valid_uscc = _predicate(validate_uscc, "is_valid_uscc")
is_valid_region_code = _predicate(validate_region_code, "is_valid_region_code")
is_valid_mobile = _predicate(validate_mobile, "is_valid_mobile")
is_valid_email = _predicate(validate_email, "is_valid_email")


def whole_number(text: str | None, *, most_digits: int = 18) -> int | None:
    """``text`` as a whole number (0 or more) when it is ASCII digits only, at most ``most_digits``
    of them; else ``None``. ``str.isdigit()`` alone is not enough before ``int()``: it is true
    for "¹" or "٣", which ``int()`` then refuses (a 500 for a caller's typo) or reads."""
    if text is None or not 0 < len(text) <= most_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)
