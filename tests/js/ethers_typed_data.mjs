// A second EIP-712 implementation for ledger/consent.py: ethers (pinned in package.json).
//
// stdin:  {"cases": [{"domain": {...}, "types": {"EIP712Domain": [...], "<Primary>": [...]},
//                     "primaryType": "<Primary>", "message": {...}, "privateKey": "0x.." | null}]}
//         (integers may be decimal strings, so that uint64/uint256 values stay exact)
// stdout: {"results": [{"digest": "0x..", "signature": "0x.." | null, "signer": "0x.." | null}]}
// results[i] belongs to cases[i]: TypedDataEncoder.hash, and Wallet.signTypedData when a
// private key is given. Everything happens in one process, so a test can batch many cases.
import { TypedDataEncoder, Wallet } from "ethers";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const results = [];
for (const c of input.cases) {
  // ethers derives the domain type from the domain object itself; it refuses a types map
  // that also lists EIP712Domain (it would be a second, unused primary type).
  const types = { ...c.types };
  delete types.EIP712Domain;
  const digest = TypedDataEncoder.hash(c.domain, types, c.message);
  let signature = null;
  let signer = null;
  if (c.privateKey) {
    const wallet = new Wallet(c.privateKey);
    signature = await wallet.signTypedData(c.domain, types, c.message);
    signer = wallet.address;
  }
  results.push({ digest, signature, signer });
}
process.stdout.write(JSON.stringify({ results }) + "\n");
