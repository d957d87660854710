/**
 * One live document: a Y.Doc kept in sync with the server, and its Awareness.
 *
 * - Local updates queue and are sent one `doc:update` at a time, the queue merged with
 *   Y.mergeUpdates; each is retried until acknowledged (offline, they wait for the next
 *   connection). Only a refusal that no retry can change (`too_large`, `bad_request`) drops
 *   one, with an `error` event.
 * - Remote updates are applied with this object as the transaction origin.
 * - Every update the document gets has a seq, consecutive per document: a gap that does not
 *   fill within `gapGraceMs` is asked for with `doc:sync` and the state vector.
 */
import * as Y from 'yjs'
import { Awareness, removeAwarenessStates } from 'y-protocols/awareness'
import { Emitter } from './emitter.js'
import { CollabError, errorOf } from './errors.js'
import {
  NO_CURSOR, REMOTE_ORIGIN, clientIdForSid, colorFor, decodePosition, encodePosition, setRemoteState
} from './awareness.js'
import { retryDelayMs } from './util.js'

/** The server refuses updates over 1 MiB; a merged batch stays well under it. */
export const MAX_BATCH_BYTES = 256 * 1024
/** The server relays relative positions of at most 1 KiB. */
export const MAX_CURSOR_BYTES = 1024

/** Refusals after which the same bytes will never be accepted: the update is dropped. */
const FINAL_CODES = new Set(['too_large', 'bad_request'])

/**
 * @typedef {{update: Uint8Array, start: number, end: number}} Batch
 *   local updates start+1..end (numbered from 1 in the order they were made)
 */

export class CollabDocument extends Emitter {
  /**
   * @param {import('./workspace.js').Workspace} workspace
   * @param {string} id
   */
  constructor (workspace, id) {
    super()
    this.workspace = workspace
    this.client = workspace.client
    this.id = id
    this.ydoc = new Y.Doc()
    this.ytext = this.ydoc.getText('content')
    this.awareness = new Awareness(this.ydoc)
    /** @type {number | null} every update up to this seq is applied (null: not synced yet) */
    this.seq = null
    this.synced = false
    this.stopped = false
    /** counters, for monitoring and tests */
    this.stats = { sent: 0, acked: 0, received: 0, syncs: 0, gapSyncs: 0, dropped: 0 }
    /** @type {Set<number>} seqs received beyond a gap */
    this._ahead = new Set()
    /** @type {Batch[]} */
    this._pending = []
    /** @type {Batch | null} */
    this._inflight = null
    this._made = 0 // local updates made
    this._settled = 0 // local updates acknowledged (or dropped)
    /** @type {{n: number, resolve: () => void, reject: (error: Error) => void}[]} */
    this._waiters = []
    this._retries = 0
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._retryTimer = null
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._gapTimer = null
    /** @type {Promise<void> | null} */
    this._syncing = null
    this._syncAgain = false
    this._readOnlyReported = false
    this._cursorShown = false
    /** @type {Map<number, {userId: string, sid: string}>} awareness clientID -> remote socket */
    this._remote = new Map()
    /** @type {(value: void) => void} */
    let resolveSynced = () => {}
    /** @type {(error: Error) => void} */
    let rejectSynced = () => {}
    /** Resolves once the first catch-up (join or doc:sync) is applied. */
    this.whenSynced = new Promise((resolve, reject) => {
      resolveSynced = resolve
      rejectSynced = reject
    })
    this.whenSynced.catch(() => {}) // rejected on stop; awaited or not
    this._resolveSynced = resolveSynced
    this._rejectSynced = rejectSynced
    this._onLocalUpdate = this._onLocalUpdate.bind(this)
    this._onAwarenessUpdate = this._onAwarenessUpdate.bind(this)
    this.ydoc.on('update', this._onLocalUpdate)
    this.awareness.on('update', this._onAwarenessUpdate)
  }

  /** Local updates not acknowledged yet (queued, held or in flight). */
  get pendingCount () {
    return this._made - this._settled
  }

  /**
   * Resolves once every local update made so far is acknowledged by the server (stored).
   * Rejects with a CollabError: `read_only` (the role cannot edit), `too_large` /
   * `bad_request` (an update was refused and dropped), or the reason sync stopped.
   * @returns {Promise<void>}
   */
  flushed () {
    if (this.stopped) return Promise.reject(new CollabError(this._stopReason || 'closed', 'This document no longer syncs'))
    if (this._settled >= this._made) return Promise.resolve()
    if (this.workspace.joined && !this.workspace.canEdit) return Promise.reject(readOnlyError())
    return new Promise((resolve, reject) => this._waiters.push({ n: this._made, resolve, reject }))
  }

  /** Stop syncing this document (the Y.Doc stays as it is). */
  destroy () {
    if (this.workspace.documents.get(this.id) === this) this.workspace.documents.delete(this.id)
    if (this.workspace._status.doc_id === this.id) this.workspace.setPresence({ docId: null })
    this._stop('destroyed')
  }

  // --- sending ------------------------------------------------------------------------------

  /**
   * @param {Uint8Array} update
   * @param {any} origin
   */
  _onLocalUpdate (update, origin) {
    if (origin === this || this.stopped) return
    this._made++
    this._pending.push({ update, start: this._made - 1, end: this._made })
    this._pump()
  }

  /** Take the next batch: the queue's head, merged up to MAX_BATCH_BYTES. */
  _takeBatch () {
    let count = 0
    let bytes = 0
    while (count < this._pending.length && (count === 0 || bytes + this._pending[count].update.length <= MAX_BATCH_BYTES)) {
      bytes += this._pending[count].update.length
      count++
    }
    const parts = this._pending.splice(0, count)
    if (parts.length === 1) return parts[0]
    return { update: Y.mergeUpdates(parts.map((part) => part.update)), start: parts[0].start, end: parts[parts.length - 1].end }
  }

  /** @param {Batch} batch */
  _requeue (batch) {
    if (this._inflight === batch) this._inflight = null
    this._pending.unshift(batch)
  }

  _pump () {
    if (this._inflight || this.stopped || this._retryTimer !== null || this._pending.length === 0) return
    if (!this.workspace.joined || !this.client.connected) return // sent once (re-)joined
    if (!this.workspace.canEdit) {
      this._reportReadOnly()
      return
    }
    const batch = this._takeBatch()
    this._inflight = batch
    this.stats.sent++
    const payload = { workspace_id: this.workspace.id, doc_id: this.id, update: batch.update }
    this.client.emitAck('doc:update', payload).then((ack) => this._onAck(batch, ack))
  }

  /**
   * @param {Batch} batch
   * @param {any} ack
   */
  _onAck (batch, ack) {
    if (this._inflight !== batch) return // requeued meanwhile (disconnect) or stopped
    this._inflight = null
    if (ack.ok) {
      this._retries = 0
      this.stats.acked++
      this._settle(batch.end)
      if (typeof ack.seq === 'number') this._noteSeq(ack.seq)
      this._pump()
      return
    }
    const error = errorOf(ack)
    if (FINAL_CODES.has(error.code)) {
      this.stats.dropped++
      this._fail(error, batch.start)
      this._settle(batch.end)
      this._pump()
      return
    }
    this._requeue(batch)
    if (error.code === 'disconnected') return // re-sent once joined again
    if (error.code === 'forbidden') {
      // Not joined any more, or not allowed to edit: the re-join tells which.
      this.emit('error', error)
      this.workspace._recheckAccess()
      return
    }
    if (error.code === 'not_found') { // the document was deleted
      this._report(error)
      this._stop('not_found')
      return
    }
    if (error.code === 'token_expired') {
      this.client.renewToken('token_expired').then(() => this._pump(), () => this._retryLater(error))
      return
    }
    if (error.code !== 'rate_limited') this.emit('error', error)
    this._retryLater(error)
  }

  /** @param {CollabError} error */
  _retryLater (error) {
    if (this._retryTimer !== null || this.stopped) return
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null
      this._pump()
    }, retryDelayMs(error, ++this._retries))
  }

  /** @param {number} upTo local updates up to this one are acknowledged (or dropped) */
  _settle (upTo) {
    this._settled = Math.max(this._settled, upTo)
    this._waiters = this._waiters.filter((waiter) => {
      if (waiter.n > this._settled) return true
      waiter.resolve()
      return false
    })
  }

  /**
   * Reject the flushed() waiters that include local updates after `after`.
   * @param {Error} error
   * @param {number} [after]
   */
  _fail (error, after = -1) {
    this._waiters = this._waiters.filter((waiter) => {
      if (waiter.n <= after) return true
      waiter.reject(error)
      return false
    })
    this._report(error)
  }

  /** @param {Error} error */
  _report (error) {
    this.emit('error', error)
    this.workspace.emit('error', Object.assign(error, { docId: this.id }))
  }

  _reportReadOnly () {
    if (this._readOnlyReported) return
    this._readOnlyReported = true
    this._fail(readOnlyError(this.workspace.role))
  }

  // --- receiving ----------------------------------------------------------------------------

  /** @param {any} message a doc:update broadcast */
  _onRemoteUpdate (message) {
    if (this.stopped) return
    this.stats.received++
    this._apply(message.update)
    if (typeof message.seq === 'number') this._noteSeq(message.seq)
  }

  /** @param {any} update */
  _apply (update) {
    const bytes = toBytes(update)
    if (!bytes || bytes.length === 0) return
    try {
      Y.applyUpdate(this.ydoc, bytes, this)
    } catch (error) {
      this.emit('error', new CollabError('bad_request', `An update from the server did not apply: ${error}`))
    }
  }

  /** @param {number} seq */
  _noteSeq (seq) {
    if (this.seq !== null && seq <= this.seq) return
    this._ahead.add(seq)
    this._drainAhead()
  }

  _drainAhead () {
    if (this.seq === null) return // the catch-up's seq comes first
    for (const seq of this._ahead) if (seq <= this.seq) this._ahead.delete(seq)
    while (this._ahead.delete(this.seq + 1)) this.seq++
    if (this._ahead.size === 0) {
      if (this._gapTimer !== null) clearTimeout(this._gapTimer)
      this._gapTimer = null
    } else if (this._gapTimer === null) {
      const from = this.seq
      this._gapTimer = setTimeout(() => {
        this._gapTimer = null
        if (this._ahead.size > 0 && !this.stopped) {
          this.stats.gapSyncs++
          this._sync('gap', from)
        }
      }, this.client.options.gapGraceMs)
    }
  }

  /**
   * Ask for what this replica lacks (`doc:sync` with its state vector).
   * @param {string} [reason] "open" (a document opened after the join) or "gap"
   * @param {number | null} [from] the seq before the gap
   */
  _sync (reason = 'open', from = this.seq) {
    if (this.stopped) return
    if (this._syncing) {
      this._syncAgain = true
      return
    }
    const payload = { workspace_id: this.workspace.id, doc_id: this.id, state_vector: this._stateVector() }
    this._syncing = this.client.request('doc:sync', payload).then(
      (ack) => {
        this._syncing = null
        this.stats.syncs++
        this._caughtUp(ack.update, ack.seq)
        this.emit('sync', { reason, from, seq: ack.seq })
        if (this._syncAgain) {
          this._syncAgain = false
          if (this._ahead.size > 0) this._sync('gap', this.seq)
        }
      },
      (/** @type {CollabError} */ error) => {
        this._syncing = null
        this._syncAgain = false
        if (this.stopped || error.code === 'disconnected') return // the re-join catches up
        if (error.code === 'not_found') {
          this._report(error)
          this._stop('not_found')
          return
        }
        this.emit('error', error)
        if (error.code === 'forbidden') this.workspace._recheckAccess()
        else setTimeout(() => this._sync(reason, from), retryDelayMs(error, ++this._retries))
      }
    )
  }

  _stateVector () {
    return Y.encodeStateVector(this.ydoc)
  }

  /**
   * A catch-up (join or doc:sync): what this replica lacked, up to `seq`.
   * @param {any} update
   * @param {number} seq
   */
  _caughtUp (update, seq) {
    if (this.stopped) return
    this._apply(update)
    if (typeof seq === 'number') this.seq = Math.max(this.seq ?? 0, seq)
    this._drainAhead()
    if (!this.synced) {
      this.synced = true
      this._resolveSynced()
    }
    this._pump()
  }

  // --- connection and access ----------------------------------------------------------------

  _onJoined () {
    this._setDefaultUser()
    this._pump()
    this._sendCursor(true)
  }

  _onDisconnect () {
    if (this._inflight) this._requeue(this._inflight)
    if (this._gapTimer !== null) clearTimeout(this._gapTimer)
    this._gapTimer = null
    this._removeRemote(() => true)
  }

  _onAccess () {
    if (this.workspace.canEdit) {
      this._readOnlyReported = false
      this._pump()
    } else if (this._pending.length > 0) {
      this._reportReadOnly()
    }
  }

  /** @param {string} reason */
  _stop (reason) {
    if (this.stopped) return
    this.stopped = true
    this._stopReason = reason
    this.ydoc.off('update', this._onLocalUpdate)
    this.awareness.off('update', this._onAwarenessUpdate)
    for (const timer of [this._retryTimer, this._gapTimer]) if (timer !== null) clearTimeout(timer)
    this._retryTimer = this._gapTimer = null
    this._inflight = null
    this._removeRemote(() => true)
    const error = new CollabError(reason, `This document no longer syncs (${reason})`)
    for (const waiter of this._waiters) waiter.reject(error)
    this._waiters = []
    if (!this.synced) this._rejectSynced(error)
    this.awareness.destroy() // its renewal timer would keep a process alive
  }

  // --- awareness ----------------------------------------------------------------------------

  /** A `user` field for the local state, if the app set none: our username and color. */
  _setDefaultUser () {
    const state = this.awareness.getLocalState()
    const userId = this.client.userId
    if (!state || state.user || !userId) return
    const me = this.workspace.presence.get(userId)
    this.awareness.setLocalStateField('user', { name: me ? me.username : userId, ...colorFor(userId) })
  }

  /**
   * @param {{added: number[], updated: number[], removed: number[]}} changes
   * @param {any} origin
   */
  _onAwarenessUpdate ({ added, updated, removed }, origin) {
    const id = this.awareness.clientID
    if (origin === REMOTE_ORIGIN || ![...added, ...updated, ...removed].includes(id)) return
    this._sendCursor(false)
  }

  /**
   * Send the local cursor (`cursor:update`, throttled). Awareness renews the local state
   * every 15 s, which re-sends it: remote states time out after 30 s without one.
   * @param {boolean} rejoined
   */
  _sendCursor (rejoined) {
    if (!this.workspace.joined || this.stopped) return
    const cursor = this.awareness.getLocalState()?.cursor
    /** @type {Uint8Array} */
    let anchor = NO_CURSOR
    /** @type {Uint8Array} */
    let head = NO_CURSOR
    if (cursor && cursor.anchor && cursor.head) {
      try {
        anchor = encodePosition(cursor.anchor)
        head = encodePosition(cursor.head)
      } catch {
        return // not a relative position: nothing to show
      }
      if (anchor.length > MAX_CURSOR_BYTES || head.length > MAX_CURSOR_BYTES) return
      if (this.workspace._status.doc_id !== this.id) this.workspace.setPresence({ docId: this.id, status: 'active' })
    } else if (!this._cursorShown || rejoined) {
      return // nothing shown, nothing to take back
    }
    this._cursorShown = anchor.length > 0
    const key = `${this.workspace.id} ${this.id}`
    this.client._cursors.push(key, { workspace_id: this.workspace.id, doc_id: this.id, anchor, head })
  }

  /** @param {any} message a relayed cursor:update */
  _onRemoteCursor (message) {
    if (this.stopped || typeof message.sid !== 'string') return
    const clientID = clientIdForSid(message.sid, this.awareness.clientID)
    if (message.doc_id !== this.id) { // that socket's cursor moved to another document
      this._removeRemote((id) => id === clientID)
      return
    }
    let anchor, head
    try {
      anchor = decodePosition(toBytes(message.anchor) ?? message.anchor, this.ytext)
      head = decodePosition(toBytes(message.head) ?? message.head, this.ytext)
    } catch {
      return // not a position we can read: show nothing rather than break
    }
    const userId = String(message.user_id)
    this._remote.set(clientID, { userId, sid: message.sid })
    setRemoteState(this.awareness, clientID, {
      user: { name: String(message.username), ...colorFor(userId) },
      cursor: anchor && head ? { anchor, head } : null,
      user_id: userId,
      sid: message.sid
    })
  }

  /** @param {{left: string[], updated: any[], joined: any[]}} diff */
  _onPresence (diff) {
    const left = new Set(diff.left)
    // A user with one connection whose active document is another one is not here.
    for (const entry of diff.updated) {
      if (entry.connections === 1 && entry.doc_id !== this.id) left.add(entry.user_id)
    }
    if (left.size > 0) this._removeRemote((_, remote) => left.has(remote.userId))
  }

  /** @param {(clientID: number, remote: {userId: string, sid: string}) => boolean} predicate */
  _removeRemote (predicate) {
    const gone = [...this._remote].filter(([id, remote]) => predicate(id, remote)).map(([id]) => id)
    for (const id of gone) this._remote.delete(id)
    if (gone.length > 0) removeAwarenessStates(this.awareness, gone, REMOTE_ORIGIN)
  }
}

/** @param {string | null} [role] */
const readOnlyError = (role) => new CollabError(
  'read_only',
  `Your role (${role || 'reader'}) cannot edit this document: local changes are not sent`
)

/**
 * Bytes received from Socket.IO (ArrayBuffer in browsers, Buffer in node) as a Uint8Array;
 * null for anything else.
 * @param {any} value
 * @returns {Uint8Array | null}
 */
export const toBytes = (value) => {
  if (value instanceof Uint8Array) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  if (value instanceof ArrayBuffer) return new Uint8Array(value)
  return null
}
