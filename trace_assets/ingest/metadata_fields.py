"""Typed columns from the free-form metadata object: its top-level scalar keys become fields of
the Iceberg table's `metadata` struct, and new keys add fields (additive schema evolution).

Rules (README.md, "Metadata columns"):
- booleans stay booleans, every JSON number is a double (JSON does not tell 4 from 4.0),
  strings stay strings, nested objects and arrays are kept as JSON text;
- a key seen with different kinds becomes a string field;
- once a field exists its type is kept; a later value that does not fit it is null there
  (the value is never lost: `metadata_json` keeps the whole object);
- keys that are not plain identifiers, and the contexts (their own column), are not promoted,
  and at most MAX_METADATA_FIELDS fields are kept, so free-form keys cannot blow up the schema.
"""

import json
import re
from collections.abc import Iterable

import pyarrow as pa

from trace_assets.ingest.landing import CONTEXT_KEYS

MAX_METADATA_FIELDS = 64
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_KIND_TYPES = {"bool": pa.bool_(), "double": pa.float64(), "string": pa.string(), "json": pa.string()}


def infer_metadata_fields(metadata_texts: Iterable[pa.Array], known: pa.StructType | None) -> pa.StructType | None:
    """The struct type for the metadata of these rows: `known`'s fields first, unchanged, then
    the new keys in name order. None when no row has a promotable key."""
    kinds: dict[str, str] = {}
    for texts in metadata_texts:
        for document in _documents(texts):
            for key, value in document.items():
                if value is None or key in CONTEXT_KEYS or not _FIELD_NAME.match(key):
                    continue
                kind = _kind(value)
                kinds[key] = kind if kinds.get(key, kind) == kind else "string"
    fields = list(known) if known is not None else []
    known_names = {field.name for field in fields}
    room = max(MAX_METADATA_FIELDS - len(fields), 0)
    new_names = sorted(name for name in kinds if name not in known_names)[:room]
    fields += [pa.field(name, _KIND_TYPES[kinds[name]]) for name in new_names]
    return pa.struct(fields) if fields else None


def metadata_fields_array(metadata_texts: pa.Array, struct_type: pa.StructType) -> pa.StructArray:
    """One struct per row holding the row's values for `struct_type`'s fields (null where absent
    or of another kind)."""
    rows = [
        {field.name: _fit(document.get(field.name), field.type) for field in struct_type}
        for document in _documents(metadata_texts, keep_empty=True)
    ]
    return pa.array(rows, type=struct_type)


def _documents(texts: pa.Array, keep_empty: bool = False):
    for text in texts.to_pylist():
        document = json.loads(text) if text else None
        if isinstance(document, dict):
            yield document
        elif keep_empty:
            yield {}


def _kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "double"
    if isinstance(value, str):
        return "string"
    return "json"


def _fit(value, field_type: pa.DataType):
    if value is None:
        return None
    if pa.types.is_string(field_type) or pa.types.is_large_string(field_type):
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if pa.types.is_floating(field_type):
        return float(value) if _kind(value) == "double" else None
    if pa.types.is_boolean(field_type):
        return value if isinstance(value, bool) else None
    try:
        return pa.scalar(value).cast(field_type).as_py()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
