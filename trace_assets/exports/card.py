"""The dataset card: README.md with the YAML header the Hugging Face Hub and `datasets` read
(`configs` with their `data_files`, `dataset_info` with features and split sizes)."""

import pyarrow as pa
import yaml


def dataset_card(
    title: str, configs: list[dict], tables: dict[str, pa.Table], sizes: dict[str, tuple[int, int]], body: str, tags: list[str]
) -> bytes:
    """`configs`: [{"config_name", "data_files": {split: file name}, "default"?}]. `tables` gives
    each Parquet file's schema (as a table, empty or not), `sizes` its rows and Arrow bytes."""
    header_configs, infos = [], []
    for config in configs:
        entry = {"config_name": config["config_name"]}
        if config.get("default"):
            entry["default"] = True
        entry["data_files"] = [{"split": split, "path": path} for split, path in config["data_files"].items()]
        header_configs.append(entry)
        first = tables.get(next(iter(config["data_files"].values())))
        if first is not None:
            infos.append(
                {
                    "config_name": config["config_name"],
                    "features": [arrow_feature(field) for field in first.schema],
                    "splits": [
                        {"name": split, "num_bytes": sizes[path][1], "num_examples": sizes[path][0]}
                        for split, path in config["data_files"].items()
                    ],
                }
            )
    header = {"configs": header_configs, "dataset_info": infos, "tags": tags}
    text = "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True) + "---\n\n# " + title + "\n\n" + body
    return text.encode("utf-8")


def arrow_feature(field: pa.Field) -> dict:
    """A field in `datasets`' YAML feature notation (`dtype`, `list`, `struct`)."""
    return {"name": field.name, **_feature_type(field.type)}


def _feature_type(data_type: pa.DataType) -> dict:
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        inner = _feature_type(data_type.value_type)
        return {"list": inner.get("dtype", inner.get("struct", inner))}
    if pa.types.is_struct(data_type):
        return {"struct": [arrow_feature(child) for child in data_type]}
    return {"dtype": _DTYPES.get(str(data_type), str(data_type))}


_DTYPES = {"double": "float64", "float": "float32", "bool": "bool", "string": "string", "int64": "int64"}
