"""Near-duplicate texts by MinHash LSH (datasketch) over word shingles, confirmed exactly.

LSH proposes candidates; each candidate pair is then confirmed by the Jaccard similarity of its
two shingle sets (32-bit shingle hashes, prompt_key.shingles: exact but for hash collisions),
recomputed from the texts (only candidates pay for it, and nothing holds every set at once).
The LSH index is tuned below the threshold, towards recall: with datasketch's default tuning at 0.8 (9 bands of 13 rows) a pair at exactly Jaccard 0.8 becomes a candidate only
40% of the time; here the bands are cut for `threshold - 0.1` weighted 0.3/0.7 against false
negatives (16 bands of 8 rows at 0.8), so such a pair is proposed 95% of the time and the exact
check throws the extra candidates out (bench/exports.py measures the recall against all pairs).
"""

from collections.abc import Callable, Sequence

import numpy as np
from datasketch import MinHash, MinHashLSH

from trace_assets.exports.prompt_key import jaccard, shingles

CANDIDATE_SLACK = 0.1
CANDIDATE_WEIGHTS = (0.3, 0.7)  # (false positives, false negatives) for datasketch's tuning
MINHASH_BATCH = 2_000  # MinHashes alive at once while indexing


def _already_hashed(shingle):
    # shingles arrive as 32-bit hashes (prompt_key.shingles); MinHash's permutations do the mixing
    return shingle


def minhash_lsh(threshold: float, num_perm: int) -> MinHashLSH:
    """An empty LSH index whose bands propose pairs down to `threshold - 0.1`."""
    return MinHashLSH(threshold=max(threshold - CANDIDATE_SLACK, 0.05), num_perm=num_perm, weights=CANDIDATE_WEIGHTS)


def minhashes(shingle_sets: Sequence[np.ndarray], num_perm: int) -> list[MinHash]:
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


def near_duplicate_groups(
    texts: Sequence[str],
    threshold: float,
    num_perm: int,
    shingle_words: int,
    same_bucket: Callable[[int, int], bool] | None = None,
) -> list[int]:
    """For normalised `texts`, the index of each text's group root: texts whose shingle sets have
    Jaccard >= `threshold` are in one group, and so, transitively, is every text linked to them.
    `same_bucket(i, j)` may forbid a link (e.g. answers to different prompts). Empty texts are
    never grouped with anything."""
    groups = UnionFind(len(texts))
    index = minhash_lsh(threshold, num_perm)
    for start in range(0, len(texts), MINHASH_BATCH):
        batch = [shingles(text, shingle_words) for text in texts[start : start + MINHASH_BATCH]]
        for offset, signature in enumerate(minhashes(batch, num_perm)):
            item = start + offset
            if not batch[offset].size:
                continue
            for other in index.query(signature):
                if groups.find(other) == groups.find(item):
                    continue
                if same_bucket is not None and not same_bucket(item, other):
                    continue
                if jaccard(batch[offset], shingles(texts[other], shingle_words)) >= threshold:
                    groups.union(item, other)
            index.insert(item, signature)
    return [groups.find(item) for item in range(len(texts))]


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
