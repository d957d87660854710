#!/usr/bin/env node
// A small real Yjs client of the collab Socket.IO protocol, for tests/test_yjs_interop.py.
//
// It behaves like the product's browsers: a Y.Doc whose shared text is `content`, Socket.IO
// over the websocket transport with `auth: {token}`, binary attachments received as
// ArrayBuffer (a browser's default), Uint8Array updates sent as binary attachments.
//
// Usage: node yjs_client.mjs < spec.json     (the spec is one JSON object on stdin)
//
//   url, token, workspace_id, doc_id   where to connect and what to edit (required)
//   state        base64 V1 update: the replica it starts from (what a browser kept locally)
//   offline      edits made before connecting; once joined they are sent as one update
//   edits        steps run once joined: {insert: "text", at: index | "end"},
//                {delete: length, at: index}, {wait_seq: n} (until the replica holds every
//                seq up to n) or {sleep: ms}. Consecutive edits are applied at once (so they
//                are concurrent with whatever the replica has not received yet), then each
//                edit's update is sent with `doc:update` in order, each ack awaited.
//   until_seq    once the edits are done, wait until the replica holds every seq up to this
//   until_received  and until it has applied this many `doc:update` broadcasts
//   settle_ms    then keep listening this long (default 0)
//   drop_seqs    seqs of `doc:update` broadcasts to ignore, as if they were lost on the way
//   gap_grace_ms how long a gap in seqs may last before `doc:sync` is called (default 150)
//   timeout_ms   give up (exit 2) after this long (default 20000)
//
// Indexes are those of Yjs: UTF-16 code units.
//
// Output, one JSON object per line on stdout:
//   {"event": "joined", text, seq, state_vector}   once joined and the first edits applied
//   {"event": "result", text, state_vector, state, seq, join, acks, received, dropped,
//    syncs, binary_types}                           at the end; then it exits 0
// `acks` holds every `doc:update` ack with the update sent (base64); `received` the applied
// broadcasts; `syncs` the `doc:sync` calls made after a gap. Bytes are base64.
// Errors: a message on stderr and a non-zero exit (1: error, 2: timeout, 3: refused).

import { io } from 'socket.io-client'
import * as Y from 'yjs'

const LOCAL = 'local'
const REMOTE = 'remote'
const ACK_TIMEOUT_MS = 10000

class Failure extends Error {
  constructor (message, exitCode = 1) {
    super(message)
    this.exitCode = exitCode
  }
}

const b64 = (bytes) => Buffer.from(bytes).toString('base64')
const fromB64 = (text) => new Uint8Array(Buffer.from(text, 'base64'))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const emit = (line) => process.stdout.write(JSON.stringify(line) + '\n')

async function readSpec () {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  let spec
  try {
    spec = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch (error) {
    throw new Failure(`the spec on stdin is not JSON: ${error.message}`)
  }
  for (const key of ['url', 'token', 'workspace_id', 'doc_id']) {
    if (typeof spec[key] !== 'string' || !spec[key]) {
      throw new Failure(`the spec needs a string "${key}"`)
    }
  }
  return spec
}

class YjsClient {
  constructor (spec) {
    this.spec = spec
    this.ydoc = new Y.Doc()
    this.ytext = this.ydoc.getText('content')
    this.pending = [] // local updates not sent yet
    this.acks = []
    this.received = []
    this.dropped = []
    this.syncs = []
    this.binaryTypes = new Set()
    this.drop = new Set(spec.drop_seqs || [])
    this.seq = null // every seq up to this one is in the replica
    this.seen = new Set() // seqs above `seq` that are in the replica too
    this.waiters = []
    this.syncing = false
    this.gapTimer = null
    this.fatal = null
    if (spec.state) Y.applyUpdate(this.ydoc, fromB64(spec.state), 'restored')
    this.ydoc.on('update', (update, origin) => {
      if (origin === LOCAL) this.pending.push(update)
    })
  }

  // --- Local edits ---------------------------------------------------------------------

  edit (step) {
    const length = this.ytext.length
    const at = step.at === 'end' || step.at === undefined ? length : step.at
    if (!Number.isInteger(at) || at < 0 || at > length) {
      throw new Failure(`index ${JSON.stringify(step.at)} is outside the text (length ${length})`)
    }
    this.ydoc.transact(() => {
      if (typeof step.insert === 'string') this.ytext.insert(at, step.insert)
      else if (Number.isInteger(step.delete)) this.ytext.delete(at, step.delete)
      else throw new Failure(`unknown step ${JSON.stringify(step)}`)
    }, LOCAL)
  }

  // --- Binary data from the server -----------------------------------------------------

  bytes (value, what) {
    // A browser's socket.io-client hands binary attachments over as ArrayBuffer.
    const type = value == null ? String(value) : value.constructor.name
    this.binaryTypes.add(type)
    if (value instanceof ArrayBuffer) return new Uint8Array(value)
    if (value instanceof Uint8Array) return new Uint8Array(value)
    throw new Failure(`${what} is not binary but ${type}: ${JSON.stringify(value)}`)
  }

  // --- Socket.IO -----------------------------------------------------------------------

  async connect () {
    const { spec } = this
    this.socket = io(spec.url, {
      auth: { token: spec.token },
      transports: ['websocket'],
      reconnection: false,
      timeout: ACK_TIMEOUT_MS
    })
    // Receive binary attachments as ArrayBuffer, as in a browser (node's default is Buffer).
    this.socket.io.on('open', () => { this.socket.io.engine.binaryType = 'arraybuffer' })
    await new Promise((resolve, reject) => {
      this.socket.once('connect', resolve)
      this.socket.once('connect_error', (error) => {
        const detail = error.data ? JSON.stringify(error.data) : error.message
        reject(new Failure(`connection refused: ${detail}`, 3))
      })
    })
    this.socket.on('disconnect', (reason) => {
      if (!this.closing) this.fail(new Failure(`disconnected by the server: ${reason}`))
    })
  }

  async call (event, payload) {
    try {
      return await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload)
    } catch (error) {
      throw new Failure(`no ack for ${event}: ${error.message}`)
    }
  }

  async join () {
    const { spec } = this
    const early = [] // broadcasts that arrive before the join ack is handled
    this.socket.on('doc:update', (message) => {
      try {
        if (this.seq === null) early.push(message)
        else this.onUpdate(message)
      } catch (error) {
        this.fail(error)
      }
    })
    const stateVector = Y.encodeStateVector(this.ydoc)
    const ack = await this.call('workspace:join', {
      workspace_id: spec.workspace_id,
      docs: { [spec.doc_id]: stateVector }
    })
    if (!ack || ack.ok !== true) throw new Failure(`workspace:join refused: ${JSON.stringify(ack)}`)
    Y.applyUpdate(this.ydoc, this.bytes(ack.docs[spec.doc_id], 'the join update'), REMOTE)
    this.seq = ack.seqs[spec.doc_id]
    if (!Number.isInteger(this.seq)) throw new Failure(`bad seqs in ${JSON.stringify(ack)}`)
    this.join = { role: ack.role, can_edit: ack.can_edit, seqs: ack.seqs }
    // What the server lacks: the edits made offline, as one update.
    this.offline = this.pending.length ? Y.mergeUpdates(this.pending.splice(0)) : null
    return early
  }

  onUpdate (message) {
    const { spec } = this
    if (message.workspace_id !== spec.workspace_id || message.doc_id !== spec.doc_id) return
    const update = this.bytes(message.update, 'a doc:update broadcast')
    if (this.drop.has(message.seq)) {
      this.dropped.push(message.seq)
      return
    }
    Y.applyUpdate(this.ydoc, update, REMOTE)
    this.received.push({ seq: message.seq, user_id: message.user_id, update: b64(update) })
    this.holds(message.seq)
  }

  waitFor (condition) {
    return new Promise((resolve, reject) => {
      const done = () => {
        if (this.fatal) reject(this.fatal)
        else if (condition()) resolve()
        else return false
        return true
      }
      if (!done()) this.waiters.push(done)
    })
  }

  holds (seq) {
    if (seq > this.seq) this.seen.add(seq)
    while (this.seen.delete(this.seq + 1)) this.seq += 1
    for (const old of this.seen) if (old <= this.seq) this.seen.delete(old)
    this.waiters = this.waiters.filter((waiter) => !waiter())
    if (this.seen.size && !this.gapTimer && !this.syncing) {
      // A seq is missing. It may still be on its way (broadcasts from two instances can
      // cross, an ack can come before an earlier broadcast): give it a moment, then sync.
      this.gapTimer = setTimeout(() => {
        this.gapTimer = null
        if (this.seen.size) this.sync().catch((error) => this.fail(error))
      }, this.spec.gap_grace_ms ?? 150)
    }
  }

  async sync () {
    const { spec } = this
    this.syncing = true
    const stateVector = Y.encodeStateVector(this.ydoc)
    const ack = await this.call('doc:sync', {
      workspace_id: spec.workspace_id,
      doc_id: spec.doc_id,
      state_vector: stateVector
    })
    this.syncing = false
    if (!ack || ack.ok !== true) throw new Failure(`doc:sync refused: ${JSON.stringify(ack)}`)
    const update = this.bytes(ack.update, 'the doc:sync update')
    Y.applyUpdate(this.ydoc, update, REMOTE)
    this.syncs.push({ from_seq: this.seq, seq: ack.seq, update: b64(update) })
    this.seq = Math.max(this.seq, ack.seq)
    this.holds(this.seq)
  }

  async send (update) {
    const { spec } = this
    const ack = await this.call('doc:update', {
      workspace_id: spec.workspace_id,
      doc_id: spec.doc_id,
      update
    })
    this.acks.push({ ...ack, update: b64(update) })
    if (ack && ack.ok === true && Number.isInteger(ack.seq)) this.holds(ack.seq)
  }

  async flush () {
    if (this.offline) await this.send(this.offline)
    this.offline = null
    while (this.pending.length) await this.send(this.pending.shift())
  }

  fail (error) {
    if (this.fatal) return
    this.fatal = error
    this.waiters = this.waiters.filter((waiter) => !waiter())
    if (this.onFatal) this.onFatal(error)
  }

  // --- The whole run -------------------------------------------------------------------

  async run () {
    const { spec } = this
    for (const step of spec.offline || []) this.edit(step)
    await this.connect()
    const early = await this.join()
    const steps = [...(spec.edits || [])]
    while (steps.length && !('wait_seq' in steps[0]) && !('sleep' in steps[0])) {
      this.edit(steps.shift())
    }
    const stateVector = b64(Y.encodeStateVector(this.ydoc))
    emit({ event: 'joined', text: this.ytext.toString(), seq: this.seq, state_vector: stateVector })
    for (const message of early) this.onUpdate(message)
    await this.flush()
    for (const step of steps) {
      if ('wait_seq' in step || 'sleep' in step) {
        await this.flush()
        if ('wait_seq' in step) await this.waitFor(() => this.seq >= step.wait_seq)
        else await sleep(step.sleep)
      } else {
        this.edit(step)
      }
    }
    await this.flush()
    if (spec.until_seq !== undefined) await this.waitFor(() => this.seq >= spec.until_seq)
    if (spec.until_received !== undefined) {
      await this.waitFor(() => this.received.length >= spec.until_received)
    }
    if (spec.settle_ms) await sleep(spec.settle_ms)
    if (this.fatal) throw this.fatal
    return this.result()
  }

  result () {
    return {
      event: 'result',
      text: this.ytext.toString(),
      state_vector: b64(Y.encodeStateVector(this.ydoc)),
      state: b64(Y.encodeStateAsUpdate(this.ydoc)),
      seq: this.seq,
      join: this.join,
      acks: this.acks,
      received: this.received,
      dropped: this.dropped,
      syncs: this.syncs,
      binary_types: [...this.binaryTypes].sort()
    }
  }

  close () {
    this.closing = true
    clearTimeout(this.gapTimer)
    if (this.socket) this.socket.disconnect()
  }
}

async function main () {
  const spec = await readSpec()
  const client = new YjsClient(spec)
  const timeoutMs = spec.timeout_ms ?? 20000
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => {
      const where = { text: client.ytext.toString(), seq: client.seq, seen: [...client.seen] }
      reject(new Failure(`timed out after ${timeoutMs} ms: ${JSON.stringify(where)}`, 2))
    }, timeoutMs)
  })
  const fatal = new Promise((resolve, reject) => { client.onFatal = reject })
  try {
    const result = await Promise.race([client.run(), timeout, fatal])
    emit(result)
  } finally {
    clearTimeout(timer)
    client.close()
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`yjs_client: ${error instanceof Failure ? error.message : error.stack}\n`)
    process.exit(error.exitCode || 1)
  }
)
