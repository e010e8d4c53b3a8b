"""Near-duplicate texts by MinHash LSH over word shingles (datasketch's MinHash signatures and
band tuning), confirmed exactly.

LSH proposes candidates; each candidate pair is then confirmed by the Jaccard similarity of its
two shingle sets (32-bit shingle hashes, prompt_key.shingles: exact but for hash collisions),
recomputed from the texts (only candidates pay for it, and nothing holds every set at once).
The LSH index is tuned below the threshold, towards recall: with datasketch's default tuning at 0.8 (9 bands of 13 rows) a pair at exactly Jaccard 0.8 becomes a candidate only
40% of the time; here the bands are cut for `threshold - 0.1` weighted 0.3/0.7 against false
negatives (16 bands of 8 rows at 0.8), so such a pair is proposed 95% of the time and the exact
check throws the extra candidates out (bench/exports.py measures the recall against all pairs).
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from datasketch import MinHash, MinHashLSH

from trace_assets.exports.prompt_key import jaccard, shingles

CANDIDATE_SLACK = 0.1
CANDIDATE_WEIGHTS = (0.3, 0.7)  # (false positives, false negatives) for datasketch's tuning
MINHASH_BATCH = 2_000  # MinHashes alive at once while indexing


def _already_hashed(shingle):
    # shingles arrive as 32-bit hashes (prompt_key.shingles); MinHash's permutations do the mixing
    return shingle


def minhash_lsh(threshold: float, num_perm: int) -> "MinHashLSH":
    """An empty LSH index whose bands propose pairs down to `threshold - 0.1`."""
    # datasketch is imported where used: it loads scipy (~40 MB every step process would carry).
    from datasketch import MinHashLSH

    return MinHashLSH(threshold=max(threshold - CANDIDATE_SLACK, 0.05), num_perm=num_perm, weights=CANDIDATE_WEIGHTS)


def minhashes(shingle_sets: Sequence[np.ndarray], num_perm: int) -> list["MinHash"]:
    from datasketch import MinHash

    return MinHash.bulk(shingle_sets, num_perm=num_perm, hashfunc=_already_hashed)


class UnionFind:
    def __init__(self, size: int):
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)  # the smaller index roots the group: deterministic


def bands_and_rows(threshold: float, num_perm: int) -> tuple[int, int]:
    """datasketch's LSH tuning (bands x rows of the signature) for candidates down to
    `threshold - 0.1`, weighted towards recall."""
    index = minhash_lsh(threshold, num_perm)
    return index.b, index.r


def near_duplicate_groups(
    texts: Sequence[str],
    threshold: float,
    num_perm: int,
    shingle_words: int,
    buckets: Sequence[int] | None = None,
) -> list[int]:
    """For normalised `texts`, the index of each text's group root: texts whose shingle sets have
    Jaccard >= `threshold` are in one group, and so, transitively, is every text linked to them.
    With `buckets`, only texts of the same bucket are compared (e.g. answers to one prompt).
    Empty texts are never grouped with anything.

    The banding is done here rather than in datasketch's MinHashLSH: its in-memory index keeps a
    bytes key, a set and dict entries per band for every text, about 8 KB a text with 16 bands
    (4.6 GB for a week of 350,000 traces, bench/exports.py). Here each band of each signature
    is one 64-bit number in an array (128 bytes a text), and a sort finds the texts that share
    it: the same candidates as datasketch's index with the same bands and rows."""
    bands, rows = bands_and_rows(threshold, num_perm)
    keys = np.zeros((len(texts), bands), np.uint64)
    present = np.zeros(len(texts), bool)
    bucket_of = np.asarray(buckets, np.uint64) if buckets is not None else None
    for start in range(0, len(texts), MINHASH_BATCH):
        batch = [shingles(text, shingle_words) for text in texts[start : start + MINHASH_BATCH]]
        if not batch:
            continue
        values = np.stack([signature.hashvalues for signature in minhashes(batch, num_perm)]).astype(np.uint64)
        band_keys = _band_keys(values, bands, rows)
        if bucket_of is not None:
            band_keys = band_keys * _BAND_MIX + bucket_of[start : start + len(batch), None]
        keys[start : start + len(batch)] = band_keys
        present[start : start + len(batch)] = [len(s) > 0 for s in batch]

    groups = UnionFind(len(texts))
    candidates = np.flatnonzero(present)
    cache: dict[int, np.ndarray] = {}
    for band in range(bands):
        order = candidates[np.argsort(keys[candidates, band], kind="stable")]
        ordered = keys[order, band]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        ends = np.r_[starts[1:], len(ordered)]
        for first, last in zip(starts[ends - starts > 1], ends[ends - starts > 1]):
            _link(np.sort(order[first:last]), texts, threshold, shingle_words, groups, cache)
    return [groups.find(item) for item in range(len(texts))]


_BAND_MIX = np.uint64(0x100000001B3)  # odd: combines a band's rows into one 64-bit key
MAX_COMPARED_IN_A_BUCKET = 64


def _band_keys(values: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per band of each signature (equal rows give equal keys; a collision only
    proposes a pair the exact check then refuses)."""
    keys = np.zeros((values.shape[0], bands), np.uint64)
    for band in range(bands):
        for row in range(band * rows, (band + 1) * rows):
            keys[:, band] = keys[:, band] * _BAND_MIX + values[:, row]
    return keys


def _link(members: np.ndarray, texts, threshold: float, shingle_words: int, groups: UnionFind, cache: dict) -> None:
    """Join the members of one band bucket whose shingle sets are near-duplicates. A very large
    bucket compares each text with the previous MAX_COMPARED_IN_A_BUCKET texts only (an
    equal-text bucket is linked through its neighbours anyway)."""
    sets = []
    for item in members.tolist():
        if item not in cache:
            if len(cache) > 50_000:
                cache.clear()
            cache[item] = shingles(texts[item], shingle_words).astype(np.uint32)  # 32-bit values: half the memory
        sets.append(cache[item])
    for position, item in enumerate(members.tolist()):
        for earlier in range(max(0, position - MAX_COMPARED_IN_A_BUCKET), position):
            other = int(members[earlier])
            if groups.find(other) != groups.find(item) and jaccard(sets[position], sets[earlier]) >= threshold:
                groups.union(item, other)


def near_duplicates_of(
    references: Sequence[str], texts: Sequence[str], threshold: float, num_perm: int, shingle_words: int
) -> list[bool]:
    """For each of `texts`, whether some reference text has Jaccard >= `threshold` with it
    (all texts normalised): decontamination against an evaluation set."""
    index = minhash_lsh(threshold, num_perm)
    reference_sets: list[np.ndarray] = []
    for start in range(0, len(references), MINHASH_BATCH):
        batch = [shingles(text, shingle_words) for text in references[start : start + MINHASH_BATCH]]
        for offset, signature in enumerate(minhashes(batch, num_perm)):
            if batch[offset].size:
                index.insert(len(reference_sets), signature)
            reference_sets.append(batch[offset])
    found = []
    for start in range(0, len(texts), MINHASH_BATCH):
        batch = [shingles(text, shingle_words) for text in texts[start : start + MINHASH_BATCH]]
        for offset, signature in enumerate(minhashes(batch, num_perm)):
            found.append(
                bool(batch[offset].size)
                and any(jaccard(batch[offset], reference_sets[other]) >= threshold for other in index.query(signature))
            )
    return found
