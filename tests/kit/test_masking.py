"""Masking of personal information: each kind keeps exactly what its rule allows and no more,
whatever the input looks like (odd lengths, separators, country codes, plus-tags, values that
are already masked, arbitrary text)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from yiwang.kit.masking import (
    COMPOUND_SURNAMES,
    PI_KINDS,
    mask_record,
    mask_value,
    masker_for,
    record_masker,
)
from yiwang.kit.validators import make_id_number

PI_ONLY = tuple(kind for kind in PI_KINDS if kind != "none")

HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
DIGIT = st.sampled_from("0123456789")
# Arbitrary text, weighted towards the characters the rules care about.
ANY_TEXT = st.text(
    st.one_of(
        st.characters(codec="utf-8"),
        HAN,
        DIGIT,
        st.sampled_from(" -+@.<>()*省市区县旗州盟自治路号小"),
    ),
    max_size=40,
)


def kept(masked: object) -> str:
    """The characters of a masked value that are not mask characters."""

    assert isinstance(masked, str)
    return masked.replace("*", "")


# ------------------------------------------------------------------ API


def test_kinds_are_the_documented_ones() -> None:
    assert PI_KINDS == ("none", "name", "id_number", "phone", "address", "bank_card", "email", "other")


@pytest.mark.parametrize("kind", ["", "Name", "passport", "身份证"])
def test_unknown_kind_is_a_value_error(kind: str) -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        masker_for(kind)
    with pytest.raises(ValueError, match="unknown kind"):
        mask_value(kind, "张三")
    with pytest.raises(ValueError, match="unknown kind"):
        mask_record({"a": "张三"}, {"a": kind})


@pytest.mark.parametrize("kind", PI_KINDS)
def test_none_stays_none(kind: str) -> None:
    assert mask_value(kind, None) is None


@given(st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.dates(), st.binary()))
def test_kind_none_returns_the_value_itself(value: object) -> None:
    assert mask_value("none", value) is value


@pytest.mark.parametrize("kind", PI_ONLY)
@pytest.mark.parametrize("blank", ["", "   ", "\u3000\t\n"])
def test_blank_values_stay_empty(kind: str, blank: str) -> None:
    assert mask_value(kind, blank) == ""


def test_non_strings_are_masked_through_str() -> None:
    assert mask_value("id_number", 110105194912310021) == "110105********0021"
    assert mask_value("phone", 13812345678) == "138****5678"
    assert mask_value("bank_card", 6222021234567890) == "************7890"
    assert mask_value("other", 42) == "***"
    assert mask_value("name", 7) == "*"


@given(kind=st.sampled_from(PI_ONLY), text=ANY_TEXT)
@example(kind="other", text="*****")
@example(kind="name", text="张**")
@example(kind="phone", text="+86 --")
def test_something_is_always_masked(kind: str, text: str) -> None:
    """What the rules really guarantee, for every kind but ``none`` and any text:

    - the result is a string, and it contains at least one ``*`` unless the input is blank
      (blank values become ``""``);
    - hence the result differs from the input whenever the input has any non-blank character
      and no ``*`` (a value that is already masked, ``张**``, may be its own masked form, which
      is why the brief's "more than 4 characters" is not enough on its own).
    """

    masked = mask_value(kind, text)
    assert isinstance(masked, str)
    if text.strip():
        assert "*" in masked
        if "*" not in text:
            assert masked != text
    else:
        assert masked == ""


@given(kind=st.sampled_from(PI_ONLY), text=ANY_TEXT)
def test_masking_a_masked_value_reveals_nothing_new(kind: str, text: str) -> None:
    once = mask_value(kind, text)
    twice = mask_value(kind, once)
    assert Counter(kept(twice)) <= Counter(kept(once))


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("name", "欧阳娜娜"),
        ("name", "张三"),
        ("id_number", "11010519491231002X"),
        ("id_number", "110105491231123"),
        ("phone", "+86 138 1234 5678"),
        ("bank_card", "6222 0212 3456 7890"),
        ("email", "alice+news@x.cn"),
        ("address", "广东省广州市天河区体育西路191号"),
        ("other", "anything"),
    ],
)
def test_well_formed_masked_values_are_fixed_points(kind: str, value: str) -> None:
    once = mask_value(kind, value)
    assert mask_value(kind, once) == once


# ------------------------------------------------------------------ name


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("王小明", "王**"),
        ("欧阳娜娜", "欧阳**"),
        ("欧阳修", "欧阳*"),
        ("司马相如", "司马**"),
        ("诸葛亮", "诸葛*"),
        ("上官婉儿", "上官**"),
        ("欧阳", "欧*"),  # two characters: 欧 + 阳 is the likelier reading, keep one
        ("张", "*"),
        (" 欧阳 娜娜 ", "欧阳**"),
        ("阿卜杜拉·买买提", "阿*******"),
        ("John Smith", "J*********"),
    ],
)
def test_name_examples(name: str, masked: str) -> None:
    assert mask_value("name", name) == masked


def test_compound_surname_list_covers_the_common_ones() -> None:
    common = "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 端木 钟离"
    common += " 呼延 南宫 西门 淳于 拓跋"
    assert set(common.split()) <= COMPOUND_SURNAMES
    assert all(len(surname) == 2 for surname in COMPOUND_SURNAMES)


@given(surname=st.sampled_from(sorted(COMPOUND_SURNAMES)), given_name=st.text(HAN, min_size=1, max_size=3))
def test_compound_surnames_are_kept_whole(surname: str, given_name: str) -> None:
    assert mask_value("name", surname + given_name) == surname + "*" * len(given_name)


@given(st.text(HAN, min_size=2, max_size=6))
def test_name_keeps_the_surname_and_one_star_per_hidden_character(name: str) -> None:
    keep = 2 if name[:2] in COMPOUND_SURNAMES and len(name) >= 3 else 1
    masked = mask_value("name", name)
    assert masked == name[:keep] + "*" * (len(name) - keep)


@given(ANY_TEXT)
def test_name_never_keeps_more_than_two_characters(text: str) -> None:
    masked = mask_value("name", text)
    assert isinstance(masked, str)
    visible = masked.rstrip("*")
    assert len(visible) <= 2
    assert "*" not in visible or "*" in text


# ------------------------------------------------------------------ ID number

REGION = st.sampled_from(["110105", "440106", "310115", "650102", "152502", "810000"])
BIRTH = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))


@given(region=REGION, birth=BIRTH, seq=st.integers(0, 999))
def test_id_number_keeps_first_6_and_last_4(region: str, birth: date, seq: int) -> None:
    number = make_id_number(region, birth, seq)
    masked = mask_value("id_number", number)
    assert masked == number[:6] + "*" * 8 + number[-4:]
    assert f"{birth:%Y%m%d}" not in masked
    assert f"{birth:%Y%m}" not in masked[6:]
    assert len(kept(masked)) == 10


@given(region=REGION, birth=BIRTH, seq=st.integers(0, 999), sep=st.sampled_from([" ", "-", "  ", "\t"]))
def test_id_number_separators_and_lower_case_x(region: str, birth: date, seq: int, sep: str) -> None:
    number = make_id_number(region, birth, seq)
    written = sep + number[:6] + sep + number[6:14] + sep + number[14:].lower() + sep
    assert mask_value("id_number", written) == number[:6] + "*" * 8 + number[-4:]


@given(region=REGION, birth=st.dates(date(1900, 1, 1), date(1999, 12, 31)), seq=st.integers(0, 999))
def test_old_15_digit_id_keeps_first_6_and_last_3(region: str, birth: date, seq: int) -> None:
    old = f"{region}{birth:%y%m%d}{seq:03d}"
    masked = mask_value("id_number", old)
    assert masked == region + "*" * 6 + f"{seq:03d}"
    assert f"{birth:%y%m%d}" not in masked


@pytest.mark.parametrize("value", ["1", "1101", "11010519491231", "11010519491231002", "1101051949123100212"])
def test_id_number_of_other_lengths_is_fully_masked(value: str) -> None:
    assert mask_value("id_number", value) == "*" * len(value)


@given(ANY_TEXT)
def test_id_number_never_keeps_more_than_10_characters(text: str) -> None:
    masked = mask_value("id_number", text)
    assert isinstance(masked, str)
    assert len(kept(masked)) <= 10
    if len(masked) in (15, 18):
        assert set(masked[6 : len(masked) - (3 if len(masked) == 15 else 4)]) <= {"*"}


# ------------------------------------------------------------------ phone

MOBILE = st.builds(
    lambda second, rest: "1" + second + rest,
    st.sampled_from("3456789"),
    st.text(DIGIT, min_size=9, max_size=9),
)


@given(
    mobile=MOBILE,
    prefix=st.sampled_from(["", "+86", "+86 ", "0086", "0086-", "86", "(+86)"]),
    sep=st.sampled_from(["", " ", "-", "."]),
)
def test_mobile_keeps_first_3_and_last_4_whatever_the_format(mobile: str, prefix: str, sep: str) -> None:
    written = prefix + mobile[:3] + sep + mobile[3:7] + sep + mobile[7:]
    masked = mask_value("phone", written)
    assert masked == mobile[:3] + "****" + mobile[7:]
    assert mobile[3:7] not in masked[:3] + masked[7:] or mobile[3:7] in mobile[:3] + mobile[7:]


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("138****5678", "138****5678"),
        ("0755-87654321", "075*****4321"),
        ("010 12345678", "010****5678"),
        ("87654321", "****4321"),
        ("1234567", "*******"),
        ("12", "**"),
        ("+86", "***"),
    ],
)
def test_phone_examples(phone: str, masked: str) -> None:
    assert mask_value("phone", phone) == masked


@given(ANY_TEXT)
def test_phone_never_keeps_more_than_7_characters_nor_more_than_the_rule(text: str) -> None:
    masked = mask_value("phone", text)
    assert isinstance(masked, str)
    assert len(kept(masked)) <= 7
    if len(masked) < 11:
        assert len(kept(masked)) <= 4
    if len(masked) >= 4:
        assert masked[3 if len(masked) >= 11 else 0 : -4].strip("*") == ""


# ------------------------------------------------------------------ bank card


@given(st.text(DIGIT, min_size=12, max_size=19), st.sampled_from(["", " ", "-"]))
def test_bank_card_keeps_the_last_4(card: str, sep: str) -> None:
    written = sep.join(card[i : i + 4] for i in range(0, len(card), 4))
    masked = mask_value("bank_card", written)
    assert masked == "*" * (len(card) - 4) + card[-4:]


def test_bank_card_documented_form() -> None:
    assert mask_value("bank_card", "6222 0212 3456 1234") == "************1234"
    assert mask_value("bank_card", "12345678901") == "***********"  # too short to be a card


@given(ANY_TEXT)
def test_bank_card_never_keeps_more_than_4_characters(text: str) -> None:
    masked = mask_value("bank_card", text)
    assert len(kept(masked)) <= 4
    assert masked[:-4].strip("*") == "" if isinstance(masked, str) else False


# ------------------------------------------------------------------ email


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("alice@x.cn", "a***@x.cn"),
        ("alice+news@x.cn", "a***@x.cn"),
        ("  Bob.Li@Example.COM ", "B***@Example.COM"),
        ("王小明 <xiaoming@gov.cn>", "x***@gov.cn"),
        ("mailto:zhang@x.cn", "z***@x.cn"),
        ("a@x.cn", "***@x.cn"),
        ("a***@x.cn", "a***@x.cn"),
        ("not an email", "***"),
        ("alice@", "***"),
        ("@x.cn", "***"),
        ("alice@x.cn 13812345678", "***"),
        ("用户@例子.中国", "用***@例子.中国"),
    ],
)
def test_email_examples(email: str, masked: str) -> None:
    assert mask_value("email", email) == masked


@given(
    local=st.from_regex(r"[A-Za-z0-9._%-]{2,20}", fullmatch=True),
    tag=st.one_of(st.just(""), st.from_regex(r"\+[a-z0-9]{1,8}", fullmatch=True)),
    domain=st.from_regex(r"[a-z0-9-]{1,10}(\.[a-z]{2,5}){1,2}", fullmatch=True),
)
def test_email_keeps_first_character_and_domain(local: str, tag: str, domain: str) -> None:
    masked = mask_value("email", f"{local}{tag}@{domain}")
    assert masked == f"{local[0]}***@{domain}"


@given(ANY_TEXT)
def test_email_keeps_at_most_one_character_of_the_local_part(text: str) -> None:
    masked = mask_value("email", text)
    assert isinstance(masked, str)
    if masked and masked != "***":
        local, _, domain = masked.partition("@")
        assert local in ("***",) or (len(local) == 4 and local.endswith("***"))
        assert domain
        assert domain in text


# ------------------------------------------------------------------ address


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("广东省广州市天河区体育西路191号", "广东省广州市天河区***"),
        ("广东省 广州市 天河区 体育西路191号", "广东省广州市天河区***"),
        ("北京市朝阳区建国路88号", "北京市朝阳区***"),
        ("上海市浦东新区世纪大道1号", "上海市浦东新区***"),
        ("重庆市城口县葛城街道", "重庆市城口县***"),
        ("内蒙古自治区呼伦贝尔市鄂温克族自治旗巴彦托海镇", "内蒙古自治区呼伦贝尔市鄂温克族自治旗***"),
        ("内蒙古自治区锡林郭勒盟正蓝旗上都镇", "内蒙古自治区锡林郭勒盟正蓝旗***"),
        ("吉林省延边朝鲜族自治州延吉市河南街", "吉林省延边朝鲜族自治州延吉市***"),
        ("江苏省苏州市昆山市花桥镇", "江苏省苏州市昆山市***"),
        ("新疆维吾尔自治区乌鲁木齐市天山区解放北路", "新疆维吾尔自治区乌鲁木齐市天山区***"),
        ("黑龙江省大兴安岭地区呼玛县", "黑龙江省大兴安岭地区呼玛县***"),
        ("广州市天河区天河北路", "广州市天河区***"),
        ("天河区体育西路191号", "天河区***"),
        ("济南市市中区经四路", "济南市市中区***"),
        # no county-level unit: at most 6 characters, half the address, the parsed units, no digits
        ("广东省东莞市虎门镇太平路1号", "广东省东莞市***"),
        ("广州市越秀小区3栋", "广州市***"),
        ("建国路88号3单元", "建国路***"),
        ("体育西路191号", "体育西路***"),
        ("香港特别行政区", "香港特***"),
        ("12 Main Street", "***"),
        ("广东省广州市天河区***", "广东省广州市天河区***"),
    ],
)
def test_address_examples(address: str, masked: str) -> None:
    assert mask_value("address", address) == masked


@given(ANY_TEXT.filter(lambda text: text.strip() != ""))
def test_address_keeps_a_digit_free_prefix_cut_after_a_unit_or_short(text: str) -> None:
    masked = mask_value("address", text)
    assert isinstance(masked, str)
    assert masked.endswith("***")
    visible = masked[:-3]
    assert re.sub(r"\s", "", text).startswith(visible)
    assert not re.search(r"\d", visible)
    assert len(visible) <= 6 or (visible[-1] in "区县旗市" and len(visible) <= 3 * 16)


# ------------------------------------------------------------------ other


@given(ANY_TEXT.filter(lambda text: text.strip() != ""))
def test_other_is_fully_masked(text: str) -> None:
    assert mask_value("other", text) == "***"


# ------------------------------------------------------------------ records

PI = {
    "姓名": "name",
    "身份证号": "id_number",
    "手机": "phone",
    "地址": "address",
    "事项": "none",
    "备注": "other",
}
ROW = {
    "事项": "户籍迁移",
    "姓名": "欧阳娜娜",
    "身份证号": "11010519491231002X",
    "手机": "13812345678",
    "地址": "广东省广州市天河区体育西路191号",
    "备注": None,
    "未分类": "passes",
}


def test_mask_record_masks_by_field_and_reports_the_masked_fields() -> None:
    original = dict(ROW)
    masked, names = mask_record(ROW, PI)
    assert masked == {
        "事项": "户籍迁移",
        "姓名": "欧阳**",
        "身份证号": "110105********002X",
        "手机": "138****5678",
        "地址": "广东省广州市天河区***",
        "备注": None,
        "未分类": "passes",
    }
    assert names == ["姓名", "身份证号", "手机", "地址", "备注"]  # record order, none/unknown fields left out
    assert ROW == original  # the input is not touched


def test_mask_record_passes_cleared_fields() -> None:
    masked, names = mask_record(ROW, PI, clear={"手机", "地址"})
    assert masked["手机"] == "13812345678"
    assert masked["地址"] == ROW["地址"]
    assert masked["姓名"] == "欧阳**"
    assert names == ["姓名", "身份证号", "备注"]


def test_mask_record_ignores_classified_fields_missing_from_the_record() -> None:
    masked, names = mask_record({"姓名": "张三"}, {"姓名": "name", "手机": "phone"})
    assert masked == {"姓名": "张*"}
    assert names == ["姓名"]


def test_record_masker_is_reusable_and_equals_mask_record() -> None:
    mask = record_masker(PI, clear=("备注",))
    for row in (ROW, {**ROW, "姓名": "张三"}, {}):
        assert mask(row) == mask_record(row, PI, clear=("备注",))
    with pytest.raises(ValueError, match="unknown kind"):
        record_masker({"x": "ssn"})
