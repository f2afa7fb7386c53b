#!/usr/bin/env python3
"""Check that a manifest is in a custody ledger checkpoint's tree. Standard library only.

    python3 verify_inclusion.py manifest.json inclusion-proof.json checkpoint

Exits 0 when the manifest's leaf hash, the audit path and the checkpoint's root hash
agree (RFC 9162 section 2.1.3.2), and 1, saying why, when they do not. The
checkpoint's own signature is checked separately, with
ssh-keygen -Y verify -n custody-checkpoint (see VERIFY.md).
"""

import base64
import hashlib
import json
import sys


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_path(index, size, leaf, path):
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    with open(argv[0], "rb") as fh:
        leaf = hashlib.sha256(b"\x00" + fh.read()).digest()
    with open(argv[1], encoding="utf-8") as fh:
        proof = json.load(fh)
    with open(argv[2], encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2])
    problems = []
    if proof["origin"] != origin or proof["tree_size"] != size:
        problems.append("the proof is for another checkpoint")
    if bytes.fromhex(proof["leaf_hash"]) != leaf:
        problems.append("the manifest's leaf hash is not the one in the proof")
    path = [bytes.fromhex(p) for p in proof["proof"]]
    if root_from_path(proof["leaf_index"], size, leaf, path) != root:
        problems.append("the audit path does not lead to the checkpoint's root hash")
    if problems:
        for problem in problems:
            print("FAILED: " + problem)
        return 1
    print(f"OK: the manifest is leaf {proof['leaf_index']} of {size} in {origin}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
