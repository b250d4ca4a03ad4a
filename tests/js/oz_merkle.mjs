// Known answers for ledger/merkle.py from the reference implementation,
// @openzeppelin/merkle-tree (pinned in package.json).
//
// stdin:  {"types": ["bytes32", ...], "values": [["0x..", ...], ...]}
// stdout: {"root": "0x..", "proofs": [["0x..", ...], ...], "tree": ["0x..", ...],
//          "leaves": ["0x..", ...]}
// proofs[i] and leaves[i] belong to values[i] (input order), as getProof(i) gives them.
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { standardLeafHash } from "@openzeppelin/merkle-tree/dist/hashes.js";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const tree = StandardMerkleTree.of(input.values, input.types);
const out = {
  root: tree.root,
  proofs: input.values.map((_, i) => tree.getProof(i)),
  tree: tree.dump().tree,
  leaves: input.values.map((v) => standardLeafHash(input.types, v)),
};
process.stdout.write(JSON.stringify(out) + "\n");
