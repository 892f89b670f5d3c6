"""Chinese full-text search kept in the main database.

Why here and not in a search server: the index lives in the same database and
the same transaction as the rows it describes, so it is never out of step with
them (a rolled-back change leaves no trace in the index), it works unchanged
under several API workers, and the embedded deployment needs nothing to run.

How it works:

* **Analysis** (:func:`analyze`) turns text into space-separated tokens that the
  database indexes as they are: jieba words (search mode), overlapping character
  bigrams of every run of Chinese characters (so ``代码`` finds ``证券代码``), the
  last character of each run (so one-character queries find every occurrence by
  prefix), lowercased latin/digit words, and pinyin: the full pinyin and the
  initials of each word and of the run from each word on (so ``qydj`` and
  ``qiyedengji`` find ``企业登记基本信息`` by prefix).
* **Queries** (:func:`parse_query`) are analysed the same way into units that
  must all match (AND): each Chinese run becomes its bigrams, a single Chinese
  character becomes a prefix term, latin words become prefix terms (a word of
  letters is also pinyin), digits match exactly. Nothing the user types reaches
  the database's query syntax: only analysed tokens, quoted, do.
* **Storage**: SQLite keeps the analysed text of each document in
  ``search_document`` and an FTS5 table (``search_fts``, external content, kept
  in step by triggers) over its three weighted columns, ranked by ``bm25`` with
  column weights. PostgreSQL keeps a ``tsvector`` (weights A/B/C) in
  ``search_document`` with a GIN index, ranked by ``ts_rank_cd``. On both the
  score is "higher is better".
* **Composition**: facets, filters and sorting live in the caller's tables, so
  :func:`match_subquery` returns a ``(key, score)`` selectable to JOIN with them;
  :func:`search` is the simple form of the same. That costs a join (and a ranking) per match:
  fine for hundreds of matches, 1-2 µs each for tens of thousands. A caller that must answer
  broad queries over a large kind fast keeps its own view of its documents by id
  (:func:`document_ids`) and asks only which ids match (:func:`matching_ids`, optionally within
  some fields, which gives field-weighted relevance): the catalog answers searches over 100,000
  resources that way.
* **Query work is cached**: :func:`parse_query` and the highlighter's plan per query are
  memoised, the segmenter is loaded once, pinyin is memoised per word, and highlighting folds
  text with one ``str.translate``.

The tables are created by a migration calling :func:`create_search_index`.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    bindparam,
    cast,
    column,
    false,
    func,
    literal_column,
    select,
    table,
    text,
    type_coerce,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import Float, String, Text, UserDefinedType

__all__ = [
    "Hit",
    "ParsedQuery",
    "SearchResult",
    "Term",
    "analyze",
    "clear_search_index",
    "create_search_index",
    "document_ids",
    "drop_search_index",
    "highlight",
    "index_document",
    "match_subquery",
    "matching_ids",
    "optimize_search_index",
    "parse_query",
    "remove_document",
    "search",
]

# Column weights: a hit in the name counts far more than one in the keywords, which counts more
# than one in the body (summary, field titles, provider name, category).
TITLE_WEIGHT, KEYWORDS_WEIGHT, BODY_WEIGHT = 10.0, 4.0, 1.0
# ts_rank_cd weights in PostgreSQL's order {D, C, B, A}; body is C, keywords B, title A.
PG_WEIGHTS = "{0.05, 0.1, 0.4, 1.0}"

FIELDS = ("title", "keywords", "body")  # the indexed fields, by falling weight
_PG_FIELD_WEIGHTS = {"title": "A", "keywords": "B", "body": "C"}

MAX_QUERY_CHARS = 200  # longer queries are cut: nobody types more, and FTS5 limits expression depth
MAX_QUERY_UNITS = 24
MAX_TOKEN_CHARS = 64
MAX_FULL_PINYIN = 40  # run-level pinyin tokens are cut: prefix matching needs only their start
MAX_INITIALS = 16

# CJK ideographs: the basic block, extensions A-G and the compatibility blocks, as far as Python's
# Unicode database knows them (unknown code points are neither letters nor indexed).
_HAN_BLOCKS: tuple[tuple[int, int], ...] = (
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x2EBE0),
    (0x2F800, 0x2FA1F),
    (0x30000, 0x3134A),
)


def _assigned(blocks: Iterable[tuple[int, int]]) -> str:
    """A regex character class body of the code points in ``blocks`` that this Python's Unicode
    database knows as letters: unassigned ones inside the blocks are neither words nor indexed."""
    ranges: list[str] = []
    for low, high in blocks:
        start = None
        for code in range(low, high + 2):
            known = code <= high and chr(code).isalnum()
            if known and start is None:
                start = code
            elif not known and start is not None:
                ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(code - 1))}")
                start = None
    return "".join(ranges)


_HAN = _assigned(_HAN_BLOCKS)
_RUN = re.compile(rf"[{_HAN}]+|[^\W_{_HAN}]+")
_HAN_RUN = re.compile(rf"[{_HAN}]+")
_ASCII_LETTERS = re.compile(r"[a-z]+")


# ---------------------------------------------------------------------------------------------
# Analysis
# ---------------------------------------------------------------------------------------------


@cache
def _jieba() -> Any:
    """The segmenter, loaded once per process on first use (loading its dictionary takes time)."""
    import rjieba

    return rjieba


def _no_pinyin(chars: str) -> Any:
    return [""] * len(chars)  # one empty syllable per character without pinyin


@lru_cache(maxsize=200_000)
def _word_pinyin(word: str) -> tuple[str, ...]:
    """Toneless pinyin syllables of ``word``, one per character ('' where a character has none)."""
    from pypinyin import lazy_pinyin

    syllables = lazy_pinyin(word, errors=_no_pinyin)
    if len(syllables) != len(word):  # defensive: keep one syllable per character
        syllables = [(lazy_pinyin(ch, errors=_no_pinyin) or [""])[0] for ch in word]
    return tuple(s if s.isascii() and s.isalpha() else "" for s in syllables)


def _normalise(text_: str) -> str:
    """Full-width to half-width, compatibility forms folded, lowercased."""
    return unicodedata.normalize("NFKC", text_).lower()


def _runs(normalised: str) -> Iterator[tuple[bool, str]]:
    """(is_han, run) for each run of Chinese characters or of other letters/digits."""
    for match in _RUN.finditer(normalised):
        run = match.group()
        yield bool(_HAN_RUN.fullmatch(run)), run


def _han_tokens(run: str, *, pinyin: bool) -> list[str]:
    # Bigrams find every word and every piece of one (代码 in 证券代码) whatever jieba makes of the
    # text; the run's last character lets a one-character query find it by prefix anywhere. Words
    # themselves add nothing to what bigrams match, so jieba only gives pinyin its word boundaries.
    tokens = [run[i : i + 2] for i in range(len(run) - 1)]
    tokens.append(run[-1])
    if not pinyin:
        return tokens
    jieba = _jieba()
    for word in jieba.cut_for_search(run, False):
        if len(word) > 1:
            syllables = _word_pinyin(word)
            tokens.append("".join(syllables))  # the word's full pinyin: dengji
            tokens.append("".join(s[:1] for s in syllables))  # its initials: dj
    run_syllables: list[str] = []
    starts: list[int] = []
    for word in jieba.cut(run, False):
        starts.append(len(run_syllables))
        run_syllables.extend(_word_pinyin(word))
    for start in starts:  # the run from each word on: qiyedengji..., qydjjbxx, djjbxx ...
        tokens.append("".join(run_syllables[start:])[:MAX_FULL_PINYIN])
        tokens.append("".join(s[:1] for s in run_syllables[start:])[:MAX_INITIALS])
    return tokens


def analyze(text_: str, *, pinyin: bool = True) -> list[str]:
    """The distinct index tokens of ``text_``, in order of appearance: the overlapping bigrams of
    each run of Chinese characters and the run's last character, lowercased latin/digit words, and
    (with ``pinyin``) the full pinyin and initials of each jieba word (search mode) and of each
    run from every word on. Tokens contain only letters and digits."""
    tokens: list[str] = []
    for is_han, run in _runs(_normalise(text_)):
        if is_han:
            tokens.extend(_han_tokens(run, pinyin=pinyin))
        else:
            tokens.append(run[:MAX_TOKEN_CHARS])
    return [t for t in dict.fromkeys(tokens) if t]


def _check_fields(fields: Sequence[str]) -> Sequence[str]:
    unknown = [f for f in fields if f not in FIELDS]
    if unknown or not fields:
        raise ValueError(f"fields must be some of {FIELDS}, not {list(fields)}")
    return fields


@dataclass(frozen=True)
class Term:
    """One token to look up; ``prefix`` matches every token starting with it."""

    token: str
    prefix: bool = False


@dataclass(frozen=True)
class ParsedQuery:
    """A query as index terms: every unit must match (AND); a unit matches when any of its
    alternatives does (OR); an alternative matches when all its terms do (AND)."""

    units: tuple[tuple[tuple[Term, ...], ...], ...]

    @property
    def empty(self) -> bool:
        return not self.units

    def terms(self) -> Iterator[Term]:
        for unit in self.units:
            for alternative in unit:
                yield from alternative

    def to_fts5(self, fields: Sequence[str] | None = None) -> str:
        """The FTS5 MATCH expression; every token is quoted, so no operator can slip in. With
        ``fields`` (of :data:`FIELDS`) the whole query must match within those columns."""

        def term(t: Term) -> str:
            return '"' + t.token.replace('"', '""') + '"' + ("*" if t.prefix else "")

        expression = " AND ".join(
            "(" + " OR ".join("(" + " AND ".join(map(term, alt)) + ")" for alt in unit) + ")"
            for unit in self.units
        )
        if fields is None:
            return expression
        return "{" + " ".join(_check_fields(fields)) + "} : (" + expression + ")"

    def to_tsquery(self, fields: Sequence[str] | None = None) -> str:
        """The PostgreSQL ``tsquery`` literal (cast, not parsed by a text search configuration).
        With ``fields`` every term must match with those fields' weights."""
        weights = "".join(_PG_FIELD_WEIGHTS[f] for f in _check_fields(fields)) if fields is not None else ""

        def term(t: Term) -> str:
            if t.prefix:
                return _pg_quote(t.token) + ":*" + weights
            return _pg_quote(t.token) + (":" + weights if weights else "")

        return " & ".join(
            "(" + " | ".join("(" + " & ".join(map(term, alt)) + ")" for alt in unit) + ")"
            for unit in self.units
        )


@lru_cache(maxsize=4096)
def parse_query(query: str) -> ParsedQuery:
    """Analyse a user's query into :class:`ParsedQuery` units, all of which must match.

    Chinese runs give their overlapping bigrams (a one-character run is a prefix term, which finds
    the character anywhere); words of letters are prefix terms (so ``qydj`` matches pinyin initials
    and ``data`` matches ``dataset``) and consecutive ones may also be one pinyin string typed with
    spaces (``qi ye`` ~ ``qiye``); words with digits match exactly. Operators, quotes and
    punctuation are dropped, so any text gives a valid query; one with no letters, digits or
    Chinese characters gives an empty query, which matches nothing. Results are cached (a page
    parses the same query for its search and for every highlight); they are immutable.
    """
    units: list[tuple[tuple[Term, ...], ...]] = []
    letters: list[str] = []

    def flush_letters() -> None:
        if not letters:
            return
        if len(letters) == 1:
            units.append(((Term(letters[0], prefix=True),),))
        else:
            together = tuple(Term(w, prefix=True) for w in letters)
            joined = "".join(letters)[:MAX_TOKEN_CHARS]
            units.append((together, (Term(joined, prefix=True),)))
        letters.clear()

    for is_han, run in _runs(_normalise(query[:MAX_QUERY_CHARS])):
        if is_han:
            flush_letters()
            if len(run) == 1:
                units.append(((Term(run, prefix=True),),))
            else:
                units.extend(((Term(run[i : i + 2]),),) for i in range(len(run) - 1))
        elif _ASCII_LETTERS.fullmatch(run):
            letters.append(run[:MAX_TOKEN_CHARS])
            if len(letters) >= 4:
                flush_letters()
        else:
            flush_letters()
            units.append(((Term(run[:MAX_TOKEN_CHARS]),),))
    flush_letters()
    unique = list(dict.fromkeys(units))
    return ParsedQuery(tuple(unique[:MAX_QUERY_UNITS]))


# ---------------------------------------------------------------------------------------------
# Storage: DDL
# ---------------------------------------------------------------------------------------------

_SQLITE_DDL = [
    """CREATE TABLE search_document (
        id INTEGER PRIMARY KEY,
        kind VARCHAR(40) NOT NULL,
        key VARCHAR(200) NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        keywords TEXT NOT NULL DEFAULT '',
        body TEXT NOT NULL DEFAULT '',
        CONSTRAINT uq_search_document_kind_key UNIQUE (kind, key)
    )""",
    # External content: the analysed text is stored once, in search_document. No prefix indexes:
    # measured on 100,000 documents they grew the index by 25-50% and sped no query kind up.
    """CREATE VIRTUAL TABLE search_fts USING fts5(
        title, keywords, body,
        content='search_document', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER search_document_ai AFTER INSERT ON search_document BEGIN
        INSERT INTO search_fts(rowid, title, keywords, body)
        VALUES (new.id, new.title, new.keywords, new.body);
    END""",
    """CREATE TRIGGER search_document_ad AFTER DELETE ON search_document BEGIN
        INSERT INTO search_fts(search_fts, rowid, title, keywords, body)
        VALUES ('delete', old.id, old.title, old.keywords, old.body);
    END""",
    """CREATE TRIGGER search_document_au AFTER UPDATE ON search_document BEGIN
        INSERT INTO search_fts(search_fts, rowid, title, keywords, body)
        VALUES ('delete', old.id, old.title, old.keywords, old.body);
        INSERT INTO search_fts(rowid, title, keywords, body)
        VALUES (new.id, new.title, new.keywords, new.body);
    END""",
]

_POSTGRES_DDL = [
    """CREATE TABLE search_document (
        id BIGSERIAL PRIMARY KEY,
        kind VARCHAR(40) NOT NULL,
        key VARCHAR(200) NOT NULL,
        tsv TSVECTOR NOT NULL,
        CONSTRAINT uq_search_document_kind_key UNIQUE (kind, key)
    )""",
    "CREATE INDEX ix_search_document_tsv ON search_document USING GIN (tsv)",
]


def _dialect(bind: Session | Connection | Engine) -> str:
    if isinstance(bind, Session):
        return bind.get_bind().dialect.name
    return bind.dialect.name


def create_search_index(connection: Connection) -> None:
    """Create the search tables for the connection's database (call it from a migration)."""
    statements = _SQLITE_DDL if _dialect(connection) == "sqlite" else _POSTGRES_DDL
    for statement in statements:
        connection.exec_driver_sql(statement)


def drop_search_index(connection: Connection) -> None:
    """Drop the search tables (a migration's downgrade)."""
    if _dialect(connection) == "sqlite":
        connection.exec_driver_sql("DROP TABLE IF EXISTS search_fts")
    connection.exec_driver_sql("DROP TABLE IF EXISTS search_document")


def clear_search_index(connection: Connection, kind: str | None = None) -> None:
    """Remove every document (of ``kind``, or all): before a full reindex, or between tests."""
    if kind is None:
        if _dialect(connection) == "sqlite":
            connection.exec_driver_sql("DELETE FROM search_document")
            connection.exec_driver_sql("INSERT INTO search_fts(search_fts) VALUES ('delete-all')")
        else:
            connection.exec_driver_sql("TRUNCATE search_document RESTART IDENTITY")
        return
    connection.execute(text("DELETE FROM search_document WHERE kind = :kind"), {"kind": kind})


def optimize_search_index(connection: Connection) -> None:
    """Merge the index into one segment (SQLite FTS5) or refresh statistics (PostgreSQL): after a
    bulk (re)index, for the fastest queries. Safe to run at any time."""
    if _dialect(connection) == "sqlite":
        connection.exec_driver_sql("INSERT INTO search_fts(search_fts) VALUES ('optimize')")
    else:
        connection.exec_driver_sql("ANALYZE search_document")


# ---------------------------------------------------------------------------------------------
# Storage: writing
# ---------------------------------------------------------------------------------------------


class _TSVector(UserDefinedType[str]):
    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "TSVECTOR"


class _TSQuery(UserDefinedType[str]):
    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "TSQUERY"


_document = table(
    "search_document",
    column("id"),
    column("kind", String),
    column("key", String),
    column("title", Text),
    column("keywords", Text),
    column("body", Text),
    column("tsv", _TSVector()),
)
_fts = table("search_fts", column("rowid"))


def _pg_quote(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def _tsvector_literal(fields: Iterable[tuple[list[str], str]]) -> str:
    """A ``tsvector`` literal with positions and weights, built from already analysed tokens (no
    text search parser involved, so tokens are indexed exactly as analysed on any locale)."""
    positions: dict[str, list[str]] = {}
    position = 0
    for tokens, weight in fields:
        for token in tokens:
            position = min(position + 1, 16383)
            entries = positions.setdefault(token, [])
            if len(entries) < 256:
                entries.append(f"{position}{weight}")
        position = min(position + 10, 16383)  # a gap: no cover spans two fields
    return " ".join(f"{_pg_quote(token)}:{','.join(p)}" for token, p in positions.items())


def index_document(session: Session, kind: str, key: str, *, title: str, keywords: str, body: str) -> None:
    """Index (or re-index, replacing the old text) document ``key`` of ``kind``.

    ``title`` is the name (weighted highest), ``keywords`` the keywords and themes, ``body`` the
    rest (summary, field titles, provider name, category). Runs in the session's transaction: the
    change is visible to searches exactly when the caller's change is.
    """
    title_tokens = analyze(title)
    keyword_tokens = analyze(keywords)
    # No pinyin for the body: people type pinyin for names and keywords, and the pinyin of long
    # summaries would triple the index and make short initials match almost everything.
    body_tokens = analyze(body, pinyin=False)
    if _dialect(session) == "sqlite":
        session.execute(
            text(
                "INSERT INTO search_document (kind, key, title, keywords, body) "
                "VALUES (:kind, :key, :title, :keywords, :body) "
                "ON CONFLICT (kind, key) DO UPDATE SET "
                "title = excluded.title, keywords = excluded.keywords, body = excluded.body"
            ),
            {
                "kind": kind,
                "key": key,
                "title": " ".join(title_tokens),
                "keywords": " ".join(keyword_tokens),
                "body": " ".join(body_tokens),
            },
        )
        return
    tsv = _tsvector_literal([(title_tokens, "A"), (keyword_tokens, "B"), (body_tokens, "C")])
    session.execute(
        text(
            "INSERT INTO search_document (kind, key, tsv) VALUES (:kind, :key, CAST(:tsv AS tsvector)) "
            "ON CONFLICT (kind, key) DO UPDATE SET tsv = excluded.tsv"
        ),
        {"kind": kind, "key": key, "tsv": tsv},
    )


def remove_document(session: Session, kind: str, key: str) -> None:
    """Remove document ``key`` of ``kind`` from the index; nothing happens when it is not there."""
    session.execute(
        text("DELETE FROM search_document WHERE kind = :kind AND key = :key"), {"kind": kind, "key": key}
    )


# ---------------------------------------------------------------------------------------------
# Querying
# ---------------------------------------------------------------------------------------------


def match_subquery(bind: Session | Connection | Engine, kind: str, query: str | ParsedQuery) -> Select[Any]:
    """A selectable of ``(key, score)`` for the documents of ``kind`` matching ``query``.

    ``score`` is higher for better matches (a hit in the title outranks one in the body). JOIN it
    with your own tables to filter, count facets and sort::

        hits = match_subquery(session, "resource", q).subquery()
        select(Resource, hits.c.score).join(hits, hits.c.key == Resource.code)
            .order_by(hits.c.score.desc())

    A query with nothing to search for gives an empty selectable (no error).
    """
    parsed = query if isinstance(query, ParsedQuery) else parse_query(query)
    doc = _document
    if _dialect(bind) == "sqlite":
        bm25 = func.bm25(literal_column("search_fts"), TITLE_WEIGHT, KEYWORDS_WEIGHT, BODY_WEIGHT)
        score = type_coerce(-bm25, Float).label("score")
        stmt = select(doc.c.key.label("key"), score).select_from(_fts.join(doc, doc.c.id == _fts.c.rowid))
        if parsed.empty:
            return stmt.where(false())
        return stmt.where(
            literal_column("search_fts").op("MATCH")(
                bindparam("fts_query", parsed.to_fts5(), String, unique=True)
            ),
            # The unary + keeps SQLite from driving the join by the (kind, key) index and running
            # the full-text query once per document of the kind: the MATCH must be the outer loop.
            literal_column("+search_document.kind", String) == kind,
        )
    if parsed.empty:
        return select(doc.c.key.label("key"), type_coerce(0.0, Float).label("score")).where(false())
    tsquery = cast(bindparam("ts_query", parsed.to_tsquery(), String, unique=True), _TSQuery())
    rank = func.ts_rank_cd(literal_column(f"'{PG_WEIGHTS}'::float4[]"), doc.c.tsv, tsquery)
    return select(doc.c.key.label("key"), type_coerce(rank, Float).label("score")).where(
        doc.c.kind == kind, doc.c.tsv.op("@@")(tsquery)
    )


def matching_ids(
    bind: Session | Connection, query: str | ParsedQuery, *, fields: Sequence[str] | None = None
) -> list[int]:
    """The ids of the indexed documents, of every kind, that match ``query`` (within ``fields``,
    some of :data:`FIELDS`, when given), in no particular order.

    For callers that keep their own view of their documents by id (see :func:`document_ids`) and
    filter, count and sort there: no join and no ranking, so it stays cheap for tens of thousands
    of matches. Ids of other kinds are among them; drop the ids you do not know. A query with
    nothing to search for matches nothing.
    """
    parsed = query if isinstance(query, ParsedQuery) else parse_query(query)
    if parsed.empty:
        return []
    if _dialect(bind) == "sqlite":
        # One text value instead of a row per match, parsed by the JSON decoder: a fifth of the cost
        # of fetching tens of thousands of rows.
        joined = bind.execute(
            text("SELECT group_concat(rowid) FROM search_fts WHERE search_fts MATCH :q"),
            {"q": parsed.to_fts5(fields)},
        ).scalar()
        return list(json.loads("[" + joined + "]")) if joined else []
    ids = bind.execute(
        text("SELECT array_agg(id) FROM search_document WHERE tsv @@ CAST(:q AS tsquery)"),
        {"q": parsed.to_tsquery(fields)},
    ).scalar()
    return list(ids or [])


def document_ids(bind: Session | Connection, kind: str) -> list[tuple[int, str]]:
    """``(id, key)`` of every indexed document of ``kind``: the ids :func:`matching_ids` returns."""
    rows = bind.execute(text("SELECT id, key FROM search_document WHERE kind = :kind"), {"kind": kind}).all()
    return [(int(i), str(k)) for i, k in rows]


@dataclass(frozen=True)
class Hit:
    """One matching document and its relevance (higher is better)."""

    key: str
    score: float


@dataclass(frozen=True)
class SearchResult:
    """How many documents match in all, and the requested page of them, best first."""

    total: int
    hits: list[Hit]


def search(
    session: Session,
    kind: str,
    query: str,
    *,
    limit: int = 20,
    offset: int = 0,
    allowed_keys: Select[Any] | None = None,
) -> SearchResult:
    """Documents of ``kind`` matching ``query``, best first; ``allowed_keys`` (a selectable of one
    key column) restricts them, e.g. to what the caller may see."""
    matches = match_subquery(session, kind, query).subquery()
    stmt = select(matches.c.key, matches.c.score)
    if allowed_keys is not None:
        stmt = stmt.where(matches.c.key.in_(allowed_keys))
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(
        stmt.order_by(matches.c.score.desc(), matches.c.key).limit(limit).offset(offset)
    ).all()
    return SearchResult(total=int(total), hits=[Hit(str(key), float(score)) for key, score in rows])


# ---------------------------------------------------------------------------------------------
# Highlighting
# ---------------------------------------------------------------------------------------------


class _Folds(dict[int, str]):
    """Code point → its one-character fold (NFKC, lowercased), computed once per character: the
    table ``str.translate`` uses to normalise text for highlighting at C speed."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        folded = unicodedata.normalize("NFKC", ch).lower()
        value = folded if len(folded) == 1 else ch.lower()[:1] or ch
        if len(self) >= 65_536:  # bounded, whatever text comes in
            self.clear()
        self[code] = value
        return value


_FOLDS = _Folds()


def _normalised_chars(text_: str) -> str:
    """``text_`` normalised character by character, keeping one character per original one so that
    positions found in the result are positions in ``text_``."""
    return text_.translate(_FOLDS)


def _pinyin_spans(run: str, start: int, term: Term) -> Iterator[tuple[int, int]]:
    """Spans of a Chinese run whose pinyin (full or initials) starts with ``term`` at some
    character: ``qydj`` marks 企业登记 in 企业登记基本信息."""
    syllables = _word_pinyin(run)
    token = term.token
    for i in range(len(run)):
        if not syllables[i] or syllables[i][0] != token[0]:
            continue
        initials = "".join(s[:1] for s in syllables[i:])
        if len(token) > 1 and initials.startswith(token):
            yield start + i, start + i + len(token)
            continue
        consumed, j = 0, i
        while j < len(run) and consumed < len(token):
            syllable = syllables[j]
            if not syllable:
                break
            piece = token[consumed : consumed + len(syllable)]
            if not syllable.startswith(piece):
                break
            consumed += len(piece)
            j += 1
        if consumed == len(token):
            yield start + i, start + j


@dataclass(frozen=True)
class _Highlighter:
    """What :func:`highlight` looks for, prepared once per query."""

    han: tuple[re.Pattern[str], ...]  # each Chinese token: every (non-overlapping) occurrence
    words: tuple[Term, ...]  # other tokens: a latin/digit run equal to them (or starting so)
    pinyin: tuple[Term, ...]  # words of two letters or more: Chinese whose pinyin they stand for


@lru_cache(maxsize=1024)
def _highlighter(parsed: ParsedQuery) -> _Highlighter:
    terms = sorted(set(parsed.terms()), key=lambda t: (t.token, t.prefix))
    han = [t for t in terms if _HAN_RUN.fullmatch(t.token)]
    words = [t for t in terms if not _HAN_RUN.fullmatch(t.token)]
    return _Highlighter(
        han=tuple(re.compile(re.escape(token)) for token in dict.fromkeys(t.token for t in han)),
        words=tuple(words),
        pinyin=tuple(t for t in words if len(t.token) > 1 and _ASCII_LETTERS.fullmatch(t.token)),
    )


_MARKED = re.compile(rb"\x01+|\x00+")


def highlight(text_: str, query: str | ParsedQuery) -> str:
    """``text_`` HTML-escaped, with ``<mark>…</mark>`` around what ``query`` matched: Chinese
    words and bigrams, latin words (by prefix) and the characters a pinyin query stands for."""
    parsed = query if isinstance(query, ParsedQuery) else parse_query(query)
    if parsed.empty or not text_:
        return html.escape(text_)
    plan = _highlighter(parsed)
    normalised = _normalised_chars(text_)
    marked = bytearray(len(text_))
    for pattern in plan.han:
        for found in pattern.finditer(normalised):
            marked[found.start() : found.end()] = b"\x01" * (found.end() - found.start())
    if plan.words:
        for run in _RUN.finditer(normalised):
            value = run.group()
            if _HAN_RUN.match(value):  # a run is all Chinese or has none
                for term in plan.pinyin:
                    for a, b in _pinyin_spans(value, run.start(), term):
                        marked[a:b] = b"\x01" * (b - a)
                continue
            for term in plan.words:
                if value == term.token or (term.prefix and value.startswith(term.token)):
                    marked[run.start() : run.end()] = b"\x01" * (run.end() - run.start())
                    break
    if 1 not in marked:
        return html.escape(text_)
    out: list[str] = []
    for piece in _MARKED.finditer(marked):
        escaped = html.escape(text_[piece.start() : piece.end()])
        out.append(f"<mark>{escaped}</mark>" if marked[piece.start()] else escaped)
    return "".join(out)
