"""A pyarrow filesystem and root path for a local folder or an s3:// URI (the lake, Langfuse's
blob export), with the standard AWS credential chain and an optional S3-compatible endpoint."""

from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs


def open_uri(uri: str, s3_endpoint_url: str | None, s3_region: str | None, setting: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, root without a trailing slash) for `uri`; `setting` names the variable the
    URI came from, for errors."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"{setting} {uri!r} names no bucket: use s3://bucket/prefix")
        options = {"region": s3_region or "us-east-1"}
        if s3_endpoint_url:
            endpoint = urlparse(s3_endpoint_url)
            options.update(endpoint_override=endpoint.netloc or endpoint.path, scheme=endpoint.scheme or "https")
        return pafs.S3FileSystem(**options), f"{parsed.netloc}{parsed.path}".rstrip("/")
    if parsed.scheme in ("", "file"):
        root = Path(parsed.path if parsed.scheme else uri).expanduser().resolve()
        return pafs.LocalFileSystem(), str(root)
    raise ValueError(f"{setting} {uri!r}: only local folders and s3:// are supported")
