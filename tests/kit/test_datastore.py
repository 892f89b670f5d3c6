"""The datastore: field specs, readers, conversion, all-or-nothing loads, pages (both databases)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yiwang.kit import datastore as ds
from yiwang.kit.datastore import FieldSpec, LoadRejected
from yiwang.kit.errors import InvalidInput, NotFound
from yiwang.kit.validators import make_id_number, make_org_code, make_uscc_from
from yiwang.runtime import Platform

PEOPLE = [
    FieldSpec(name="name", title="姓名", pi="name", required=True),
    FieldSpec(name="id_number", title="身份证号码", format="id_number", pi="id_number", key=True),
    FieldSpec(name="phone", title="手机号码", format="phone", pi="phone"),
    FieldSpec(name="region_code", title="行政区划", format="region_code"),
    FieldSpec(name="birth", title="出生日期", type="date"),
    FieldSpec(name="amount", title="金额", type="number"),
    FieldSpec(name="flag", title="在册", type="boolean"),
]


def person_id(n: int) -> str:
    return make_id_number("440106", date(1980 + n % 30, 1 + n % 12, 1 + n % 28), n % 1000)


def people_csv(rows: int, *, header: str = "title", bad: dict[int, str] | None = None) -> str:
    heads = [f.title if header == "title" else f.name for f in PEOPLE]
    lines = [",".join(heads)]
    for n in range(1, rows + 1):
        # n // 1000 varies the birth date so that every key is distinct.
        number = make_id_number("440106", date(1950 + n // 1000 % 50, 1 + n % 12, 1 + n % 28), n % 1000)
        number = (bad or {}).get(n, number)
        lines.append(f"张{n},{number},13800138{n % 1000:03d},440106,1990-01-0{1 + n % 9},{n}.5,是")
    return "\n".join(lines) + "\n"


def stream(text: str, encoding: str = "utf-8") -> io.BytesIO:
    return io.BytesIO(text.encode(encoding))


def make_xlsx(rows: list[list[Any]]) -> bytes:
    """A minimal XLSX (inline strings and numbers), written by hand: no writer library needed."""

    def cell(value: Any) -> str:
        if isinstance(value, bool):
            return f'<c t="b"><v>{int(value)}</v></c>'
        if isinstance(value, int | float):
            return f"<c><v>{value}</v></c>"
        return f'<c t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'

    sheet = "".join(f"<row>{''.join(cell(v) for v in row)}</row>" for row in rows)
    ooxml = "http://schemas.openxmlformats.org"
    ctype = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    rels = f"{ooxml}/officeDocument/2006/relationships"
    main = f"{ooxml}/spreadsheetml/2006/main"
    rel = rels
    pkg = f"{ooxml}/package/2006/relationships"
    files = {
        "[Content_Types].xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{ooxml}/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'  # noqa: E501
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{ctype}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{ctype}.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{pkg}">'
            f'<Relationship Id="rId1" Type="{rels}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{rel}">'
            '<sheets><sheet name="数据" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{pkg}">'
            f'<Relationship Id="rId1" Type="{rels}/worksheet" Target="worksheets/sheet1.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{main}">'
            f"<sheetData>{sheet}</sheetData></worksheet>"
        ),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return out.getvalue()


def one(field: FieldSpec, value: Any) -> Any:
    """Convert a single value through validate_rows; raise the reason when it is refused."""
    rows, errors = ds.validate_rows([{field.name: value}], [field])
    if errors:
        raise AssertionError(errors[0]["reason"])
    return rows[0][field.name] if rows else None


def reason(field: FieldSpec, value: Any) -> str:
    rows, errors = ds.validate_rows([{field.name: value}], [field])
    assert not rows, rows
    assert errors
    return str(errors[0]["reason"])


class TestFieldSpec:
    @pytest.mark.parametrize("name", ["Name", "1a", "a-b", "", "a" * 64, "姓名"])
    def test_bad_names_are_refused(self, name: str) -> None:
        with pytest.raises(InvalidInput, match="信息项名称"):
            FieldSpec(name=name, title="x")

    def test_bad_type_format_pi_are_refused(self) -> None:
        with pytest.raises(InvalidInput, match="类型"):
            FieldSpec(name="a", type="money")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="格式"):
            FieldSpec(name="a", format="zip")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="个人信息"):
            FieldSpec(name="a", pi="face")  # type: ignore[arg-type]

    def test_key_is_required_and_empty_format_is_none(self) -> None:
        spec = FieldSpec(name="a", title="甲", key=True, format="")  # type: ignore[arg-type]
        assert spec.required
        assert spec.format is None


class TestConversions:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2024-01-05", date(2024, 1, 5)),
            ("2024/1/5", date(2024, 1, 5)),
            ("2024.1.5", date(2024, 1, 5)),
            ("2024年1月5日", date(2024, 1, 5)),
            ("2024年12月31", date(2024, 12, 31)),
            ("20240105", date(2024, 1, 5)),
            (" 2024-01-05 00:00:00 ", date(2024, 1, 5)),
            (date(2024, 1, 5), date(2024, 1, 5)),
            (datetime(2024, 1, 5), date(2024, 1, 5)),
        ],
    )
    def test_dates(self, text: Any, expected: date) -> None:
        assert one(FieldSpec(name="d", type="date"), text) == expected

    @pytest.mark.parametrize(
        "text", ["2024-02-30", "2024年13月1日", "昨天", "05/01/2024", "2024-01-05 10:00"]
    )
    def test_bad_dates(self, text: str) -> None:
        assert "日期" in reason(FieldSpec(name="d", type="date"), text)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2024-01-05T08:30:00", datetime(2024, 1, 5, 8, 30)),
            ("2024-01-05 08:30", datetime(2024, 1, 5, 8, 30)),
            ("2024-01-05T00:30:00Z", datetime(2024, 1, 5, 8, 30)),  # converted to 北京时间
            ("2024-01-05T08:30:00+08:00", datetime(2024, 1, 5, 8, 30)),
            ("2024/1/5 8:30:15", datetime(2024, 1, 5, 8, 30, 15)),
            ("2024年1月5日 8:30", datetime(2024, 1, 5, 8, 30)),
            (date(2024, 1, 5), datetime(2024, 1, 5)),
        ],
    )
    def test_datetimes(self, text: Any, expected: datetime) -> None:
        assert one(FieldSpec(name="t", type="datetime"), text) == expected

    def test_bad_datetime(self) -> None:
        assert "日期时间" in reason(FieldSpec(name="t", type="datetime"), "下午三点")

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("42", 42), ("-7", -7), ("+3", 3), ("12.0", 12), (5, 5), (6.0, 6), (" 9 ", 9)],
    )
    def test_integers(self, text: Any, expected: int) -> None:
        assert one(FieldSpec(name="i", type="integer"), text) == expected

    @pytest.mark.parametrize("text", ["1.5", "1_000", "一", "١٢", "9" * 20, True, 2.5])
    def test_bad_integers(self, text: Any) -> None:
        assert "整数" in reason(FieldSpec(name="i", type="integer"), text)

    @pytest.mark.parametrize(("text", "expected"), [("1.25", 1.25), ("-3", -3.0), ("1e3", 1000.0), (7, 7.0)])
    def test_numbers(self, text: Any, expected: float) -> None:
        assert one(FieldSpec(name="x", type="number"), text) == expected

    @pytest.mark.parametrize("text", ["nan", "inf", "1_0", "abc", "１２", False])
    def test_bad_numbers(self, text: Any) -> None:
        assert "数值" in reason(FieldSpec(name="x", type="number"), text)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("是", True),
            ("否", False),
            ("TRUE", True),
            ("false", False),
            ("1", True),
            ("0", False),
            (True, True),
        ],
    )
    def test_booleans(self, text: Any, expected: bool) -> None:
        assert one(FieldSpec(name="b", type="boolean"), text) is expected

    def test_bad_boolean(self) -> None:
        assert "是/否" in reason(FieldSpec(name="b", type="boolean"), "也许")

    def test_strings_are_stripped_and_empty_is_missing(self) -> None:
        spec = FieldSpec(name="s")
        assert one(spec, "  广州  ") == "广州"
        assert one(spec, 13800138000.0) == "13800138000"  # a spreadsheet's number cell
        rows, errors = ds.validate_rows([{"s": "   ", "t": "x"}], [spec, FieldSpec(name="t")])
        assert rows == [{"s": None, "t": "x"}]
        assert not errors

    def test_required(self) -> None:
        fields = [FieldSpec(name="s", required=True), FieldSpec(name="t")]
        _rows, errors = ds.validate_rows([{"s": "  ", "t": "x"}], fields)
        assert [(e["row"], e["field"], e["reason"]) for e in errors] == [(1, "s", "必填项为空")]

    def test_formats_use_the_backbone_validators(self) -> None:
        uscc = make_uscc_from("9", "1", "440106", make_org_code("MA5C1234"))
        assert one(FieldSpec(name="c", format="uscc"), uscc.lower()) == uscc
        assert "统一社会信用代码" in reason(FieldSpec(name="c", format="uscc"), uscc[:-1] + "0")
        assert one(FieldSpec(name="p", format="phone"), "+86 138-0013-8000") == "13800138000"
        assert "手机" in reason(FieldSpec(name="p", format="phone"), "12345")
        assert one(FieldSpec(name="r", format="region_code"), "440106") == "440106"
        assert "行政区划" in reason(FieldSpec(name="r", format="region_code"), "990000")
        assert one(FieldSpec(name="e", format="email"), "a.b@Example.CN") == "a.b@example.cn"
        number = person_id(5)
        assert one(FieldSpec(name="n", format="id_number"), number[:-1] + number[-1].lower()) == number

    @pytest.mark.parametrize(
        ("mutate", "expected"),
        [
            (lambda n: n[:-1] + ("0" if n[-1] != "0" else "1"), "校验码"),
            (lambda n: n[:10] + "13" + n[12:], "出生日期"),
            (lambda n: "99" + n[2:], "地区码"),
            (lambda n: n[:17], "长度"),
        ],
    )
    def test_bad_id_numbers_never_echo_the_birth_date(self, mutate: Any, expected: str) -> None:
        bad = mutate(person_id(3))
        text = reason(FieldSpec(name="n", format="id_number", pi="id_number"), bad)
        assert expected in text
        assert bad[6:14] not in text


class TestReadRows:
    def test_csv_with_names_titles_bom_and_gb18030(self) -> None:
        by_name = people_csv(3, header="name")
        by_title = people_csv(3)
        for source in (
            stream(by_name),
            stream("\ufeff" + by_title),
            stream(by_title, "gb18030"),
        ):
            rows, errors = ds.validate_rows(ds.read_rows(source, "csv", PEOPLE), PEOPLE)
            assert not errors
            assert [r["name"] for r in rows] == ["张1", "张2", "张3"]

    def test_gb18030_beyond_gbk(self) -> None:
        fields = [FieldSpec(name="name", title="姓名")]
        text = "姓名\n𠀀先生\n"  # a CJK Extension B character: GB18030 four-byte sequence
        assert list(ds.read_rows(stream(text, "gb18030"), "csv", fields)) == [{"name": "𠀀先生"}]

    def test_unknown_columns_are_named(self) -> None:
        with pytest.raises(InvalidInput, match="未知的列：籍贯、备注") as caught:
            ds.read_rows(stream("姓名,身份证号码,籍贯,备注\n"), "csv", PEOPLE)
        assert caught.value.details == {"unknown_columns": ["籍贯", "备注"]}

    def test_missing_required_columns(self) -> None:
        with pytest.raises(InvalidInput, match="缺少必填的列：身份证号码") as caught:
            ds.read_rows(stream("姓名,手机号码\n张三,13800138000\n"), "csv", PEOPLE)
        assert caught.value.details == {"missing_columns": ["id_number"]}

    def test_optional_columns_may_be_absent_and_order_is_free(self) -> None:
        number = person_id(1)
        text = f"身份证号码,姓名\n{number},李四\n"
        rows, errors = ds.validate_rows(ds.read_rows(stream(text), "csv", PEOPLE), PEOPLE)
        assert not errors
        assert rows[0]["id_number"] == number
        assert rows[0]["phone"] is None

    def test_xlsx(self) -> None:
        data = make_xlsx(
            [
                ["姓名", "身份证号码", "手机号码", "金额", "在册"],
                ["王五", person_id(2), 13800138000, 12.5, True],
                [],
                ["赵六", person_id(3), "13900139000", 3, False],
            ]
        )
        rows, errors = ds.validate_rows(ds.read_rows(io.BytesIO(data), "xlsx", PEOPLE), PEOPLE)
        assert not errors
        assert [(r["name"], r["phone"], r["amount"], r["flag"]) for r in rows] == [
            ("王五", "13800138000", 12.5, True),
            ("赵六", "13900139000", 3.0, False),
        ]

    def test_xlsx_row_numbers_count_blank_rows(self) -> None:
        data = make_xlsx([["姓名", "身份证号码"], ["王五", person_id(2)], [], ["赵六", "123"]])
        _rows, errors = ds.validate_rows(ds.read_rows(io.BytesIO(data), "xlsx", PEOPLE), PEOPLE)
        assert [(e["row"], e["field"]) for e in errors] == [(3, "id_number")]

    def test_json_array_and_lines(self) -> None:
        records = [{"姓名": "王五", "身份证号码": person_id(4)}, {"name": "赵六", "id_number": person_id(5)}]
        array = json.dumps(records, ensure_ascii=False)
        lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in records)
        for text in (array, lines):
            rows, errors = ds.validate_rows(ds.read_rows(stream(text), "json", PEOPLE), PEOPLE)
            assert not errors
            assert [r["name"] for r in rows] == ["王五", "赵六"]

    def test_json_unknown_key_is_a_row_error(self) -> None:
        text = json.dumps([{"name": "王五", "id_number": person_id(4), "籍贯": "广州"}], ensure_ascii=False)
        _rows, errors = ds.validate_rows(ds.read_rows(stream(text), "json", PEOPLE), PEOPLE)
        assert errors[0]["row"] == 1
        assert "籍贯" in errors[0]["reason"]

    def test_bad_json(self) -> None:
        with pytest.raises(InvalidInput, match="JSON"):
            list(ds.read_rows(stream("[{"), "json", PEOPLE))

    def test_file_path(self, tmp_path: Path) -> None:
        path = tmp_path / "people.csv"
        path.write_text(people_csv(2), encoding="utf-8")
        assert len(list(ds.read_rows(path, "csv", PEOPLE))) == 2


class TestValidateRows:
    def test_errors_name_row_field_title_and_mask_personal_values(self) -> None:
        bad_number = person_id(7)[:-1] + ("0" if person_id(7)[-1] != "0" else "1")
        text = people_csv(3, bad={2: bad_number}).replace("13800138003", "1380013800X")
        _rows, errors = ds.validate_rows(ds.read_rows(stream(text), "csv", PEOPLE), PEOPLE)
        assert [(e["row"], e["field"], e["title"]) for e in errors] == [
            (2, "id_number", "身份证号码"),
            (3, "phone", "手机号码"),
        ]
        shown = errors[0]["value"]
        assert shown != bad_number
        assert bad_number[6:14] not in shown
        assert errors[1]["value"] != "1380013800X"

    def test_duplicate_keys_in_the_file(self) -> None:
        number = person_id(1)
        rows = [{"name": "甲", "id_number": number}, {"name": "乙", "id_number": number}]
        _good, errors = ds.validate_rows(rows, PEOPLE)
        assert len(errors) == 1
        assert errors[0]["row"] == 2
        assert "第1行重复" in errors[0]["reason"]

    def test_error_list_is_capped_with_the_true_total(self) -> None:
        rows = [{"name": "甲", "id_number": "bad"} for _ in range(1500)]
        _good, errors = ds.validate_rows(rows, PEOPLE)
        assert len(errors) == 1000
        assert errors.total == 1500
        assert errors[-1]["row"] == 1000

    def test_a_row_wider_than_the_header(self) -> None:
        text = f"姓名,身份证号码\n张三,{person_id(1)},多余\n"
        _rows, errors = ds.validate_rows(ds.read_rows(stream(text), "csv", PEOPLE), PEOPLE)
        assert errors[0]["row"] == 1
        assert "多于表头" in errors[0]["reason"]

    def test_a_short_row_with_a_bad_cell_is_reported(self) -> None:
        # Every column present, the row shorter than the header: it used to raise ValueError.
        text = "".join(f"{f.title}," for f in PEOPLE)[:-1] + f"\n张三,{person_id(1)}\n,{person_id(2)}\n"
        stream_ = ds.read_rows(stream(text), "csv", PEOPLE)
        assert stream_.columns is not None
        validator = ds.RowValidator(PEOPLE, "sqlite")
        good = [r for chunk in validator.tuple_chunks(stream_.cells(), stream_.columns) for r in chunk]
        assert len(good) == 1
        assert [(e["row"], e["field"], e["reason"]) for e in validator.errors] == [(2, "name", "必填项为空")]


# ---------------------------------------------------------------- against the databases


def contents(platform: Platform, table: str, fields: list[FieldSpec]) -> list[dict[str, Any]]:
    with platform.session_scope(read_only=True) as db:
        rows = ds.read_page(db, table, fields, limit=10_000)
    return [{k: v for k, v in r.items() if k != "_row"} for r in rows]


class TestTables:
    def test_ensure_table_is_idempotent_and_refuses_other_columns(self, platform: Platform) -> None:
        with platform.session_scope() as db:
            assert ds.ensure_table(db, "people_v1", PEOPLE) == "ds_people_v1"
            assert ds.ensure_table(db, "ds_people_v1", PEOPLE) == "ds_people_v1"
        changed = [*PEOPLE[:-1], FieldSpec(name="flag", title="在册", type="integer")]
        with pytest.raises(ds.TableMismatch, match="新版本"), platform.session_scope() as db:
            ds.ensure_table(db, "people_v1", changed)
        with platform.session_scope() as db:
            assert ds.ensure_table(db, "people_v2", changed) == "ds_people_v2"
            ds.drop_table(db, "people_v1")
            ds.ensure_table(db, "people_v1", changed)  # gone, so it may be made anew

    def test_bad_table_name(self, platform: Platform) -> None:
        with pytest.raises(InvalidInput, match="数据表名"), platform.session_scope() as db:
            ds.ensure_table(db, "People; drop", PEOPLE)


class TestLoad:
    def test_bad_id_on_row_7001_loads_nothing(self, platform: Platform) -> None:
        with platform.session_scope() as db:
            ds.load(db, "people", PEOPLE, ds.read_rows(stream(people_csv(3)), "csv", PEOPLE))
        good = people_csv(10_000)
        original = good.splitlines()[7001].split(",")[1]
        bad = original[:-1] + ("0" if original[-1] != "0" else "1")
        text = people_csv(10_000, bad={7001: bad})
        with pytest.raises(LoadRejected) as caught, platform.session_scope() as db:
            ds.load(db, "people", PEOPLE, ds.read_rows(stream(text), "csv", PEOPLE), mode="replace")
        details = caught.value.details
        assert details["total"] == 1
        assert details["errors"] == [
            {
                "row": 7001,
                "field": "id_number",
                "title": "身份证号码",
                "value": details["errors"][0]["value"],
                "reason": "居民身份证号码校验码错误",
            }
        ]
        assert bad not in json.dumps(details, ensure_ascii=False)
        assert "第7001行「身份证号码」" in caught.value.message
        with platform.session_scope(read_only=True) as db:
            assert ds.count_rows(db, "people") == 3  # the replace was undone too

    def test_good_load_counts_and_hashes(self, platform: Platform) -> None:
        text = people_csv(50)
        with platform.session_scope() as db:
            first = ds.load(db, "people", PEOPLE, ds.read_rows(stream(text), "csv", PEOPLE))
        assert (first.count, first.inserted, first.updated) == (50, 50, 0)
        assert len(first.content_hash) == 64
        with platform.session_scope() as db:
            again = ds.load(db, "people", PEOPLE, ds.read_rows(stream(text, "gb18030"), "csv", PEOPLE))
            sm = ds.load(db, "people", PEOPLE, ds.read_rows(stream(text), "csv", PEOPLE), suite="sm")
        assert again.content_hash == first.content_hash  # the same data, whatever the encoding
        assert sm.content_hash != first.content_hash
        assert sm.hash_suite == "sm"
        assert again.deleted == 50

    def test_replace(self, platform: Platform) -> None:
        with platform.session_scope() as db:
            ds.load(db, "people", PEOPLE, ds.read_rows(stream(people_csv(5)), "csv", PEOPLE))
            ds.load(db, "people", PEOPLE, ds.read_rows(stream(people_csv(2)), "csv", PEOPLE), mode="replace")
        assert [r["name"] for r in contents(platform, "people", PEOPLE)] == ["张1", "张2"]

    def test_upsert_updates_by_key(self, platform: Platform) -> None:
        with platform.session_scope() as db:
            ds.load(db, "people", PEOPLE, ds.read_rows(stream(people_csv(3)), "csv", PEOPLE))
        changed = people_csv(4).replace("张2,", "张二,")
        with platform.session_scope() as db:
            result = ds.load(
                db, "people", PEOPLE, ds.read_rows(stream(changed), "csv", PEOPLE), mode="upsert"
            )
        assert (result.count, result.inserted, result.updated) == (4, 1, 3)
        assert [r["name"] for r in contents(platform, "people", PEOPLE)] == ["张1", "张二", "张3", "张4"]

    def test_upsert_needs_a_key(self, platform: Platform) -> None:
        fields = [FieldSpec(name="a", title="甲")]
        with pytest.raises(InvalidInput, match="upsert"), platform.session_scope() as db:
            ds.load(db, "nokey", fields, [{"a": "x"}], mode="upsert")

    def test_append_refuses_keys_already_stored(self, platform: Platform) -> None:
        with platform.session_scope() as db:
            ds.load(db, "people", PEOPLE, ds.read_rows(stream(people_csv(2)), "csv", PEOPLE))
        with pytest.raises(LoadRejected) as caught, platform.session_scope() as db:
            ds.load(db, "people", PEOPLE, ds.read_rows(stream(people_csv(3)), "csv", PEOPLE), mode="append")
        assert [e["row"] for e in caught.value.details["errors"]] == [1, 2]
        assert "已存在" in caught.value.details["errors"][0]["reason"]
        with platform.session_scope() as db:
            third = people_csv(3).splitlines()
            text = "\n".join([third[0], third[3]])
            result = ds.load(db, "people", PEOPLE, ds.read_rows(stream(text), "csv", PEOPLE), mode="append")
        assert result.inserted == 1
        assert len(contents(platform, "people", PEOPLE)) == 3

    def test_cap_of_1000_errors_keeps_the_total(self, platform: Platform) -> None:
        bad = {n: "44010619900101001" for n in range(1, 1201)}
        with pytest.raises(LoadRejected) as caught, platform.session_scope() as db:
            ds.load(db, "people", PEOPLE, ds.read_rows(stream(people_csv(1500, bad=bad)), "csv", PEOPLE))
        details = caught.value.details
        assert len(details["errors"]) == 1000
        assert details["total"] == 1200
        assert details["truncated"]

    def test_xlsx_and_json_load(self, platform: Platform) -> None:
        data = make_xlsx([["姓名", "身份证号码", "出生日期"], ["王五", person_id(2), "2001年2月3日"]])
        json_text = json.dumps([{"name": "赵六", "id_number": person_id(3), "birth": "2001/2/4"}])
        with platform.session_scope() as db:
            ds.load(db, "people", PEOPLE, ds.read_rows(io.BytesIO(data), "xlsx", PEOPLE))
            ds.load(db, "people", PEOPLE, ds.read_rows(stream(json_text), "json", PEOPLE), mode="append")
        stored = contents(platform, "people", PEOPLE)
        assert [(r["name"], r["birth"]) for r in stored] == [
            ("王五", date(2001, 2, 3)),
            ("赵六", date(2001, 2, 4)),
        ]

    def test_progress_is_reported(self, platform: Platform) -> None:
        seen: list[int] = []
        with platform.session_scope() as db:
            ds.load(
                db,
                "people",
                PEOPLE,
                ds.read_rows(stream(people_csv(25)), "csv", PEOPLE),
                progress=seen.append,
                chunk_size=10,
            )
        assert seen == [10, 20, 25]


class TestRead:
    def test_pages_filters_columns_and_count(self, platform: Platform) -> None:
        with platform.session_scope() as db:
            ds.load(db, "people", PEOPLE, ds.read_rows(stream(people_csv(30)), "csv", PEOPLE))
        with platform.session_scope(read_only=True) as db:
            first = ds.read_page(db, "people", PEOPLE, limit=10, columns=["name"])
            assert [set(r) for r in first[:1]] == [{"_row", "name"}]
            second = ds.read_page(db, "people", PEOPLE, limit=10, after_row=first[-1]["_row"])
            assert second[0]["name"] == "张11"
            assert len(second) == 10
            assert [r["name"] for r in ds.read_page(db, "people", PEOPLE, filters={"name": "张2*"})] == [
                "张2",
                *[f"张{n}" for n in range(20, 30)],
            ]
            assert ds.count_rows(db, "people", PEOPLE, filters={"birth": "1990/1/3"}) == 4
            assert ds.count_rows(db, "people", PEOPLE, filters={"name": "张_*"}) == 0  # _ is literal
            assert ds.count_rows(db, "people") == 30
            with pytest.raises(InvalidInput, match="未知的信息项"):
                ds.read_page(db, "people", PEOPLE, columns=["salary"])
            with pytest.raises(NotFound):
                ds.count_rows(db, "nothing_here")


ALL_TYPES = [
    FieldSpec(name="k", title="键", type="integer", key=True),
    FieldSpec(name="s", title="文本"),
    FieldSpec(name="n", title="数值", type="number"),
    FieldSpec(name="d", title="日期", type="date"),
    FieldSpec(name="t", title="时间", type="datetime"),
    FieldSpec(name="b", title="是否", type="boolean"),
]

_row = st.fixed_dictionaries(
    {
        "s": st.one_of(st.none(), st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=20)),
        "n": st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=64)),
        "d": st.one_of(st.none(), st.dates(min_value=date(1, 1, 1))),
        "t": st.one_of(st.none(), st.datetimes(min_value=datetime(1900, 1, 1))),
        "b": st.one_of(st.none(), st.booleans()),
    }
)


class TestRoundTrip:
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(rows=st.lists(_row, max_size=15))
    def test_rows_that_validate_load_and_read_back_equal(
        self, platform: Platform, rows: list[dict[str, Any]]
    ) -> None:
        keyed = [{"k": i, **row} for i, row in enumerate(rows)]
        good, errors = ds.validate_rows(keyed, ALL_TYPES)
        with platform.session_scope() as db:
            result = ds.load(db, "roundtrip", ALL_TYPES, keyed)
        assert not errors
        assert result.count == len(good)
        assert contents(platform, "roundtrip", ALL_TYPES) == good

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        rows=st.lists(_row, min_size=1, max_size=12),
        pick=st.integers(min_value=0),
        field=st.sampled_from("ksndtb"),
    )
    def test_filtered_pages_on_the_kept_read_connection_match_the_rows(
        self, platform: Platform, rows: list[dict[str, Any]], pick: int, field: str
    ) -> None:
        """The gateway's read path (a kept connection, the driver's cursor, SQLAlchemy's type
        processors) filters and types exactly like a plain look at the loaded rows."""
        keyed = [{"k": i, **row} for i, row in enumerate(rows)]
        good, _errors = ds.validate_rows(keyed, ALL_TYPES)
        with platform.session_scope() as db:
            ds.load(db, "filtered", ALL_TYPES, keyed)
        wanted = good[pick % len(good)][field]
        value = wanted.isoformat() if isinstance(wanted, date | datetime) else wanted
        if isinstance(value, str) and value.endswith("*"):  # text ending in * asks for a prefix
            expected = [r for r in good if isinstance(r[field], str) and r[field].startswith(value[:-1])]
        else:
            expected = [r for r in good if r[field] == wanted]
        for _ in range(2):  # the second time on the same kept connection and compiled statement
            with platform.db.read_connection() as conn:
                found = ds.read_page(conn, "filtered", ALL_TYPES, filters={field: value}, limit=100)
            assert [{k: v for k, v in r.items() if k != "_row"} for r in found] == expected


# ------------------------------------------------------------------ the column-wise fast path

COLUMN_FIELDS = [
    FieldSpec(name="s", title="文本"),
    FieldSpec(name="sr", title="必填文本", required=True),
    FieldSpec(name="i", title="整数", type="integer"),
    FieldSpec(name="ir", title="必填整数", type="integer", required=True),
    FieldSpec(name="n", title="数值", type="number"),
    FieldSpec(name="d", title="日期", type="date"),
    FieldSpec(name="t", title="时间", type="datetime"),
    FieldSpec(name="b", title="是否", type="boolean"),
    FieldSpec(name="id", title="身份证", format="id_number"),
    FieldSpec(name="p", title="手机", format="phone"),
    FieldSpec(name="r", title="区划", format="region_code", required=True),
    FieldSpec(name="u", title="信用代码", format="uscc"),
    FieldSpec(name="e", title="邮箱", format="email"),
    FieldSpec(name="ri", title="区划数", type="integer", format="region_code"),
]

# Cells people put in spreadsheets, good and bad: what each fast path must treat exactly as the
# cell-by-cell converter does.
_CELL_TEXTS = [
    "",
    " ",
    "  x ",
    "张三",
    "0",
    "7",
    "007",
    "+5",
    "-3",
    "1.0",
    "1.5",
    "1e3",
    "1e400",
    "nan",
    "inf",
    "1_000",
    "١٢",
    "９",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    ".5",
    "5.",
    "1,5",
    "2024-01-05",
    "2024/1/5",
    "2024年1月5日",
    "20240105",
    "2024-02-30",
    "2024-01-05 08:30",
    "2024-01-05T08:30:00+08:00",
    "是",
    "否",
    "true",
    "FALSE",
    "1",
    "y",
    "maybe",
    "440106",
    "440100",
    "999999",
    " 440106 ",
    person_id(1),
    person_id(2),
    person_id(3)[:-1] + "0",
    "13800138000",
    "12800138000",
    " 13912345678",
    make_uscc_from("9", "1", "440106", make_org_code("MA5C1234")),
    "91440300MA5DA1234X",
    "a@b.cn",
    "not-an-email",
]
_cell_text = st.one_of(st.sampled_from(_CELL_TEXTS), st.text(max_size=6))
_cell_any = st.one_of(
    _cell_text,
    st.none(),
    st.integers(-(2**64), 2**64),
    st.floats(),
    st.booleans(),
    st.dates(min_value=date(1900, 1, 1)),
)


class TestColumnConverters:
    """The column-wise converter gives exactly what the cell converter gives, or refuses (Slow)
    exactly when some cell is bad."""

    @pytest.mark.parametrize("field", COLUMN_FIELDS, ids=lambda f: f.name)
    @settings(max_examples=150, deadline=None)
    @given(
        cells=st.one_of(
            st.lists(_cell_text, min_size=1, max_size=12), st.lists(_cell_any, min_size=1, max_size=6)
        )
    )
    def test_same_as_cell_by_cell(self, field: FieldSpec, cells: list[Any]) -> None:
        for target in ("python", "sqlite", "postgresql"):
            cell = ds.convert.make_converter(field, target)
            column = ds.convert.make_column_converter(field, target)
            expected: list[Any] = []
            for value in cells:
                try:
                    expected.append(cell(value))
                except ds.convert.Bad:
                    with pytest.raises(ds.convert.Slow):
                        column(cells)
                    break
            else:
                assert column(cells) == expected
                assert [type(v) for v in column(cells)] == [type(v) for v in expected]

    @pytest.mark.parametrize("field", COLUMN_FIELDS, ids=lambda f: f.name)
    @settings(max_examples=60, deadline=None)
    @given(chunks=st.lists(st.lists(st.sampled_from(_CELL_TEXTS), min_size=1, max_size=40), max_size=5))
    def test_chunk_after_chunk(self, field: FieldSpec, chunks: list[list[str]]) -> None:
        # One column converter for a whole load: what it remembers from one chunk must not leak.
        cell = ds.convert.make_converter(field, "sqlite")
        column = ds.convert.make_column_converter(field, "sqlite")
        for cells in chunks:
            try:
                expected = [cell(v) for v in cells]
            except ds.convert.Bad:
                with pytest.raises(ds.convert.Slow):
                    column(cells)
            else:
                assert column(cells) == expected


_ROW_FIELDS = [
    FieldSpec(name="k", title="键", type="integer", key=True),
    FieldSpec(name="s", title="文本"),
    FieldSpec(name="d", title="日期", type="date"),
    FieldSpec(name="r", title="区划", format="region_code"),
]
_OPTIONAL_FIELDS = [FieldSpec(name="s", title="文本"), FieldSpec(name="n", title="数值", type="number")]
_small_cell = st.sampled_from(
    ["", " ", "1", "2", "3", "x", "2024-01-05", "2024-13-01", "440106", "440100", "9"]
)
_raw_row = st.one_of(
    st.lists(_small_cell, min_size=4, max_size=4),
    st.lists(_small_cell, max_size=6),  # ragged: short, long, empty
)


class TestTupleChunks:
    """Chunks converted column by column give the same rows, errors and row numbers as the row path."""

    @pytest.mark.parametrize(
        ("fields", "columns"),
        [
            (_ROW_FIELDS, ["k", "s", "d", "r"]),
            (_ROW_FIELDS, ["r", None, "k", "d"]),  # another order, a column ignored, one absent
            (_OPTIONAL_FIELDS, ["n", "s", None, None]),  # no required field: blank rows are possible
        ],
    )
    @settings(max_examples=120, deadline=None)
    @given(rows=st.lists(_raw_row, max_size=30), size=st.integers(1, 9), block=st.integers(1, 4))
    def test_same_as_row_by_row(
        self, fields: list[FieldSpec], columns: list[str | None], rows: list[list[str]], size: int, block: int
    ) -> None:
        by_row = ds.RowValidator(fields, "sqlite", max_errors=50)
        by_chunk = ds.RowValidator(fields, "sqlite", max_errors=50)
        expected = list(by_row.tuples(rows, columns))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ds.convert, "COLUMN_BLOCK", block)
            chunks = list(by_chunk.tuple_chunks(rows, columns, size))
        assert [row for chunk in chunks for row in chunk] == expected
        assert len(chunks) == -(-len(rows) // size)
        assert list(by_chunk.errors) == list(by_row.errors)
        assert by_chunk.errors.total == by_row.errors.total
        assert (by_chunk.rows_read, by_chunk.rows_ok) == (by_row.rows_read, by_row.rows_ok)

    def test_plain_chunks_take_the_column_path(self, monkeypatch: pytest.MonkeyPatch) -> None:
        validator = ds.RowValidator(PEOPLE, "sqlite")
        stream_ = ds.read_rows(stream(people_csv(30)), "csv", PEOPLE)
        monkeypatch.setattr(validator, "tuples", lambda *_a: pytest.fail("fell back to the row path"))
        assert stream_.columns is not None
        rows = [r for chunk in validator.tuple_chunks(stream_.cells(), stream_.columns, 10) for r in chunk]
        assert len(rows) == 30
        assert rows[0][0] == "张1"


class TestLoadIntoEmptyTables:
    """Loads into an empty SQLite table build its key index after the rows (and keep it on failure)."""

    @staticmethod
    def indexes(platform: Platform, table: str) -> list[str]:
        from sqlalchemy import inspect, text

        with platform.db.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                found = conn.execute(
                    text(
                        "SELECT name FROM sqlite_master "
                        "WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"
                    ),
                    {"t": table},
                )
                return sorted(str(name) for (name,) in found)
            return sorted(str(ix["name"]) for ix in inspect(conn).get_indexes(table))

    def test_the_key_index_is_there_after_every_kind_of_load(self, platform: Platform) -> None:
        with platform.session_scope() as db:
            ds.ensure_table(db, "people", PEOPLE)
        wanted = self.indexes(platform, "ds_people")
        assert wanted == ["ds_people_key"]
        for mode in ("replace", "append", "upsert"):
            with platform.session_scope() as db:
                ds.drop_table(db, "people")
                ds.load(db, "people", PEOPLE, ds.read_rows(stream(people_csv(250)), "csv", PEOPLE), mode=mode)
            assert self.indexes(platform, "ds_people") == wanted, mode
            assert [r["name"] for r in contents(platform, "people", PEOPLE)] == [
                f"张{n}" for n in range(1, 251)
            ]
        renamed = people_csv(260).replace("张", "李")
        with platform.session_scope() as db:  # the unique key holds: 100-row upserts update by it
            again = ds.load(db, "people", PEOPLE, ds.read_rows(stream(renamed), "csv", PEOPLE), mode="upsert")
        assert (again.inserted, again.updated) == (10, 250)
        assert [r["name"] for r in contents(platform, "people", PEOPLE)] == [f"李{n}" for n in range(1, 261)]

    def test_a_rejected_load_keeps_the_index(self, platform: Platform) -> None:
        with platform.session_scope() as db:
            ds.ensure_table(db, "people", PEOPLE)
        with pytest.raises(LoadRejected), platform.session_scope() as db:
            ds.load(db, "people", PEOPLE, ds.read_rows(stream(people_csv(20, bad={15: "x"})), "csv", PEOPLE))
        assert self.indexes(platform, "ds_people") == ["ds_people_key"]

    @pytest.mark.parametrize("chunk_size", [1, 99, 100, 101, 250])
    def test_statements_of_many_rows_and_the_rest(self, platform: Platform, chunk_size: int) -> None:
        with platform.session_scope() as db:
            result = ds.load(
                db,
                "people",
                PEOPLE,
                ds.read_rows(stream(people_csv(250)), "csv", PEOPLE),
                chunk_size=chunk_size,
            )
        assert result.count == 250
        assert [r["name"] for r in contents(platform, "people", PEOPLE)] == [f"张{n}" for n in range(1, 251)]
