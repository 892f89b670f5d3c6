"""The Chinese search index: analysis, queries, and the index on SQLite and PostgreSQL.

The index tests run on their own engines (a fresh SQLite file; a schema of their own on
PostgreSQL when ``YIWANG_TEST_DATABASE_URL`` is set), created with ``create_search_index``, so they
do not depend on the platform's migration history.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from yiwang.kit import search
from yiwang.kit.db import make_engine

PG_URL = os.environ.get("YIWANG_TEST_DATABASE_URL", "")
KIND = "resource"

# What people type, and what they paste by mistake: FTS5 and tsquery syntax, quotes, markup.
NASTY = [
    "",
    "   ",
    '"',
    '""',
    "'",
    "AND",
    "OR",
    "NOT",
    "NEAR",
    "a AND OR NOT b",
    "NEAR(a b, 3)",
    "* ^ : ( ) { } [ ]",
    "title:企业",
    "^企业",
    "企业*",
    '"企业" OR "登记"',
    "!!! &&& ||| :*",
    "-",
    "\\",
    "%_",
    "\x00",
    "<script>alert(1)</script>",
    "'); DROP TABLE search_document; --",
    "😀🎉",
    "ｑｙｄｊ",
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("YIWANG_TEST_DATABASE_URL not set: PostgreSQL run skipped")
        # A schema of this worker's own, so that parallel workers and the platform's migrated
        # schema never meet.
        schema = "search_test_" + re.sub(r"\W", "", os.environ.get("PYTEST_XDIST_WORKER", "main"))
        admin = make_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        eng = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    else:
        path: Path = tmp_path_factory.mktemp("search") / "search.db"
        eng = make_engine(f"sqlite:///{path}")
    with eng.begin() as conn:
        search.create_search_index(conn)
        CALLER_TABLES.create_all(conn)
    yield eng
    eng.dispose()
    if request.param == "postgresql":
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


# A caller's own table, to check that match_subquery composes with it (filters, counts, sorting).
CALLER_TABLES = MetaData()
resource_table = Table(
    "test_resource",
    CALLER_TABLES,
    Column("id", Integer, primary_key=True),
    Column("code", String(40), unique=True, nullable=False),
    Column("provider", String(40), nullable=False),
)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    db = sessionmaker(engine)()
    try:
        yield db
    finally:
        db.rollback()
        with engine.begin() as conn:
            search.clear_search_index(conn)
            conn.execute(resource_table.delete())
        db.close()


def add(session: Session, key: str, title: str, keywords: str = "", body: str = "", kind: str = KIND) -> None:
    search.index_document(session, kind, key, title=title, keywords=keywords, body=body)


def keys(session: Session, query: str, **kwargs: object) -> list[str]:
    return [hit.key for hit in search.search(session, KIND, query, **kwargs).hits]  # type: ignore[arg-type]


class TestAnalyze:
    def test_words_bigrams_and_last_character(self) -> None:
        tokens = search.analyze("证券代码")
        assert {"证券", "代码", "券代", "码"} <= set(tokens)

    def test_pinyin_of_words_and_of_the_run(self) -> None:
        tokens = set(search.analyze("企业登记基本信息"))
        assert {"qiye", "qy", "dengji", "dj", "qiyedengjijibenxinxi", "qydjjbxx", "djjbxx"} <= tokens

    def test_latin_lowercased_and_full_width_folded(self) -> None:
        assert search.analyze("ＧＤＰ Api_v2") == ["gdp", "api", "v2"]

    def test_without_pinyin(self) -> None:
        assert not any(t.isascii() for t in search.analyze("企业登记", pinyin=False))

    @given(st.text(max_size=80))
    def test_tokens_are_letters_and_digits_only(self, value: str) -> None:
        for token in search.analyze(value):
            assert token
            assert re.fullmatch(r"[^\W_]+", token), token


class TestParseQuery:
    def test_chinese_run_becomes_its_bigrams(self) -> None:
        parsed = search.parse_query("证券代码")
        assert [t.token for t in parsed.terms()] == ["证券", "券代", "代码"]

    def test_letters_are_prefix_terms_and_spaced_pinyin_is_joined(self) -> None:
        parsed = search.parse_query("qi ye")
        assert parsed.to_fts5() == '(("qi"* AND "ye"*) OR ("qiye"*))'

    def test_digits_are_exact(self) -> None:
        assert search.parse_query("2024").to_fts5() == '(("2024"))'

    def test_code_points_unassigned_in_a_chinese_block_are_no_words(self) -> None:
        # U+2CEA2 lies in CJK Extension E's block but is unknown to this Python: no letter, no token.
        assert search.parse_query("\U0002cea2").empty
        assert search.analyze("代码\U0002cea2", pinyin=False) == ["代码", "码"]

    @pytest.mark.parametrize("query", ["", "   ", '"', "* ^ : ( )", "!!! &&& :*", "\x00", "😀"])
    def test_nothing_to_search_is_empty(self, query: str) -> None:
        assert search.parse_query(query).empty

    @given(st.text(max_size=300))
    def test_expressions_hold_only_quoted_tokens(self, query: str) -> None:
        parsed = search.parse_query(query)
        assert len(parsed.units) <= search.MAX_QUERY_UNITS
        fts = re.sub(r'"[^\W_]+"\*?', "T", parsed.to_fts5()).replace(" AND ", "").replace(" OR ", "")
        assert re.fullmatch(r"[T()]*", fts), fts
        ts = re.sub(r"'[^\W_]+'(:\*)?", "T", parsed.to_tsquery()).replace(" & ", "").replace(" | ", "")
        assert re.fullmatch(r"[T()]*", ts), ts


class TestSearch:
    def test_word_inside_a_longer_word(self, session: Session) -> None:
        add(session, "r1", "证券代码对照表")
        add(session, "r2", "空气质量监测数据")
        assert keys(session, "代码") == ["r1"]
        assert keys(session, "质量") == ["r2"]
        assert keys(session, "测数") == ["r2"]  # no word at all, only a bigram

    def test_single_character_anywhere(self, session: Session) -> None:
        add(session, "r1", "个人所得税")
        add(session, "r2", "税务登记")
        add(session, "r3", "企业登记")
        assert sorted(keys(session, "税")) == ["r1", "r2"]

    @pytest.mark.parametrize("query", ["qydj", "QYDJ", "qiyedengji", "qi ye deng ji", "dengji", "dj", "qiye"])
    def test_pinyin_and_initials(self, session: Session, query: str) -> None:
        add(session, "r1", "企业登记基本信息")
        add(session, "r2", "空气质量监测数据")
        assert keys(session, query) == ["r1"]

    def test_pinyin_initials_of_a_later_word_on(self, session: Session) -> None:
        add(session, "r1", "企业登记基本信息")
        assert keys(session, "djjb") == ["r1"]
        assert keys(session, "kqzl") == []

    def test_field_titles_in_the_body_are_found(self, session: Session) -> None:
        add(session, "r1", "企业登记基本信息", body="统一社会信用代码 法定代表人 注册资本")
        add(session, "r2", "学校名录", body="学校名称 办学层次")
        assert keys(session, "法定代表人") == ["r1"]
        assert keys(session, "信用代码") == ["r1"]

    def test_latin_and_digits(self, session: Session) -> None:
        add(session, "r1", "GDP 统计 2024 年", keywords="API")
        assert keys(session, "gdp") == ["r1"]
        assert keys(session, "api") == ["r1"]
        assert keys(session, "2024") == ["r1"]
        assert keys(session, "202") == []  # numbers match whole

    def test_name_hit_ranks_above_keyword_above_body(self, session: Session) -> None:
        add(session, "body", "学校名录", body="收录社保参保人员的学校")
        add(session, "name", "社保参保信息", body="参保单位 参保人数")
        add(session, "keywords", "人员名单", keywords="社保参保")
        assert keys(session, "社保参保") == ["name", "keywords", "body"]
        scores = [hit.score for hit in search.search(session, KIND, "社保参保").hits]
        assert scores == sorted(scores, reverse=True)
        assert scores[-1] > 0

    def test_update_replaces_the_old_text(self, session: Session) -> None:
        add(session, "r1", "公交线路")
        add(session, "r1", "学校名录")
        assert keys(session, "公交") == []
        assert keys(session, "学校") == ["r1"]
        assert search.search(session, KIND, "学校").total == 1

    def test_removal(self, session: Session) -> None:
        add(session, "r1", "公交线路")
        add(session, "r2", "公交站点")
        search.remove_document(session, KIND, "r1")
        search.remove_document(session, KIND, "missing")  # no error
        assert keys(session, "公交") == ["r2"]

    def test_every_query_unit_must_match(self, session: Session) -> None:
        add(session, "r1", "广州市公交线路")
        add(session, "r2", "深圳市公交线路")
        add(session, "r3", "广州市学校名录")
        assert keys(session, "广州 公交") == ["r1"]
        assert keys(session, "广州 地铁") == []

    def test_kinds_are_separate(self, session: Session) -> None:
        add(session, "r1", "公交线路")
        add(session, "r1", "公交线路", kind="service")
        assert keys(session, "公交") == ["r1"]
        search.remove_document(session, "service", "r1")
        assert keys(session, "公交") == ["r1"]

    def test_paging_and_allowed_keys(self, session: Session) -> None:
        for i in range(5):
            add(session, f"r{i}", f"不动产登记信息 第{i}批")
        result = search.search(session, KIND, "不动产", limit=2, offset=1)
        assert result.total == 5
        assert len(result.hits) == 2
        allowed = select(resource_table.c.code).where(resource_table.c.provider == "amr")
        session.execute(
            insert(resource_table), [{"code": "r1", "provider": "amr"}, {"code": "r3", "provider": "x"}]
        )
        result = search.search(session, KIND, "不动产", allowed_keys=allowed)
        assert (result.total, [h.key for h in result.hits]) == (1, ["r1"])

    def test_match_subquery_joins_the_callers_tables(self, session: Session) -> None:
        session.execute(
            insert(resource_table),
            [{"code": f"r{i}", "provider": "amr" if i % 2 else "hrss"} for i in range(6)],
        )
        for i in range(6):
            add(session, f"r{i}", "社保参保信息" if i < 4 else "公交线路")
        hits = search.match_subquery(session, KIND, "参保").subquery()
        facets = session.execute(
            select(resource_table.c.provider, func.count())
            .join(hits, hits.c.key == resource_table.c.code)
            .group_by(resource_table.c.provider)
            .order_by(resource_table.c.provider)
        ).all()
        assert [tuple(row) for row in facets] == [("amr", 2), ("hrss", 2)]
        # two match subqueries in one statement keep their own parameters
        other = search.match_subquery(session, KIND, "公交").subquery()
        both = session.execute(
            select(func.count())
            .select_from(resource_table)
            .where(
                resource_table.c.code.in_(select(hits.c.key)) | resource_table.c.code.in_(select(other.c.key))
            )
        ).scalar_one()
        assert both == 6

    def test_the_index_follows_the_transaction(self, session: Session) -> None:
        add(session, "r1", "公交线路")
        session.commit()
        add(session, "r2", "公交站点")
        search.remove_document(session, KIND, "r1")
        session.rollback()
        assert keys(session, "公交") == ["r1"]

    @pytest.mark.parametrize("query", NASTY)
    def test_garbage_queries_give_no_error(self, session: Session, query: str) -> None:
        add(session, "r1", "企业登记基本信息", keywords="AND OR NOT NEAR")
        result = search.search(session, KIND, query)
        assert result.total == len(result.hits)
        if search.parse_query(query).empty:
            assert result.total == 0

    def test_operator_words_are_plain_words(self, session: Session) -> None:
        add(session, "r1", "企业登记", keywords="and near")
        add(session, "r2", "学校名录")
        assert keys(session, "AND") == ["r1"]
        assert keys(session, "NEAR(企业 登记)") == ["r1"]
        assert keys(session, "学校 OR 企业") == []  # OR is a word here, not an operator

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(query=st.text(max_size=120))
    def test_any_query_never_raises(self, session: Session, query: str) -> None:
        if not keys(session, "企业"):
            add(session, "r1", "企业登记基本信息", body="统一社会信用代码")
        search.search(session, KIND, query, limit=5)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(title=st.text(max_size=60))
    def test_any_title_can_be_indexed_and_found_by_itself(self, session: Session, title: str) -> None:
        add(session, "any", title)
        if not search.parse_query(title).empty:
            assert "any" in keys(session, title, limit=100)


class TestHighlight:
    def test_escapes_markup_and_marks_hits(self) -> None:
        out = search.highlight("<script>alert('证券代码')</script>", "代码")
        assert out == "&lt;script&gt;alert(&#x27;证券<mark>代码</mark>&#x27;)&lt;/script&gt;"

    def test_marks_whole_query_runs_and_latin_prefixes(self) -> None:
        assert (
            search.highlight("企业登记 Dataset", "企业登记 data")
            == "<mark>企业登记</mark> <mark>Dataset</mark>"
        )

    def test_marks_what_pinyin_stands_for(self) -> None:
        assert search.highlight("企业登记基本信息", "qydj") == "<mark>企业登记</mark>基本信息"
        assert search.highlight("企业登记基本信息", "jiben") == "企业登记<mark>基本</mark>信息"

    def test_no_match_is_just_escaped(self) -> None:
        assert search.highlight("a < b", "学校") == "a &lt; b"
        assert search.highlight("a < b", "") == "a &lt; b"

    @given(value=st.text(max_size=80), query=st.text(max_size=20))
    def test_unmarking_gives_back_the_text(self, value: str, query: str) -> None:
        out = search.highlight(value, query)
        assert "<" not in out.replace("<mark>", "").replace("</mark>", "")
        assert html.unescape(out.replace("<mark>", "").replace("</mark>", "")) == value


class TestMatchingIds:
    def _keys(self, session: Session, ids: list[int], kind: str = KIND) -> list[str]:
        known = dict(search.document_ids(session, kind))
        return sorted(known[i] for i in ids if i in known)

    @pytest.mark.parametrize("query", ["公交", "登记", "qydj", "广州 公交", "学", "gdp", "zzz", "", '"'])
    def test_the_documents_match_subquery_finds(self, session: Session, query: str) -> None:
        add(session, "r1", "广州市公交线路", keywords="交通")
        add(session, "r2", "企业登记基本信息", body="统一社会信用代码")
        add(session, "r3", "学校名录", keywords="GDP 教育", body="学校名称")
        add(session, "r4", "不动产登记", body="广州 公交")
        add(session, "s1", "公交站点", kind="service")
        matched = search.match_subquery(session, KIND, query).subquery()
        expected = sorted(k for (k,) in session.execute(select(matched.c.key)))
        assert self._keys(session, search.matching_ids(session, query)) == expected

    def test_fields_restrict_the_match(self, session: Session) -> None:
        add(session, "body", "学校名录", body="收录社保参保人员的学校")
        add(session, "name", "社保参保信息", body="参保单位")
        add(session, "keywords", "人员名单", keywords="社保参保")
        parsed = search.parse_query("社保参保")
        assert self._keys(session, search.matching_ids(session, parsed, fields=("title",))) == ["name"]
        both = search.matching_ids(session, parsed, fields=("title", "keywords"))
        assert self._keys(session, both) == ["keywords", "name"]
        assert self._keys(session, search.matching_ids(session, parsed, fields=("body",))) == ["body"]
        assert self._keys(session, search.matching_ids(session, parsed)) == ["body", "keywords", "name"]

    def test_every_unit_must_match_within_the_fields(self, session: Session) -> None:
        add(session, "split", "广州市学校", keywords="公交")
        add(session, "together", "广州市公交线路")
        ids = search.matching_ids(session, "广州 公交", fields=("title",))
        assert self._keys(session, ids) == ["together"]

    def test_ids_of_other_kinds_are_told_apart(self, session: Session) -> None:
        add(session, "r1", "公交线路")
        add(session, "s1", "公交站点", kind="service")
        ids = search.matching_ids(session, "公交")
        assert len(ids) == 2
        assert self._keys(session, ids) == ["r1"]
        assert self._keys(session, ids, "service") == ["s1"]

    def test_unknown_fields_are_refused(self, session: Session) -> None:
        with pytest.raises(ValueError, match="fields"):
            search.matching_ids(session, "公交", fields=("summary",))

    def test_a_query_is_parsed_once(self) -> None:
        assert search.parse_query("企业登记 qydj") is search.parse_query("企业登记 qydj")


def reference_highlight(text_: str, query: str) -> str:
    """The highlighter as it was before it was made fast (per-term scans, per-character folding):
    the fast one must give exactly the same output."""
    import unicodedata

    parsed = search.parse_query(query)
    if parsed.empty or not text_:
        return html.escape(text_)
    normalised = "".join(
        folded if len(folded := unicodedata.normalize("NFKC", ch).lower()) == 1 else ch.lower()[:1] or ch
        for ch in text_
    )
    marked = [False] * len(text_)
    runs = list(search._RUN.finditer(normalised))
    for term in set(parsed.terms()):
        if search._HAN_RUN.fullmatch(term.token):
            for found in re.finditer(re.escape(term.token), normalised):
                marked[found.start() : found.end()] = [True] * (found.end() - found.start())
            continue
        letters = bool(search._ASCII_LETTERS.fullmatch(term.token))
        for run in runs:
            value = run.group()
            if search._HAN_RUN.fullmatch(value):
                if letters and len(term.token) > 1:
                    for a, b in search._pinyin_spans(value, run.start(), term):
                        marked[a:b] = [True] * (b - a)
            elif value == term.token or (term.prefix and value.startswith(term.token)):
                marked[run.start() : run.end()] = [True] * (run.end() - run.start())
    out: list[str] = []
    i = 0
    while i < len(text_):
        j = i
        while j < len(text_) and marked[j] == marked[i]:
            j += 1
        piece = html.escape(text_[i:j])
        out.append(f"<mark>{piece}</mark>" if marked[i] else piece)
        i = j
    return "".join(out)


CHINESE_AND_PINYIN = st.text(
    alphabet=st.sampled_from(list("企业登记基本信息证券代码社保参保哈哈 abcdjqyxQYDJ2024Σσİ<&ＡＢ\u0301")),
    max_size=40,
)


class TestHighlightIsTheSameAsBefore:
    @given(value=CHINESE_AND_PINYIN, query=CHINESE_AND_PINYIN)
    def test_on_likely_text(self, value: str, query: str) -> None:
        assert search.highlight(value, query) == reference_highlight(value, query)

    @given(value=st.text(max_size=80), query=st.text(max_size=20))
    def test_on_any_text(self, value: str, query: str) -> None:
        assert search.highlight(value, query) == reference_highlight(value, query)
