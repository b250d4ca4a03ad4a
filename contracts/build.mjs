#!/usr/bin/env node
// Compiles contracts/*.sol with solc-js (pinned in package.json) and writes one artifact per
// deployable contract to contracts/artifacts/<Name>.json: abi, bytecode, deployedBytecode,
// metadata (solc's metadata JSON string, verbatim: its IPFS hash is in the bytecode) and
// compiler {version, settings}. Output is deterministic (sorted keys, two-space indent,
// trailing newline), so the committed artifacts can be checked byte for byte.
//
//   node contracts/build.mjs                 compile every contracts/*.sol not starting with "_",
//                                            write artifacts, remove artifacts of no source
//   node contracts/build.mjs FILE.sol ...    compile just these (a "_" file may be named here)
//   node contracts/build.mjs --check [...]   compile in memory, compare with the files on disk,
//                                            exit 1 naming every difference; write nothing
//   --dir DIR                                the contracts directory (default: this file's);
//                                            tests point it at a temporary copy
//
// Exit status: 0 success, 1 compile error or --check difference, 2 bad arguments.

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

import solc from 'solc'

// The hardfork anvil 1.7.1 runs by default is "Bpo1" (anvil_nodeInfo.hardFork): a
// blob-parameter-only fork on top of Osaka, so its EVM rules (opcodes, gas) are Osaka's.
// solc 0.8.37 supports "osaka" (and makes it its default), so bytecode compiled here runs
// unchanged on the local chain; tests/local_chain checks that the two still agree.
const EVM_VERSION = 'osaka'

// The registry is deployed once per chain and its functions run for every registration,
// terms change and revocation, so runtime gas matters far more than the one-off deployment;
// a higher `runs` tells the optimizer to favour cheaper execution over smaller code.
// Measured on anvil 1.7.1 with a registry-shaped probe (2-of-3 ecrecover, one stored
// keyholder hash, one record slot, one event), via IR: runs 200 → 63,715 gas per
// registration, 10,000 → 63,634..63,670, 1,000,000 → 63,643..63,655. The registry of
// issue 4 grows from 9.8 KB (200) to 11.1 KB (10,000) and 12.6 KB (1,000,000) of runtime
// code. 10,000 takes the saving; beyond it nothing measurable is gained and the code only
// grows towards EIP-170's 24 KiB limit.
const OPTIMIZER_RUNS = 10000

// viaIR is on: the registry (k-of-n signature checks over many calldata arguments) does not
// compile with the legacy pipeline at all ("stack too deep"), and on the probe the IR
// pipeline was also ~1,900 gas (3%) cheaper per registration (63,6xx vs 65,5xx) with smaller
// code. The price is compile time (about 2 s for the registry in solc-js), paid by
// `make contracts` and the artifacts test only.
const VIA_IR = true

const SETTINGS = Object.freeze({
  evmVersion: EVM_VERSION,
  optimizer: { enabled: true, runs: OPTIMIZER_RUNS },
  viaIR: VIA_IR,
  // metadata.bytecodeHash is left at solc's default ("ipfs"), as Sourcify expects.
})

const OUTPUTS = [
  'abi',
  'metadata',
  'evm.bytecode.object',
  'evm.bytecode.linkReferences',
  'evm.deployedBytecode.object',
  'evm.deployedBytecode.linkReferences',
]

class BuildError extends Error {}
class UsageError extends Error {}

function parseArgs(argv) {
  const here = dirname(fileURLToPath(import.meta.url))
  const options = { check: false, dir: here, files: [] }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--check') options.check = true
    else if (arg === '--dir') {
      if (i + 1 >= argv.length) throw new UsageError('--dir needs a directory')
      options.dir = resolve(argv[++i])
    } else if (arg === '-h' || arg === '--help') {
      process.stdout.write('usage: node contracts/build.mjs [--check] [--dir DIR] [FILE.sol ...]\n')
      process.exit(0)
    } else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}`)
    else options.files.push(arg)
  }
  return options
}

/** Source files to compile, as names relative to `dir` (e.g. "ProvenanceRegistry.sol"). */
function selectSources(dir, files) {
  if (files.length === 0) {
    return readdirSync(dir)
      .filter((name) => name.endsWith('.sol') && !name.startsWith('_'))
      .sort()
  }
  return files.map((file) => {
    const path = resolve(file)
    const rel = relative(dir, path)
    if (!file.endsWith('.sol') || rel.startsWith('..') || rel.includes(sep)) {
      throw new UsageError(`${file} is not a .sol file directly inside ${dir}`)
    }
    if (!existsSync(path)) throw new UsageError(`${file} does not exist`)
    return rel
  })
}

function makeImportCallback(dir) {
  // Imports resolve inside the contracts directory ("contracts/X.sol", or "./X.sol" which solc
  // turns into that) and otherwise from node_modules (e.g. "@openzeppelin/..."), never from
  // anywhere else on the machine.
  const requireFromRepo = createRequire(join(dirname(fileURLToPath(import.meta.url)), 'package.json'))
  return (path) => {
    try {
      if (path.startsWith('contracts/') && !path.includes('..')) {
        return { contents: readFileSync(join(dir, path.slice('contracts/'.length)), 'utf8') }
      }
      if (!path.includes('..')) return { contents: readFileSync(requireFromRepo.resolve(path), 'utf8') }
    } catch (err) {
      return { error: `cannot read import ${path}: ${err.message}` }
    }
    return { error: `import ${path} is outside the contracts directory and node_modules` }
  }
}

/** Recursively sorted copy of a JSON value, so that output does not depend on solc's key order. */
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object') {
    const out = {}
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key])
    return out
  }
  return value
}

function serialize(value) {
  return JSON.stringify(sortKeys(value), null, 2) + '\n'
}

/** Compile one source file on its own, so its artifacts never depend on which others were named. */
function compileSource(dir, name) {
  const unit = `contracts/${name}`
  const input = {
    language: 'Solidity',
    sources: { [unit]: { content: readFileSync(join(dir, name), 'utf8') } },
    settings: { ...SETTINGS, outputSelection: { [unit]: { '*': OUTPUTS } } },
  }
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: makeImportCallback(dir) }))
  const diagnostics = output.errors ?? []
  for (const d of diagnostics) process.stderr.write(`${d.formattedMessage ?? d.message}\n`)
  if (diagnostics.some((d) => d.severity === 'error')) {
    throw new BuildError(`${unit} does not compile`)
  }
  const artifacts = new Map()
  for (const [contractName, out] of Object.entries(output.contracts?.[unit] ?? {})) {
    if (!out.evm.bytecode.object) continue // interfaces and abstract contracts deploy nothing
    for (const refs of [out.evm.bytecode.linkReferences, out.evm.deployedBytecode.linkReferences]) {
      if (Object.keys(refs ?? {}).length > 0) {
        throw new BuildError(
          `${unit}:${contractName} needs linking to an external library; make its functions internal`,
        )
      }
    }
    const metadata = JSON.parse(out.metadata)
    artifacts.set(contractName, {
      abi: out.abi,
      bytecode: `0x${out.evm.bytecode.object}`,
      deployedBytecode: `0x${out.evm.deployedBytecode.object}`,
      metadata: out.metadata,
      compiler: { version: metadata.compiler.version, settings: SETTINGS },
    })
  }
  return artifacts
}

function compileAll(dir, sources) {
  const files = new Map() // artifact file name -> text
  const origin = new Map()
  for (const name of sources) {
    for (const [contractName, artifact] of compileSource(dir, name)) {
      const file = `${contractName}.json`
      if (origin.has(file)) {
        throw new BuildError(`contract ${contractName} is defined in both ${origin.get(file)} and ${name}`)
      }
      origin.set(file, name)
      files.set(file, serialize(artifact))
    }
  }
  return files
}

function writeAtomically(path, text) {
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, text)
  renameSync(tmp, path)
}

function main() {
  const options = parseArgs(process.argv.slice(2))
  const { dir } = options
  const outDir = join(dir, 'artifacts')
  const explicit = options.files.length > 0
  const sources = selectSources(dir, options.files)
  const fresh = compileAll(dir, sources)
  const onDisk = existsSync(outDir) ? readdirSync(outDir).filter((n) => n.endsWith('.json')).sort() : []
  // Without explicit files the build owns the whole artifacts directory: an artifact that no
  // source produces any more is stale.
  const stale = explicit ? [] : onDisk.filter((name) => !fresh.has(name))
  const shown = (name) => {
    const rel = relative(process.cwd(), join(outDir, name))
    return rel.startsWith('..') ? join(outDir, name) : rel
  }

  if (options.check) {
    const problems = []
    for (const [name, text] of fresh) {
      const path = join(outDir, name)
      if (!existsSync(path)) problems.push(`${shown(name)} is missing`)
      else if (!readFileSync(path).equals(Buffer.from(text, 'utf8'))) {
        problems.push(`${shown(name)} differs from a fresh compile`)
      }
    }
    for (const name of stale) problems.push(`${shown(name)} has no source any more`)
    if (problems.length > 0) {
      for (const p of problems) process.stderr.write(`error: ${p}\n`)
      process.stderr.write('run `make contracts` and commit contracts/artifacts/\n')
      process.exit(1)
    }
    process.stdout.write(`${fresh.size} artifacts match a fresh compile (${sources.length} sources)\n`)
    return
  }

  mkdirSync(outDir, { recursive: true })
  for (const [name, text] of fresh) {
    const path = join(outDir, name)
    if (existsSync(path) && readFileSync(path, 'utf8') === text) continue
    writeAtomically(path, text)
    process.stdout.write(`wrote ${shown(name)}\n`)
  }
  for (const name of stale) {
    rmSync(join(outDir, name))
    process.stdout.write(`removed ${shown(name)} (no source)\n`)
  }
  process.stdout.write(`${fresh.size} artifacts from ${sources.length} sources (solc ${solc.version()})\n`)
}

try {
  main()
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`error: ${err.message}\n`)
    process.exit(2)
  }
  if (err instanceof BuildError) {
    process.stderr.write(`error: ${err.message}\n`)
    process.exit(1)
  }
  throw err
}
