"""Merkle tree hashing, inclusion and consistency proofs, as in RFC 9162 (section 2.1).

Leaves are hashed with a 0x00 prefix and interior nodes with 0x01, as Certificate
Transparency does; the tests run the published transparency-dev vectors, and
their corrupted variants, through these functions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()
# the hash of a perfect subtree: its index among the subtrees of its height, its height
# (leaves [index << height, (index + 1) << height)); tiles.py reads them from the ledger's
# tiles, so that a proof costs the subtrees it names, not the whole tree
Perfect = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (not leaf data)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]): the audit path for leaf ``index``."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError("leaf index out of range")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(leaves[:k], index), root(leaves[k:])]
    return [*inclusion_proof(leaves[k:], index - k), root(leaves[:k])]


def consistency_proof(leaves: Sequence[bytes], size1: int) -> list[bytes]:
    """PROOF(m, D[n]): shows the first ``size1`` leaves are a prefix of the tree."""
    if not 0 < size1 <= len(leaves):
        raise ValueError("size out of range")
    return _subproof(size1, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root(leaves[:k])]


def to_right_edge(fn: int, sn: int) -> tuple[int, int]:
    """Shift both until fn is odd or zero (RFC 9162's 'right-shift fn and sn equally')."""
    while fn and not fn & 1:
        fn >>= 1
        sn >>= 1
    return fn, sn


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes],
                     expected_root: bytes) -> bool:
    """RFC 9162 2.1.3.2."""
    if index >= size or index < 0:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if len(p) != 32 or sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = to_right_edge(fn, sn)
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes,
                       root2: bytes) -> bool:
    """RFC 9162 2.1.4.2."""
    if size1 < 0 or size2 < size1:
        return False
    if size1 == 0:
        return not proof
    if size1 == size2:
        return not proof and root1 == root2
    if not proof or any(len(p) != 32 for p in proof):
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # an exact power of two: the old root is a node of the new
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            fn, sn = to_right_edge(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root1 and sr == root2


# -- over stored subtrees: what a proof of a large tree costs is O(log n) of them ----------


def range_root(perfect: Perfect, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range RFC 9162's recursion gives (``start`` aligned to the
    largest power of two below ``end - start``, as every range of a proof from 0 is)."""
    n = end - start
    if n <= 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0 and start % n == 0:
        return perfect(start // n, n.bit_length() - 1)
    k = _split(n)
    return node_hash(range_root(perfect, start, start + k), range_root(perfect, start + k, end))


def tree_root(perfect: Perfect, size: int) -> bytes:
    return range_root(perfect, 0, size)


def tree_inclusion(perfect: Perfect, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]), with the subtrees read through ``perfect``."""
    if not 0 <= index < size:
        raise ValueError("leaf index out of range")
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            proof.append(range_root(perfect, start + k, end))
            end = start + k
        else:
            proof.append(range_root(perfect, start, start + k))
            start += k
    return proof[::-1]


def tree_consistency(perfect: Perfect, size1: int, size2: int) -> list[bytes]:
    """PROOF(size1, D[size2]), with the subtrees read through ``perfect``."""
    if not 0 < size1 <= size2:
        raise ValueError("size out of range")
    proof: list[bytes] = []
    start, end, m, complete = 0, size2, size1, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            proof.append(range_root(perfect, start + k, end))
            end = start + k
        else:
            proof.append(range_root(perfect, start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        proof.append(range_root(perfect, start, end))
    return proof[::-1]


class CompactRange:
    """The right edge of a tree: the roots of the perfect subtrees that make up its
    leaves, left to right (largest first). Appending a leaf and taking the root each cost
    O(log n): what a seal needs of the ledger, kept from one seal to the next."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ValueError(f"a tree of {size} leaves has {bin(size).count('1')} edge "
                             f"hashes, not {len(hashes)}")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; the perfect subtrees it completed, as (index, height, hash),
        the leaf itself first."""
        made = [(self.size, 0, leaf)]
        node, height, size = leaf, 0, self.size
        while size & 1:
            node = node_hash(self.hashes.pop(), node)
            height += 1
            size >>= 1
            made.append((size, height, node))
        self.hashes.append(node)
        self.size += 1
        return made

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        acc = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            acc = node_hash(left, acc)
        return acc
