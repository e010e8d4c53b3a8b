"""Typed metadata fields: inference across rows and days, and conversion of values."""

import json

import pyarrow as pa

from trace_assets.ingest.metadata_fields import MAX_METADATA_FIELDS, infer_metadata_fields, metadata_fields_array


def texts(*documents) -> pa.Array:
    return pa.array([None if d is None else json.dumps(d) for d in documents], pa.string())


def test_scalar_keys_become_typed_fields_and_contexts_stay_out():
    inferred = infer_metadata_fields(
        [texts({"domain": "eks", "feedback_score": 4, "flag": True, "tags": ["a"], "contexts": ["c"]}, None, [1])],
        known=None,
    )
    assert inferred == pa.struct(
        [("domain", pa.string()), ("feedback_score", pa.float64()), ("flag", pa.bool_()), ("tags", pa.string())]
    )


def test_a_key_seen_with_two_kinds_is_a_string():
    inferred = infer_metadata_fields([texts({"score": 4.5}), texts({"score": "high"})], known=None)
    assert inferred == pa.struct([("score", pa.string())])


def test_known_fields_keep_their_type_and_new_keys_are_appended():
    known = pa.struct([("feedback_score", pa.float64())])
    inferred = infer_metadata_fields([texts({"feedback_score": "n/a", "app_version": "1.2"})], known)
    assert inferred == pa.struct([("feedback_score", pa.float64()), ("app_version", pa.string())])
    values = metadata_fields_array(texts({"feedback_score": "n/a", "app_version": "1.2"}, None), inferred)
    assert values.to_pylist() == [
        {"feedback_score": None, "app_version": "1.2"},
        {"feedback_score": None, "app_version": None},
    ]


def test_keys_that_are_not_identifiers_and_too_many_keys_are_not_promoted():
    many = {f"k{i:03d}": i for i in range(MAX_METADATA_FIELDS + 10)}
    inferred = infer_metadata_fields([texts({"has space": 1, "a.b": 2, **many})], known=None)
    assert len(inferred) == MAX_METADATA_FIELDS
    assert "has space" not in [field.name for field in inferred]


def test_values_are_converted_to_the_field_types():
    struct = pa.struct([("n", pa.float64()), ("s", pa.string()), ("b", pa.bool_())])
    values = metadata_fields_array(texts({"n": 3, "s": {"x": 1}, "b": 1}), struct)
    assert values.to_pylist() == [{"n": 3.0, "s": '{"x": 1}', "b": None}]
