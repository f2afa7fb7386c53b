"""RFC 9162 hashing and proofs against the published transparency-dev vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from custody.seal import merkle

VECTORS = json.loads((Path(__file__).parent / "data" / "merkle" / "vectors.json").read_text())
LEAVES = [merkle.leaf_hash(bytes.fromhex(d)) for d in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(r) for r in VECTORS["roots"]]
SOME = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
EMPTY = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def test_roots() -> None:
    assert merkle.root([]) == EMPTY
    for size in range(1, 9):
        assert merkle.root(LEAVES[:size]) == ROOTS[size - 1]


@pytest.mark.parametrize("vector", VECTORS["inclusion"], ids=lambda v: f"{v['leaf']}/{v['size']}")
def test_inclusion_vectors_and_their_corruptions(vector: dict) -> None:
    index, size = vector["leaf"] - 1, vector["size"]
    proof = [bytes.fromhex(p) for p in vector["proof"]]
    root, leaf = ROOTS[size - 1], LEAVES[index]
    assert merkle.inclusion_proof(LEAVES[:size], index) == proof
    assert merkle.verify_inclusion(index, size, leaf, proof, root)
    bad = [
        (index - 1, size, leaf, proof, root), (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root), (index, size * 2, leaf, proof, root),
        (index, size // 2, leaf, proof, root), (index, size, b"WrongLeaf", proof, root),
        (index, size, leaf, proof, EMPTY), (index, size, leaf, proof, SOME),
        (index, size, leaf, [*proof, b""], root), (index, size, leaf, [*proof, root], root),
        (index, size, leaf, [b"", *proof], root), (index, size, leaf, [root, *proof], root),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        bad.append((index, size, leaf, flipped, root))
    if proof:
        bad.append((index, size, leaf, proof[:-1], root))
    if len(proof) > 1:
        bad.append((index, size, leaf, [SOME, proof[0], *proof[1:]], root))
    for args in bad:
        assert not merkle.verify_inclusion(*args), args


@pytest.mark.parametrize("vector", VECTORS["consistency"],
                         ids=lambda v: f"{v['size1']}-{v['size2']}")
def test_consistency_vectors_and_their_corruptions(vector: dict) -> None:
    size1, size2 = vector["size1"], vector["size2"]
    proof = [bytes.fromhex(p) for p in vector["proof"]]
    root1, root2 = ROOTS[size1 - 1], ROOTS[size2 - 1]
    assert merkle.consistency_proof(LEAVES[:size2], size1) == proof
    assert merkle.verify_consistency(size1, size2, proof, root1, root2)
    bad = [
        (size1 - 1, size2, proof, root1, root2), (size1 + 1, size2, proof, root1, root2),
        (size1 ^ 2, size2, proof, root1, root2), (size1, size2 * 2, proof, root1, root2),
        (size1, size2 // 2, proof, root1, root2), (size1, size2, proof, b"WrongRoot", root2),
        (size1, size2, proof, root1, b"WrongRoot"), (size1, size2, proof, root2, root1),
        (size1, size2, [], root1, root2), (size1, size2, [*proof, b""], root1, root2),
        (size1, size2, [*proof, root1], root1, root2),
        (size1, size2, [*proof, root2], root1, root2),
        (size1, size2, [b"", *proof], root1, root2), (size1, size2, [root1, *proof], root1, root2),
        (size1, size2, [root2, *proof], root1, root2),
        (size1, size2, [proof[0], *proof], root1, root2),
        (size1, size2, proof[:-1], root1, root2),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        bad.append((size1, size2, flipped, root1, root2))
    for args in bad:
        assert not merkle.verify_consistency(*args), args


def test_every_proof_of_larger_trees_verifies() -> None:
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(37)]
    for size in range(1, 38):
        root = merkle.root(leaves[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(leaves[:size], index)
            assert merkle.verify_inclusion(index, size, leaves[index], proof, root)
        for size1 in range(1, size + 1):
            proof = merkle.consistency_proof(leaves[:size], size1)
            assert merkle.verify_consistency(size1, size, proof, merkle.root(leaves[:size1]), root)


def test_the_bundle_script_is_the_same_check(tmp_path: Path) -> None:
    """verify_inclusion.py, as bundles carry it, run by a bare Python on each vector and on
    each corruption, says what merkle.verify_inclusion says."""
    import base64
    import subprocess
    import sys

    from custody.seal import inclusion_script

    script = tmp_path / "verify_inclusion.py"
    script.write_text(inclusion_script.script())
    cases = 0
    for vector in VECTORS["inclusion"]:
        index, size = vector["leaf"] - 1, vector["size"]
        proof = [bytes.fromhex(p) for p in vector["proof"]]
        data = bytes.fromhex(VECTORS["leaves"][index])
        for bad_index, bad_proof, bad_root in (
                (index, proof, ROOTS[size - 1]), (index + 1, proof, ROOTS[size - 1]),
                (index, proof[:-1], ROOTS[size - 1]), (index, proof, SOME)):
            leaf = merkle.leaf_hash(data)
            (tmp_path / "m").write_bytes(data)
            (tmp_path / "p").write_text(json.dumps({
                "origin": "o", "tree_size": size, "leaf_index": bad_index,
                "leaf_hash": leaf.hex(), "proof": [p.hex() for p in bad_proof]}))
            (tmp_path / "c").write_text(f"o\n{size}\n{base64.b64encode(bad_root).decode()}\n")
            ran = subprocess.run([sys.executable, "-I", "-S", str(script), "m", "p", "c"],
                                 cwd=tmp_path, capture_output=True, text=True)
            want = merkle.verify_inclusion(bad_index, size, leaf, bad_proof, bad_root)
            assert ran.returncode == (0 if want else 1), (vector, ran.stdout, ran.stderr)
            cases += 1
    assert cases >= 4 * len(VECTORS["inclusion"])


def test_proofs_are_refused_outside_the_tree() -> None:
    """The bounds of every proof and check: a leaf past the end, a negative one, an empty
    or reversed consistency range, an equal-size range with a proof or other roots."""
    for size in (1, 3, 8):
        with pytest.raises(ValueError):
            merkle.inclusion_proof(LEAVES[:size], size)
        with pytest.raises(ValueError):
            merkle.inclusion_proof(LEAVES[:size], -1)
        with pytest.raises(ValueError):
            merkle.consistency_proof(LEAVES[:size], 0)
        with pytest.raises(ValueError):
            merkle.consistency_proof(LEAVES[:size], size + 1)
    root7 = ROOTS[6]
    last = merkle.inclusion_proof(LEAVES[:7], 6)
    assert merkle.verify_inclusion(6, 7, LEAVES[6], last, root7)
    assert not merkle.verify_inclusion(7, 7, LEAVES[6], last, root7)  # index == size
    assert not merkle.verify_inclusion(8, 7, LEAVES[6], last, root7)
    assert not merkle.verify_inclusion(-1, 7, LEAVES[6], last, root7)
    assert not merkle.verify_inclusion(0, 1, LEAVES[0], [], ROOTS[1])
    short = [last[0][:31], *last[1:]]  # a proof element that is not a hash
    assert not merkle.verify_inclusion(6, 7, LEAVES[6], short, root7)
    four = merkle.consistency_proof(LEAVES[:7], 4)
    assert merkle.verify_consistency(4, 7, four, ROOTS[3], root7)
    assert merkle.verify_consistency(0, 7, [], EMPTY, root7)  # the empty tree is a prefix
    assert not merkle.verify_consistency(0, 7, four, EMPTY, root7)
    assert not merkle.verify_consistency(-1, 7, four, ROOTS[3], root7)
    assert not merkle.verify_consistency(7, 4, four, root7, ROOTS[3])  # reversed
    assert merkle.verify_consistency(7, 7, [], root7, root7)
    assert not merkle.verify_consistency(7, 7, [], root7, ROOTS[5])  # same size, other root
    assert not merkle.verify_consistency(7, 7, four[:1], root7, root7)  # a proof where none is
