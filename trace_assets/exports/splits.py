"""Train/test by prompt group: a group and all its near-duplicates land in one split, the same one
in every snapshot while the group keeps its id."""

import hashlib

SPLITS = ("train", "test")


def split_of(group_id: str, test_fraction: float, seed: str) -> str:
    digest = hashlib.sha256(f"{seed}\x00{group_id}".encode("utf-8")).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    return "test" if position < test_fraction else "train"
