// In-page verification: fetch proofs.json and the item's served files, recompute each file's
// UnixFS CID here in the browser and say, per file, whether it matches the proof.
//
// The CID is the one `heritage cid` (and Kubo with raw leaves) gives: 256 KiB chunks as raw
// leaves, a balanced DAG of dag-pb nodes with at most 174 links, CIDv1, SHA-256, base32.
// `unixfsCid(data, { cidVersion: 0 })` gives Kubo's older default instead (dag-pb leaves,
// CIDv0 in base58btc), for the API's verify page; the proofs check here uses CIDv1 only.
// SHA-256 comes from WebCrypto in a secure context (https, localhost) and from the bundled
// sha256.js elsewhere (WebCrypto is absent there).

import { sha256 } from './sha256.js';

const RAW = 0x55;
const DAG_PB = 0x70;
const SHA2_256 = 0x12;
export const CHUNK_SIZE = 262144;
export const MAX_LINKS = 174;

export function digestFunction() {
  if (globalThis.isSecureContext && globalThis.crypto && globalThis.crypto.subtle) {
    return async (bytes) => new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  }
  return async (bytes) => sha256(bytes);
}

function varint(value) {
  const out = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return out;
}

function concat(parts) {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

// The binary CID: for CIDv0 (dag-pb only) the bare multihash.
function cidBytes(codec, digest, version = 1) {
  if (version === 0) return concat([new Uint8Array([SHA2_256, digest.length]), digest]);
  return concat([new Uint8Array([0x01, ...varint(codec), SHA2_256, digest.length]), digest]);
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

// Base58btc (the Bitcoin alphabet, no prefix): how a CIDv0 is written.
export function base58(bytes) {
  const digits = [];
  for (const byte of bytes) {
    let carry = byte;
    for (let i = 0; i < digits.length; i++) {
      carry += digits[i] * 256;
      digits[i] = carry % 58;
      carry = Math.floor(carry / 58);
    }
    while (carry > 0) {
      digits.push(carry % 58);
      carry = Math.floor(carry / 58);
    }
  }
  let out = '';
  for (const byte of bytes) {
    if (byte !== 0) break;
    out += '1';
  }
  for (let i = digits.length - 1; i >= 0; i--) out += BASE58[digits[i]];
  return out;
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

export function cidString(bytes) {
  let out = 'b';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}

function field(number, wire) {
  return varint((number << 3) | wire);
}

function bytesField(number, payload) {
  return concat([new Uint8Array([...field(number, 2), ...varint(payload.length)]), payload]);
}

// One internal node: dag-pb links (hash, empty name, cumulative size) before the UnixFS data
// (type File, the file size, each child's size), as the canonical dag-pb encoding orders them.
function internalNode(children) {
  const filesize = children.reduce((sum, child) => sum + child.filesize, 0);
  const unixfs = [...field(1, 0), 2, ...field(3, 0), ...varint(filesize)];
  for (const child of children) unixfs.push(...field(4, 0), ...varint(child.filesize));
  const parts = children.map((child) =>
    bytesField(
      2,
      concat([
        bytesField(1, child.cid),
        bytesField(2, new Uint8Array(0)),
        new Uint8Array([...field(3, 0), ...varint(child.tsize)]),
      ]),
    ),
  );
  parts.push(bytesField(1, new Uint8Array(unixfs)));
  return { block: concat(parts), filesize };
}

// A dag-pb leaf: PBNode{Data: UnixFS{type File, the chunk (when not empty), its size}}.
function leafNode(chunk) {
  const head = [...field(1, 0), 2];
  const data = chunk.length > 0 ? [...field(2, 2), ...varint(chunk.length)] : [];
  const tail = [...field(3, 0), ...varint(chunk.length)];
  const unixfs = concat([new Uint8Array([...head, ...data]), chunk, new Uint8Array(tail)]);
  return bytesField(1, unixfs);
}

// The CID (string) of `data` as one UnixFS file: CIDv1 with raw leaves unless `options` says
// `cidVersion: 0` (dag-pb leaves) or `rawLeaves: false`.
export async function unixfsCid(data, options = {}) {
  const digest = options.digest || digestFunction();
  const chunkSize = options.chunkSize || CHUNK_SIZE;
  const maxLinks = options.maxLinks || MAX_LINKS;
  const version = options.cidVersion === 0 ? 0 : 1;
  const rawLeaves = version === 1 && options.rawLeaves !== false;
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  let level = [];
  for (let offset = 0; offset < bytes.length || offset === 0; offset += chunkSize) {
    const chunk = bytes.subarray(offset, Math.min(offset + chunkSize, bytes.length));
    if (rawLeaves) {
      level.push({ cid: cidBytes(RAW, await digest(chunk)), tsize: chunk.length, filesize: chunk.length });
    } else {
      const block = leafNode(chunk);
      level.push({ cid: cidBytes(DAG_PB, await digest(block), version), tsize: block.length, filesize: chunk.length });
    }
    if (bytes.length === 0) break;
  }
  while (level.length > 1) {
    const next = [];
    for (let start = 0; start < level.length; start += maxLinks) {
      const children = level.slice(start, start + maxLinks);
      const { block, filesize } = internalNode(children);
      const tsize = block.length + children.reduce((sum, child) => sum + child.tsize, 0);
      next.push({ cid: cidBytes(DAG_PB, await digest(block), version), tsize, filesize });
    }
    level = next;
  }
  return version === 0 ? base58(level[0].cid) : cidString(level[0].cid);
}

// Whether a file's import settings are the ones this page can recompute.
function supported(settings) {
  if (!settings) return true;
  return (
    settings.cid_version === 1 &&
    settings.raw_leaves === true &&
    (settings.hash === undefined || settings.hash === 'sha2-256') &&
    (settings.layout === undefined || settings.layout === 'balanced')
  );
}

export async function verifyItem(proofsUrl, itemId) {
  const response = await fetch(proofsUrl, { cache: 'no-store' });
  if (!response.ok) throw new Error(`proofs.json could not be fetched (HTTP ${response.status})`);
  const proofs = await response.json();
  const item = proofs.items && proofs.items[itemId];
  if (!item) throw new Error('proofs.json has no entry for this item');
  const digest = digestFunction();
  const results = [];
  for (const file of item.files) {
    const settings = file.import;
    if (!supported(settings)) {
      results.push({ name: file.name, status: 'unsupported', expected: file.cid, actual: null });
      continue;
    }
    const url = new URL(file.path, proofsUrl);
    const served = await fetch(url, { cache: 'no-store' });
    if (!served.ok) {
      results.push({ name: file.name, status: 'missing', expected: file.cid, actual: null });
      continue;
    }
    const bytes = new Uint8Array(await served.arrayBuffer());
    const actual = await unixfsCid(bytes, {
      digest,
      chunkSize: settings && settings.chunk_size,
      maxLinks: settings && settings.max_links,
    });
    results.push({ name: file.name, status: actual === file.cid ? 'verified' : 'mismatch', expected: file.cid, actual });
  }
  return results;
}

const WORDS = {
  verified: 'verified: the served file has the CID recorded in the proofs',
  mismatch: 'mismatch: the served file is not the one the proofs record',
  missing: 'missing: the file could not be fetched',
  unsupported: 'not checked: its import settings cannot be recomputed in this page',
};

// The page's interface words (exhibits/ui_text.py), in the site's language: the page data
// `<script type="application/json" id="ui-text">`; the English above when a page has none.
function uiWord(key, fallback) {
  const node = typeof document !== 'undefined' ? document.getElementById('ui-text') : null;
  if (!node) return fallback;
  try {
    const words = JSON.parse(node.textContent || '{}');
    return typeof words[key] === 'string' ? words[key] : fallback;
  } catch {
    return fallback;
  }
}

function word(status) {
  return uiWord(`verify.${status}`, WORDS[status]);
}

function show(output, lines) {
  output.replaceChildren();
  for (const line of lines) {
    const row = document.createElement('span');
    row.className = 'verify-line';
    row.dataset.status = line.status;
    row.textContent = line.text;
    output.append(row, document.createElement('br'));
  }
}

function start() {
  const button = document.getElementById('verify');
  const output = document.getElementById('verify-result');
  if (!button || !output) return;
  button.addEventListener('click', async () => {
    button.disabled = true;
    show(output, [{ status: 'working', text: uiWord('verify.checking', 'checking…') }]);
    try {
      const proofsUrl = new URL(button.dataset.proofs, document.baseURI);
      const results = await verifyItem(proofsUrl, button.dataset.item);
      const lines = results.map((r) => ({ status: r.status, text: `${r.name}: ${word(r.status)}` }));
      const bad = results.filter((r) => r.status !== 'verified').length;
      output.dataset.status = bad === 0 && results.length > 0 ? 'verified' : 'mismatch';
      show(output, lines);
    } catch (error) {
      output.dataset.status = 'error';
      show(output, [{ status: 'error', text: `${uiWord('verify.error', 'could not verify')}: ${error.message}` }]);
    } finally {
      button.disabled = false;
    }
  });
}

if (typeof document !== 'undefined') start();
