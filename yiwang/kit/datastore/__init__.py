"""The datastore: typed tables for data resources, loaded with validation, all-or-nothing.

A data resource's fields (:class:`FieldSpec`: name, Chinese title, type, format, personal-
information kind, key, required) define a table ``ds_<name>`` created at runtime
(:func:`ensure_table`; not by Alembic: resources come and go while the platform runs).
A change of fields is a new table: the caller puts a version in the name
(``ds_<resource>_v<version>``) and :func:`ensure_table` refuses an existing table whose
columns differ.

Loading: :func:`read_rows` opens CSV (UTF-8 with or without BOM, or GB18030), XLSX or JSON
(an array of objects or JSON lines) and maps header cells given as field names or as
Chinese titles; :func:`load` validates every row (types, formats with the backbone's
validators, required fields, keys repeated in the file) and inserts in the caller's
transaction, all-or-nothing: any bad row raises :class:`LoadRejected` with the first
1,000 errors ``{row, field, title, value, reason}`` (personal values masked) and the true
total, and nothing changes.

Row numbers: row 1 is the first data row after the header (line 2 of a spreadsheet or a
CSV without multi-line cells); for JSON, the n-th object or line. Blank rows are skipped
but counted, so numbers always match the file.

Value conventions: text is stripped; empty text is a missing value; dates accept
``2024-01-05``, ``2024/1/5``, ``2024.1.5``, ``2024年1月5日`` and ``20240105``; datetimes are
ISO 8601 or ``2024/1/5 8:30[:00]`` / ``2024年1月5日 8:30``, stored without time zone as
北京时间 (a value with an offset is converted to +08:00); booleans accept 是/否, true/false,
1/0, yes/no; numbers are binary doubles (SQLite has no exact decimal). A key field is always
required.
"""

from yiwang.kit.datastore.convert import MAX_ERRORS, ErrorList, RowValidator, mask_for_report
from yiwang.kit.datastore.fields import (
    FIELD_FORMATS,
    FIELD_TYPES,
    PI_KINDS,
    ROW_COLUMN,
    FieldSpec,
    table_name_of,
)
from yiwang.kit.datastore.readers import FORMATS, RowStream, read_rows
from yiwang.kit.datastore.store import (
    LoadRejected,
    LoadResult,
    TableMismatch,
    count_rows,
    drop_table,
    ensure_table,
    load,
    read_page,
    validate_rows,
)

__all__ = [
    "FIELD_FORMATS",
    "FIELD_TYPES",
    "FORMATS",
    "MAX_ERRORS",
    "PI_KINDS",
    "ROW_COLUMN",
    "ErrorList",
    "FieldSpec",
    "LoadRejected",
    "LoadResult",
    "RowStream",
    "RowValidator",
    "TableMismatch",
    "count_rows",
    "drop_table",
    "ensure_table",
    "load",
    "mask_for_report",
    "read_page",
    "read_rows",
    "table_name_of",
    "validate_rows",
]
