"""Validating Kubernetes manifests offline against the kubernetes Python client's models."""

import re

import kubernetes.client as k8s

_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict[\[(]str, (.+)[\])]$")
_SCALARS = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object, "datetime": str, "date": str}


def validate(value, type_name: str, path: str = "") -> list[str]:
    """Problems with `value` as the OpenAPI type `type_name` (e.g. "V1Container"): unknown
    fields, wrong scalar types, missing required fields. Empty when it is valid."""
    if value is None:
        return []
    if match := _LIST.match(type_name):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [p for i, item in enumerate(value) for p in validate(item, match.group(1), f"{path}[{i}]")]
    if match := _DICT.match(type_name):
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping"]
        return [p for key, item in value.items() for p in validate(item, match.group(1), f"{path}.{key}")]
    if type_name in _SCALARS:
        return [] if isinstance(value, _SCALARS[type_name]) else [f"{path}: expected {type_name}, got {value!r}"]
    model = getattr(k8s, type_name)
    if not isinstance(value, dict):
        return [f"{path}: expected a {type_name} mapping"]
    by_json_name = {json_name: attr for attr, json_name in model.attribute_map.items()}
    problems = [f"{path}.{key}: not a field of {type_name}" for key in value if key not in by_json_name]
    for key, item in value.items():
        if key in by_json_name:
            problems += validate(item, model.openapi_types[by_json_name[key]], f"{path}.{key}")
    if not problems:
        try:  # the model's constructor checks required fields and enums
            k8s.ApiClient()._ApiClient__deserialize(value, type_name)
        except (ValueError, TypeError) as error:
            problems.append(f"{path}: {error}")
    return problems
