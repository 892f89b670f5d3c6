"""Validators: real-world identifiers pass, every single-character typo is caught,
and each kind of mistake gets its own Chinese message.

Expected check characters are computed here by independent oracles (the
recursive ISO 7064 definition, powers of 3 mod 31), not by the module's tables.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yiwang.kit.errors import InvalidInput
from yiwang.kit.validators import (
    ID_ADDRESS_PREFIXES,
    PROVINCE_CODES,
    USCC_CHARSET,
    id_check_char,
    is_valid_email,
    is_valid_id_number,
    is_valid_mobile,
    is_valid_region_code,
    is_valid_uscc,
    make_id_number,
    make_org_code,
    make_uscc,
    make_uscc_from,
    org_code_check_char,
    uscc_check_char,
    validate_email,
    validate_id_number,
    validate_mobile,
    validate_region_code,
    validate_uscc,
)

DIGITS = "0123456789"

# Credit codes of well-known companies, as printed on their public business licences.
REAL_USCCS = [
    "914403001922038216",  # 华为技术有限公司
    "91440300708461136T",  # 深圳市腾讯计算机系统有限公司
    "91330100799655058B",  # 阿里巴巴（中国）有限公司
    "91100000100003962T",  # 中国工商银行股份有限公司 (region 100000: the state)
]


def iso7064_mod11_2(first17: str) -> str:
    """The recursive ISO 7064 MOD 11-2 definition, independent of the weight table."""
    p = 0
    for ch in first17:
        p = (p + int(ch)) * 2 % 11
    c = (12 - p) % 11
    return "X" if c == 10 else str(c)


def mod31_check(first17: str) -> str:
    total = sum(USCC_CHARSET.index(ch) * pow(3, i, 31) for i, ch in enumerate(first17))
    return USCC_CHARSET[-total % 31]


def raises_invalid(fn: Callable[[str], object], value: str, code: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        fn(value)
    assert info.value.code == code
    assert info.value.status == 422
    return info.value


def with_id_check(first17: str) -> str:
    return first17 + iso7064_mod11_2(first17)


id_numbers = st.builds(
    make_id_number,
    region_code=st.builds(
        lambda p, rest: p + rest,
        st.sampled_from(sorted(ID_ADDRESS_PREFIXES)),
        st.text(DIGITS, min_size=4, max_size=4),
    ),
    birth=st.dates(min_value=date(1900, 1, 1), max_value=date.today()),
    seq=st.integers(0, 999),
)

usccs = st.builds(
    lambda authority, kind, province, rest, org: make_uscc(authority + kind + province + rest + org),
    st.sampled_from("1234569NY"),
    st.sampled_from(USCC_CHARSET),
    st.sampled_from(sorted(PROVINCE_CODES)),
    st.text(DIGITS, min_size=4, max_size=4),
    st.text(USCC_CHARSET, min_size=9, max_size=9),
)


class TestIdCheckChar:
    def test_standard_examples(self) -> None:
        # GB 11643-1999 prints these two numbers as its examples.
        assert id_check_char("11010519491231002") == "X"
        assert id_check_char("44052418800101001") == "4"

    @given(st.text(DIGITS, min_size=17, max_size=17))
    def test_agrees_with_iso7064_recursive_definition(self, first17: str) -> None:
        assert id_check_char(first17) == iso7064_mod11_2(first17)

    @pytest.mark.parametrize("bad", ["1101051949123100", "11010519491231002X", "1101051949123100A"])
    def test_rejects_anything_but_17_digits(self, bad: str) -> None:
        with pytest.raises(ValueError, match="17"):
            id_check_char(bad)


class TestValidateIdNumber:
    def test_standard_example(self) -> None:
        info = validate_id_number("11010519491231002X")
        assert info.number == "11010519491231002X"
        assert info.region_code == "110105"
        assert info.birth_date == date(1949, 12, 31)
        assert info.sex == "female"  # 17th digit 2 is even

    def test_lowercase_x_and_spaces_normalised(self) -> None:
        assert validate_id_number(" 11010519491231002x ").number == "11010519491231002X"

    @given(id_numbers)
    def test_generated_numbers_pass(self, number: str) -> None:
        info = validate_id_number(number)
        assert info.number == number
        assert info.region_code == number[:6]
        assert info.birth_date.strftime("%Y%m%d") == number[6:14]
        assert info.sex == ("male" if int(number[16]) % 2 == 1 else "female")

    @given(id_numbers, st.integers(0, 17), st.data())
    def test_any_single_substitution_is_rejected(self, number: str, pos: int, data: st.DataObject) -> None:
        allowed = DIGITS + ("X" if pos == 17 else "")
        replacement = data.draw(st.sampled_from([c for c in allowed if c != number[pos]]))
        corrupted = number[:pos] + replacement + number[pos + 1 :]
        assert not is_valid_id_number(corrupted)
        raises_invalid(validate_id_number, corrupted, "invalid_id_number")

    @pytest.mark.parametrize("bad", ["", "11010519491231002", "11010519491231002X1", "110105194912310"])
    def test_wrong_length(self, bad: str) -> None:
        err = raises_invalid(validate_id_number, bad, "invalid_id_number")
        assert "长度应为18位" in err.message
        assert str(len(bad)) in err.message

    @pytest.mark.parametrize(
        "bad", ["1101051949123100XX", "11010519491231A02X", "11010519491231002Y", "１１010519491231002X"]
    )
    def test_illegal_characters(self, bad: str) -> None:
        err = raises_invalid(validate_id_number, bad, "invalid_id_number")
        assert "含非法字符" in err.message

    @pytest.mark.parametrize("birth", ["19490231", "19491301", "19490000", "20230229"])
    def test_impossible_birth_date_is_named(self, birth: str) -> None:
        number = with_id_check(f"110105{birth}002")
        err = raises_invalid(validate_id_number, number, "invalid_id_number")
        assert "出生日期无效" in err.message
        assert birth in err.message

    def test_birth_before_1900_rejected_though_checksum_is_right(self) -> None:
        # The standard's second example was born in 1880: its check character is
        # right, but no living person needs it any more.
        assert iso7064_mod11_2("44052418800101001") == "4"
        err = raises_invalid(validate_id_number, "440524188001010014", "invalid_id_number")
        assert "出生日期无效" in err.message
        assert "1880-01-01" in err.message

    def test_future_birth_rejected(self) -> None:
        tomorrow = date.today() + timedelta(days=1)
        number = with_id_check(f"440106{tomorrow:%Y%m%d}123")
        err = raises_invalid(validate_id_number, number, "invalid_id_number")
        assert "出生日期无效" in err.message
        assert tomorrow.isoformat() in err.message
        # The same number is fine for a caller whose "today" is later.
        assert validate_id_number(number, today=tomorrow).birth_date == tomorrow

    @pytest.mark.parametrize(
        "prefix", ["00", "10", "16", "20", "38", "47", "55", "66", "72", "84", "91", "99"]
    )
    def test_unknown_province_rejected(self, prefix: str) -> None:
        number = with_id_check(f"{prefix}0105199001010010"[:17])
        err = raises_invalid(validate_id_number, number, "invalid_id_number")
        assert "地区码无效" in err.message

    @pytest.mark.parametrize("prefix", ["44", "11", "65", "71", "81", "82", "83"])
    def test_province_and_residence_permit_prefixes_accepted(self, prefix: str) -> None:
        assert is_valid_id_number(with_id_check(f"{prefix}0000199001010011"[:17]))

    def test_wrong_check_char_names_the_right_one(self) -> None:
        first17 = "44010619900307123"
        right = iso7064_mod11_2(first17)
        wrong = "0" if right != "0" else "1"
        err = raises_invalid(validate_id_number, first17 + wrong, "invalid_id_number")
        assert f"校验码错误（应为 {right}）" in err.message
        assert err.details["expected"] == right

    def test_details_do_not_repeat_the_number(self) -> None:
        err = raises_invalid(validate_id_number, "110105194912310021", "invalid_id_number")
        assert "110105194912310021" not in repr(err.details)

    @pytest.mark.parametrize("bad", [None, 11010519491231002, b"11010519491231002X"])
    def test_non_text_is_invalid_input_not_a_crash(self, bad: object) -> None:
        with pytest.raises(InvalidInput):
            validate_id_number(bad)  # type: ignore[arg-type]


class TestMakeIdNumber:
    @given(st.integers(0, 999))
    def test_sequence_sets_sex(self, seq: int) -> None:
        info = validate_id_number(make_id_number("440106", date(1990, 3, 7), seq))
        assert info.sex == ("male" if seq % 2 else "female")
        assert info.number[14:17] == f"{seq:03d}"

    @pytest.mark.parametrize(
        ("region", "seq"), [("44010", 1), ("44010a", 1), ("440106", -1), ("440106", 1000)]
    )
    def test_rejects_bad_parts(self, region: str, seq: int) -> None:
        with pytest.raises(ValueError, match="region_code|seq"):
            make_id_number(region, date(1990, 1, 1), seq)


class TestUsccCheckChar:
    @given(st.text(USCC_CHARSET, min_size=17, max_size=17))
    def test_agrees_with_powers_of_three(self, first17: str) -> None:
        assert uscc_check_char(first17) == mod31_check(first17)

    @pytest.mark.parametrize("code", REAL_USCCS)
    def test_real_codes(self, code: str) -> None:
        assert uscc_check_char(code[:17]) == code[17]

    @pytest.mark.parametrize("bad", ["9144030019220382", "91440300192203821I", "9144030019220382O"])
    def test_rejects_bad_input(self, bad: str) -> None:
        with pytest.raises(ValueError, match="17"):
            uscc_check_char(bad)


class TestValidateUscc:
    @pytest.mark.parametrize("code", REAL_USCCS)
    def test_real_codes_pass(self, code: str) -> None:
        assert validate_uscc(code) == code

    def test_lowercase_normalised(self) -> None:
        assert validate_uscc(" 91440300708461136t ") == "91440300708461136T"

    @given(usccs)
    def test_generated_codes_pass(self, code: str) -> None:
        assert validate_uscc(code) == code

    @given(usccs, st.integers(0, 17), st.data())
    def test_any_single_substitution_is_rejected(self, code: str, pos: int, data: st.DataObject) -> None:
        replacement = data.draw(st.sampled_from([c for c in USCC_CHARSET if c != code[pos]]))
        corrupted = code[:pos] + replacement + code[pos + 1 :]
        assert not is_valid_uscc(corrupted)
        raises_invalid(validate_uscc, corrupted, "invalid_uscc")

    @pytest.mark.parametrize("letter", "IOZSV")
    def test_confusable_letters_rejected(self, letter: str) -> None:
        code = "9144030019220382" + letter + "6"
        err = raises_invalid(validate_uscc, code, "invalid_uscc")
        assert "含非法字符" in err.message
        assert err.details["position"] == 17

    def test_wrong_length(self) -> None:
        err = raises_invalid(validate_uscc, "91440300192203821", "invalid_uscc")
        assert "长度应为18位" in err.message

    @pytest.mark.parametrize("authority", ["0", "H", "X"])
    def test_unknown_registration_authority(self, authority: str) -> None:
        code = make_uscc(authority + "1440300192203821")
        err = raises_invalid(validate_uscc, code, "invalid_uscc")
        assert "登记管理部门码" in err.message

    @pytest.mark.parametrize("region", ["990300", "000000", "44A300"])
    def test_bad_region_part(self, region: str) -> None:
        code = make_uscc("91" + region + "192203821")
        err = raises_invalid(validate_uscc, code, "invalid_uscc")
        assert region in err.message

    def test_wrong_check_char_names_the_right_one(self) -> None:
        err = raises_invalid(validate_uscc, "914403001922038217", "invalid_uscc")
        assert "校验码错误（应为 6）" in err.message

    def test_rural_collective_code_accepted(self) -> None:
        # 农村集体经济组织 are registered by 农业农村 departments with authority "N".
        assert is_valid_uscc(make_uscc("N2440106" + make_org_code("MA5G1234")))


class TestOrgCodeCheckChar:
    @pytest.mark.parametrize("code", REAL_USCCS)
    def test_real_codes_embedded_in_credit_codes(self, code: str) -> None:
        org = code[8:17]
        assert org_code_check_char(org[:8]) == org[8]

    def test_rejects_bad_body(self) -> None:
        with pytest.raises(ValueError, match="first8"):
            org_code_check_char("1922038")


class TestMakeUsccFrom:
    @given(
        st.sampled_from("159Y"),
        st.sampled_from("123"),
        st.sampled_from(["440100", "440106", "441900", "100000"]),
        st.text(DIGITS + "ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8),
    )
    def test_parts_land_in_place_and_validate(
        self, authority: str, kind: str, region: str, body: str
    ) -> None:
        org = make_org_code(body)
        code = make_uscc_from(authority, kind, region, org)
        assert validate_uscc(code) == code
        assert (code[0], code[1], code[2:8], code[8:17]) == (authority, kind, region, org)

    def test_rejects_bad_parts(self) -> None:
        with pytest.raises(ValueError, match="region_code"):
            make_uscc_from("9", "1", "4401", "192203821")


class TestValidateRegionCode:
    @pytest.mark.parametrize(
        "code", ["440000", "440100", "440106", "441900", "441900003", "442000001", "440106001", "429004"]
    )
    def test_accepts_real_shapes(self, code: str) -> None:
        assert validate_region_code(code) == code

    def test_strips_spaces(self) -> None:
        assert validate_region_code(" 440300 ") == "440300"

    @pytest.mark.parametrize("code", ["44010", "4401060", "4401060011", "44010a", "", "４４0000"])
    def test_format(self, code: str) -> None:
        err = raises_invalid(validate_region_code, code, "invalid_region_code")
        assert "6位或9位数字" in err.message

    @given(st.text(DIGITS, min_size=2, max_size=2).filter(lambda p: p not in PROVINCE_CODES))
    def test_unknown_province_rejected(self, province: str) -> None:
        err = raises_invalid(validate_region_code, province + "0000", "invalid_region_code")
        assert province in err.message

    def test_all_zero_rejected(self) -> None:
        raises_invalid(validate_region_code, "000000", "invalid_region_code")

    @pytest.mark.parametrize("code", ["440006", "440000001", "441900000"])
    def test_structure(self, code: str) -> None:
        err = raises_invalid(validate_region_code, code, "invalid_region_code")
        assert code in err.message

    def test_known_codes(self) -> None:
        known = {"440000", "440100", "440106"}
        assert validate_region_code("440106", known) == "440106"
        err = raises_invalid(lambda v: validate_region_code(v, known=known), "440107", "invalid_region_code")
        assert err.message == "行政区划代码 440107 不存在"


class TestValidateMobile:
    @pytest.mark.parametrize(
        "raw",
        [
            "13800138000",
            "138 0013 8000",
            "138-0013-8000",
            "+86 138-0013-8000",
            "8613800138000",
            "0086 13800138000",
        ],
    )
    def test_normalises(self, raw: str) -> None:
        assert validate_mobile(raw) == "13800138000"

    @given(
        st.sampled_from("3456789"),
        st.text(DIGITS, min_size=9, max_size=9),
        st.sampled_from(["", "+86", "86"]),
    )
    def test_generated_numbers_pass(self, second: str, rest: str, prefix: str) -> None:
        number = "1" + second + rest
        assert validate_mobile(prefix + number) == number

    @pytest.mark.parametrize(
        "raw",
        ["12800138000", "1380013800", "138001380001", "23800138000", "1380013800a", "+8712800138000", ""],
    )
    def test_rejects(self, raw: str) -> None:
        err = raises_invalid(validate_mobile, raw, "invalid_mobile")
        assert "手机号码" in err.message


class TestValidateEmail:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("zhang.san@gd.gov.cn", "zhang.san@gd.gov.cn"),
            ("Zhang.San@GD.GOV.CN", "Zhang.San@gd.gov.cn"),
            (" a+tag@example.com ", "a+tag@example.com"),
            ("o'brien@mail-1.example.org", "o'brien@mail-1.example.org"),
            ("admin@例子.中国", "admin@例子.中国"),
        ],
    )
    def test_accepts_and_lowercases_domain_only(self, raw: str, expected: str) -> None:
        assert validate_email(raw) == expected

    @pytest.mark.parametrize(
        "raw",
        [
            "no-at.example.com",
            "@example.com",
            "someone@",
            "a@b@example.com",
            ".lead@example.com",
            "trail.@example.com",
            "dou..ble@example.com",
            "sp ace@example.com",
            "张三@example.com",
            "a@localhost",
            "a@-bad.example.com",
            "a@bad-.example.com",
            "a@exa_mple.com",
            "a@example..com",
            "a@192.168.0.1",
            '"quoted"@example.com',
        ],
    )
    def test_rejects(self, raw: str) -> None:
        err = raises_invalid(validate_email, raw, "invalid_email")
        assert "电子邮箱" in err.message

    def test_length_limits(self) -> None:
        assert is_valid_email("a" * 64 + "@example.com")
        assert not is_valid_email("a" * 65 + "@example.com")
        domain = ".".join(["b" * 60] * 4) + ".cn"  # 247 characters
        assert is_valid_email("abcde@" + domain)  # 253
        err = raises_invalid(validate_email, "abcdefghi@" + domain, "invalid_email")  # 257
        assert "254" in err.message


class TestBooleanTwins:
    @pytest.mark.parametrize(
        ("predicate", "validator", "good", "bad"),
        [
            (is_valid_id_number, validate_id_number, "11010519491231002X", "110105194912310021"),
            (is_valid_uscc, validate_uscc, REAL_USCCS[0], "914403001922038217"),
            (is_valid_region_code, validate_region_code, "440106", "990106"),
            (is_valid_mobile, validate_mobile, "13800138000", "12800138000"),
            (is_valid_email, validate_email, "a@gd.gov.cn", "a@gd"),
        ],
    )
    def test_mirror_the_validator(
        self, predicate: Callable[[object], bool], validator: Callable[[str], object], good: str, bad: str
    ) -> None:
        validator(good)
        assert predicate(good) is True
        with pytest.raises(InvalidInput):
            validator(bad)
        assert predicate(bad) is False
        assert predicate(None) is False
        assert predicate.__name__ == "is_valid_" + validator.__name__.removeprefix("validate_")
