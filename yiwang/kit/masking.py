"""Masking of personal information at every exit (gateway, pages, exports).

Each field of a resource is tagged with one of :data:`PI_KINDS`. Unless a grant
clears a field, its values leave the platform masked by the rules below. The
rules favour hiding too much over hiding too little: a value that does not
parse as what its kind expects is masked harder, never softer.

Rules (``*`` is the mask character; input is stripped of surrounding blanks):

``name``
    Keep the surname and replace every other character with one ``*``:
    ``张三`` → ``张*``, ``欧阳娜娜`` → ``欧阳**``. A compound surname
    (:data:`COMPOUND_SURNAMES`) is kept whole only when the name has at least
    three characters, because ``欧阳`` alone is more likely 欧 + 阳. Blanks
    inside a name with Chinese characters are dropped first (``欧阳 娜娜``).
    A one-character name becomes ``*``.
``id_number``
    Blanks and hyphens are removed and ``x`` upper-cased. 18 characters (居民
    身份证): keep the first 6 and last 4, ``110105********002X``, so the birth
    date is hidden. 15 characters (the old first-generation number, 6 region +
    6 birth date + 3 sequence digits): keep the first 6 and last 3,
    ``110105******123``, again hiding the birth date. Any other length is not
    an ID number we can parse and is masked completely, one ``*`` per character.
``phone``
    Blanks, hyphens, dots and parentheses are removed, as is a ``+86`` /
    ``0086`` country code (and a bare ``86`` in front of an 11-digit mobile).
    11 or more characters: keep the first 3 and the last 4,
    ``138****5678`` (a landline with area code, ``0755-87654321``, becomes
    ``075*****4321``). 8 to 10 characters: keep only the last 4. Shorter:
    masked completely. The output is the normalised form, without the country
    code or separators.
``bank_card``
    Blanks and hyphens are removed. 12 or more characters: keep the last 4,
    one ``*`` per hidden character and no grouping, ``************1234``
    (ungrouped so that masking a masked value changes nothing and so that the
    output fits the same column as the input). Shorter: masked completely.
``email``
    ``Name <addr>`` and ``mailto:`` are reduced to the address. The local part
    (before the last ``@``) keeps its first character followed by ``***``
    whatever its length (``alice+news@x.cn`` → ``a***@x.cn``); a one-character
    local part becomes ``***``. The domain is kept. Without an ``@``, or with a
    domain that is not a plain host name (blanks, punctuation), the value is
    ``***``.
``address``
    Blanks are removed, then the leading administrative units are parsed:
    province level (``省``, ``自治区``, ``特别行政区``, and the municipalities
    北京市 天津市 上海市 重庆市), prefecture level (``市``, ``自治州``,
    ``地区``, ``盟``) and county level (``区``, ``县``, ``旗``, ``自治县``,
    ``自治旗``, ``林区``, ``特区``, ``新区``, and a ``市`` under a prefecture).
    The address is cut after the county-level unit and ``***`` appended:
    ``广东省广州市天河区***``. Words that only look like units (``小区``,
    ``社区``, ``园区``, names with ``路 街 道 巷 号 村 镇 乡 楼`` ...) are not
    taken as units. If no county-level unit is found, at most the first 6
    characters are kept, never more than half of the address, never more than
    the province/prefecture units parsed (when there are any) and never a digit
    or anything after one (house numbers): ``广东省东莞市虎门镇…`` →
    ``广东省东莞市***``, ``广州市越秀小区3栋`` → ``广州市***``,
    ``建国路88号3单元`` → ``建国路***``.
``other``
    ``***``.
``none``
    The value unchanged.

Common to all kinds but ``none``: ``None`` stays ``None``; a blank value
becomes ``""`` (there is nothing to hide, and the reader may know that the
field is empty); a value that is nothing but separators becomes ``***``;
other values that are not strings are masked through
``str()``; the result is always a string. Every non-blank result contains at
least one ``*``, and masking a masked value reveals nothing new (for every
kind the masked form is a fixed point or loses more).

For hot loops (the gateway masks thousands of rows per second) use
:func:`masker_for` once per field, or :func:`record_masker` once per resource,
rather than :func:`mask_value` per value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final

__all__ = [
    "COMPOUND_SURNAMES",
    "PI_KINDS",
    "Masker",
    "RecordMasker",
    "mask_record",
    "mask_value",
    "masker_for",
    "record_masker",
]

PI_KINDS: Final = ("none", "name", "id_number", "phone", "address", "bank_card", "email", "other")

Masker = Callable[[object], object]

_STAR = "*"
_STARS = "***"

# 复姓: the compound surnames of the 百家姓 and those common today.
COMPOUND_SURNAMES: Final[frozenset[str]] = frozenset(
    """
    欧阳 太史 端木 上官 司马 东方 独孤 南宫 万俟 闻人 夏侯 诸葛 尉迟 公羊 赫连 澹台 皇甫
    宗政 濮阳 公冶 太叔 申屠 公孙 慕容 仲孙 钟离 长孙 宇文 司徒 鲜于 司空 闾丘 子车 亓官
    司寇 巫马 公西 颛孙 壤驷 公良 漆雕 乐正 宰父 谷梁 拓跋 夹谷 轩辕 令狐 段干 百里 呼延
    东郭 南门 羊舌 微生 公户 公玉 公仪 梁丘 公仲 公上 公门 公山 公坚 左丘 公伯 西门 公祖
    第五 公乘 贯丘 公皙 南荣 东里 东宫 仲长 子书 子桑 即墨 达奚 褚师 纳兰 归海 淳于 单于
    完颜 叱干 尔朱 斛律 贺兰 乞伏 秃发 耶律 东门 西乡 北宫
    """.split()
)

_BLANKS = re.compile(r"\s+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _text(value: object) -> str:
    return (value if isinstance(value, str) else str(value)).strip()


# ------------------------------------------------------------------ name


def _mask_name(value: object) -> object:
    if value is None:
        return None
    text = _text(value)
    if not text:
        return ""
    if _CJK.search(text):
        text = _BLANKS.sub("", text)
    n = len(text)
    if n <= 1:
        return _STAR * n
    keep = 2 if n >= 3 and text[:2] in COMPOUND_SURNAMES else 1
    return text[:keep] + _STAR * (n - keep)


# ------------------------------------------------------------------ ID number

_ID_NOISE = re.compile(r"[\s\-]+")


def _mask_id_number(value: object) -> object:
    if value is None:
        return None
    raw = _text(value)
    if not raw:
        return ""
    text = _ID_NOISE.sub("", raw).replace("x", "X")
    n = len(text)
    if n == 18:
        return text[:6] + "********" + text[14:]
    if n == 15:
        return text[:6] + "******" + text[12:]
    return _STAR * n or _STARS


# ------------------------------------------------------------------ phone

_PHONE_NOISE = re.compile(r"[\s\-.()（）]+")


def _mask_phone(value: object) -> object:
    if value is None:
        return None
    raw = _text(value)
    if not raw:
        return ""
    text = _PHONE_NOISE.sub("", raw)
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    elif len(text) == 13 and text.startswith("861"):
        text = text[2:]
    n = len(text)
    if n >= 11:
        return text[:3] + _STAR * (n - 7) + text[-4:]
    if n >= 8:
        return _STAR * (n - 4) + text[-4:]
    return _STAR * n or _STARS


# ------------------------------------------------------------------ bank card

_CARD_NOISE = re.compile(r"[\s\-]+")


def _mask_bank_card(value: object) -> object:
    if value is None:
        return None
    raw = _text(value)
    if not raw:
        return ""
    text = _CARD_NOISE.sub("", raw)
    n = len(text)
    if n >= 12:
        return _STAR * (n - 4) + text[-4:]
    return _STAR * n or _STARS


# ------------------------------------------------------------------ email

_ANGLE = re.compile(r"<([^<>]*)>")
_DOMAIN = re.compile(r"[\w.\-]+")


def _mask_email(value: object) -> object:
    if value is None:
        return None
    text = _text(value)
    if not text:
        return ""
    bracketed = _ANGLE.search(text)
    if bracketed:
        text = bracketed.group(1).strip()
    if text[:7].lower() == "mailto:":
        text = text[7:]
    local, at, domain = text.rpartition("@")
    if not at or not local or not _DOMAIN.fullmatch(domain):
        return _STARS
    if len(local) == 1:
        return _STARS + "@" + domain
    return local[0] + _STARS + "@" + domain


# ------------------------------------------------------------------ address

_MUNICIPALITIES: Final = frozenset({"北京", "天津", "上海", "重庆"})
_PROVINCE_SUFFIXES: Final = frozenset({"省", "自治区", "特别行政区"})
_PREFECTURE_SUFFIXES: Final = frozenset({"自治州", "地区", "盟"})
# Longest first: the regex alternation takes the first suffix that matches.
_UNIT = re.compile(
    r"([\u3400-\u9fff]{1,15}?)"
    r"(特别行政区|自治区|自治州|自治县|自治旗|地区|林区|特区|新区|省|市|区|县|旗|盟)"
)
# A unit whose name contains one of these is a street, village or building, not an
# administrative unit; a ``区`` after one of the words below is a housing estate or campus.
_NOT_A_UNIT_CHARS = frozenset("路街道巷弄号村镇乡楼栋室座层单元")
_NOT_A_DISTRICT_ENDINGS = ("小", "社", "园", "校", "景", "片", "营", "院", "厂", "商", "住宅", "生活", "办公")
_DIGIT = re.compile(r"\d")
_ADDRESS_FALLBACK_KEEP = 6


def _address_cut(text: str) -> tuple[bool, int]:
    """Whether a county-level unit leads the address, and where the parsed units end."""

    pos = 0
    previous = 0  # level of the previous unit: 1 province, 2 prefecture, 3 county
    for _ in range(3):
        match = _UNIT.match(text, pos)
        if match is None:
            break
        name, suffix = match.group(1), match.group(2)
        if not _NOT_A_UNIT_CHARS.isdisjoint(name):
            break
        if suffix in _PROVINCE_SUFFIXES:
            level = 1
        elif suffix == "市":
            if name in _MUNICIPALITIES:
                level = 1
            else:
                level = 3 if previous == 2 else 2
        elif suffix in _PREFECTURE_SUFFIXES:
            level = 2
        else:
            if suffix == "区" and name.endswith(_NOT_A_DISTRICT_ENDINGS):
                break
            level = 3
        if level <= previous:
            break
        if level == 3:
            return True, match.end()
        previous = level
        pos = match.end()
    return False, pos


def _mask_address(value: object) -> object:
    if value is None:
        return None
    text = _BLANKS.sub("", _text(value))
    if not text:
        return ""
    found, cut = _address_cut(text)
    if not found:
        limit = min(_ADDRESS_FALLBACK_KEEP, len(text) // 2)
        cut = min(cut, limit) if cut else limit
        digit = _DIGIT.search(text, 0, cut)
        if digit is not None:
            cut = digit.start()
    return text[:cut] + _STARS


# ------------------------------------------------------------------ other, none


def _mask_other(value: object) -> object:
    if value is None:
        return None
    return _STARS if _text(value) else ""


def _unchanged(value: object) -> object:
    return value


_MASKERS: Final[dict[str, Masker]] = {
    "none": _unchanged,
    "name": _mask_name,
    "id_number": _mask_id_number,
    "phone": _mask_phone,
    "address": _mask_address,
    "bank_card": _mask_bank_card,
    "email": _mask_email,
    "other": _mask_other,
}
assert tuple(_MASKERS) == PI_KINDS


def masker_for(kind: str) -> Masker:
    """The masking function of a kind of personal information; ``ValueError`` for an unknown kind."""

    try:
        return _MASKERS[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown kind of personal information: {kind!r}") from None


def mask_value(kind: str, value: object) -> object:
    """``value`` masked by the rules of ``kind`` (see the module documentation)."""

    return masker_for(kind)(value)


RecordMasker = Callable[[Mapping[str, Any]], tuple[dict[str, Any], list[str]]]


def record_masker(pi_by_field: Mapping[str, str], clear: Collection[str] = ()) -> RecordMasker:
    """A function that masks one record, with the per-field maskers looked up once.

    Fields tagged ``none``, fields absent from ``pi_by_field`` and fields in ``clear``
    (an explicit grant) pass through. The function returns the masked copy and the
    names of the fields that were masked, in the record's order.
    """

    maskers: dict[str, Masker] = {}
    for field, kind in pi_by_field.items():
        masker = masker_for(kind)
        if masker is not _unchanged and field not in clear:
            maskers[field] = masker

    def mask(record: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        masked = dict(record)
        names: list[str] = []
        for field, value in record.items():
            masker = maskers.get(field)
            if masker is not None:
                masked[field] = masker(value)
                names.append(field)
        return masked, names

    return mask


def mask_record(
    record: Mapping[str, Any], pi_by_field: Mapping[str, str], clear: Collection[str] = ()
) -> tuple[dict[str, Any], list[str]]:
    """A masked copy of ``record`` and the names of the fields masked (see :func:`record_masker`)."""

    return record_masker(pi_by_field, clear)(record)
