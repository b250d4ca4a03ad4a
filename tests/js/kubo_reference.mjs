#!/usr/bin/env node
// Reference CID calculator: the JS UnixFS importer (ipfs-unixfs-importer)
// configured to reproduce the CIDs of Kubo's `ipfs add` / `ipfs add -r`
// defaults, used to cross-check the project's own Python UnixFS builder.
//
// Usage:
//   node tests/js/kubo_reference.mjs [--cid-version 0|1] [--raw-leaves|--no-raw-leaves]
//        [--chunk-size N] PATH [PATH...]
//
// Prints one line per PATH: the root CID (CIDv0 in base58btc, CIDv1 in base32).
//
// Settings (all passed explicitly, never left to the importer's own defaults,
// which differ from Kubo's: the importer defaults to CIDv1 with raw leaves):
//   - fixed-size chunker, 262144 bytes           (Kubo: --chunker=size-262144);
//     --chunk-size N for another size            (Kubo: --chunker=size-N)
//   - balanced layout, 174 links per node         (Kubo: balanced DAG builder)
//   - CIDv0 by default; leaves are dag-pb UnixFS 'file' nodes (rawLeaves false)
//   - --cid-version 1 turns raw leaves on unless --no-raw-leaves is given,
//     like Kubo; --raw-leaves / --no-raw-leaves set them independently
//   - a file that fits in one chunk is its own root (reduceSingleLeafToSelf)
//   - no mode/mtime metadata (Kubo: --preserve-mode/--preserve-mtime off)
//   - directories: the directory itself is the root (no wrapping directory),
//     recursive, hidden files and empty directories included, symlinks stored
//     as UnixFS symlink nodes (not followed), and HAMT sharding disabled so a
//     directory is always a single flat dag-pb node.
// File contents are streamed; no blocks are kept (black-hole blockstore).

import { createReadStream } from 'node:fs'
import { lstat, readdir, readlink } from 'node:fs/promises'
import { join } from 'node:path'
import { BlackHoleBlockstore } from 'blockstore-core/black-hole'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'

const CHUNK_SIZE = 262144
const MAX_CHILDREN_PER_NODE = 174
// Name given to the root entry inside the importer. It never reaches any CID:
// the root's own name is not stored anywhere in its DAG.
const ROOT_NAME = 'root'

const USAGE = 'usage: node tests/js/kubo_reference.mjs [--cid-version 0|1] ' +
  '[--raw-leaves|--no-raw-leaves] [--chunk-size N] PATH [PATH...]'

class UsageError extends Error {}

function parseArgs (argv) {
  let cidVersion = 0
  let rawLeaves // undefined: follow the CID version, as Kubo does
  let chunkSize = CHUNK_SIZE
  const paths = []
  let onlyPaths = false

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]

    if (onlyPaths || !arg.startsWith('-') || arg === '-') {
      paths.push(arg)
    } else if (arg === '--') {
      onlyPaths = true
    } else if (arg === '-h' || arg === '--help') {
      process.stdout.write(USAGE + '\n')
      process.exit(0)
    } else if (arg === '--cid-version' || arg.startsWith('--cid-version=')) {
      let value
      if (arg === '--cid-version') {
        value = argv[++i]
        if (value === undefined) {
          throw new UsageError('--cid-version needs a value (0 or 1)')
        }
      } else {
        value = arg.slice('--cid-version='.length)
      }
      if (value !== '0' && value !== '1') {
        throw new UsageError(`--cid-version must be 0 or 1, got ${JSON.stringify(value)}`)
      }
      cidVersion = Number(value)
    } else if (arg === '--chunk-size') {
      const value = argv[++i]
      if (value === undefined || !/^[1-9][0-9]*$/.test(value) || Number(value) > 1048576) {
        throw new UsageError('--chunk-size needs a whole number of bytes from 1 to 1048576')
      }
      chunkSize = Number(value)
    } else if (arg === '--raw-leaves') {
      rawLeaves = true
    } else if (arg === '--no-raw-leaves' || arg === '--raw-leaves=false') {
      rawLeaves = false
    } else if (arg === '--raw-leaves=true') {
      rawLeaves = true
    } else {
      throw new UsageError(`unknown option ${arg}`)
    }
  }

  if (paths.length === 0) {
    throw new UsageError('no PATH given')
  }

  return { cidVersion, rawLeaves: rawLeaves ?? cidVersion === 1, chunkSize, paths }
}

function importerOptions ({ cidVersion, rawLeaves, chunkSize }) {
  return {
    cidVersion,
    rawLeaves,
    leafType: 'file',
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize }),
    layout: balanced({ maxChildrenPerNode: MAX_CHILDREN_PER_NODE }),
    wrapWithDirectory: false,
    // Never convert a directory into a HAMT shard.
    shardSplitThresholdBytes: Number.MAX_SAFE_INTEGER,
    fieldOrder: 'links-first',
    // Read one file at a time: bounded open files and memory.
    fileImportConcurrency: 1
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function decodeName (raw, dirPath) {
  let name
  try {
    name = utf8.decode(raw)
  } catch {
    throw new Error(`${dirPath}: entry name is not valid UTF-8: ${raw.toString('hex')}`)
  }
  return name
}

// Yields import candidates for a file system entry and, for a directory,
// everything below it. Directory candidates are emitted only for empty
// directories: non-empty ones are created by the importer's tree builder from
// their children's paths (emitting both could let an empty-directory entry
// replace an already populated one).
async function * candidates (fsPath, importPath) {
  const st = await lstat(fsPath)

  if (st.isSymbolicLink()) {
    yield { path: importPath, link: await readlink(fsPath) }
  } else if (st.isFile()) {
    yield { path: importPath, content: createReadStream(fsPath, { highWaterMark: CHUNK_SIZE }) }
  } else if (st.isDirectory()) {
    const entries = await readdir(fsPath, { encoding: 'buffer' })
    const names = entries.map(raw => decodeName(raw, fsPath)).sort()

    if (names.length === 0) {
      yield { path: importPath }
      return
    }

    for (const name of names) {
      // The importer splits paths on '/' not preceded by '\', so a directory
      // name ending in '\' would merge with its children's names.
      if (name.endsWith('\\')) {
        const child = await lstat(join(fsPath, name))
        if (child.isDirectory()) {
          throw new Error(`${join(fsPath, name)}: directory names ending in '\\' are not supported`)
        }
      }
      yield * candidates(join(fsPath, name), `${importPath}/${name}`)
    }
  } else {
    throw new Error(`${fsPath}: unsupported file type (not a file, directory or symlink)`)
  }
}

async function rootCid (fsPath, options) {
  let root
  for await (const entry of importer(candidates(fsPath, ROOT_NAME), new BlackHoleBlockstore(), options)) {
    if (entry.path === ROOT_NAME) {
      root = entry.cid
    }
  }
  if (root === undefined) {
    throw new Error(`${fsPath}: the importer yielded no root entry`)
  }
  return root
}

async function main () {
  let args
  try {
    args = parseArgs(process.argv.slice(2))
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`kubo_reference: ${err.message}\n${USAGE}\n`)
      process.exit(2)
    }
    throw err
  }

  const options = importerOptions(args)
  for (const fsPath of args.paths) {
    const cid = await rootCid(fsPath, options)
    process.stdout.write(`${cid.toString()}\n`)
  }
}

main().catch(err => {
  process.stderr.write(`kubo_reference: ${err?.message ?? err}\n`)
  process.exit(1)
})
