/**
 * A joined workspace: its room, the caller's role, who is present, its open documents.
 */
import { Emitter } from './emitter.js'
import { CollabError, errorOf } from './errors.js'
import { CollabDocument } from './document.js'
import { retryDelayMs, sleep } from './util.js'

/** The server takes at most this many documents' state vectors in one join. */
export const MAX_DOCS_PER_JOIN = 100

/**
 * @typedef {object} PresenceEntry
 * @property {string} user_id
 * @property {string} username
 * @property {number} connections
 * @property {'active' | 'idle' | 'away'} status
 * @property {string | null} doc_id
 */

export class Workspace extends Emitter {
  /**
   * @param {import('./client.js').CollabClient} client
   * @param {string} id
   */
  constructor (client, id) {
    super()
    this.client = client
    this.id = id
    /** @type {string | null} owner, collaborator, viewer; null for a public project's reader */
    this.role = null
    this.canEdit = false
    /** @type {Map<string, PresenceEntry>} user id -> presence */
    this.presence = new Map()
    /** @type {Map<string, CollabDocument>} */
    this.documents = new Map()
    /** joined now (the room is ours on the current connection) */
    this.joined = false
    /** left, revoked or closed: nothing syncs any more */
    this.stopped = false
    /** @type {Set<string>} */
    this.watchedJobs = new Set()
    /** @type {Promise<void>} */
    this._joining = Promise.resolve()
    this._rejoinAttempts = 0
    /** @type {{status: string, doc_id: string | null}} */
    this._status = { status: 'active', doc_id: null }
  }

  /**
   * The live document `docId` of this workspace (one object per id): `doc.ydoc` holds its
   * text in `getText("content")`, `doc.awareness` its cursors.
   * @param {string} docId
   * @returns {CollabDocument}
   */
  document (docId) {
    if (this.stopped) throw new CollabError('revoked', 'This workspace was left or revoked')
    let doc = this.documents.get(docId)
    if (!doc) {
      doc = new CollabDocument(this, docId)
      this.documents.set(docId, doc)
      if (this.joined) {
        doc._sync()
        doc._onJoined()
      }
    }
    return doc
  }

  /**
   * Set this connection's presence (`presence:update`, throttled to the server's rate).
   * Documents set `docId` themselves when the local cursor enters them.
   * @param {{status?: 'active' | 'idle' | 'away', docId?: string | null}} presence
   */
  setPresence ({ status, docId } = {}) {
    if (status !== undefined) this._status.status = status
    if (docId !== undefined) this._status.doc_id = docId
    if (this.joined) this.client._presence.push(this.id, { workspace_id: this.id, ...this._status })
  }

  /**
   * Emit this job's `job:status` / `job:output` events on this workspace (the server's job
   * events carry no workspace id; see the README).
   * @param {string} jobId
   */
  watchJob (jobId) {
    this.watchedJobs.add(jobId)
  }

  /** Leave the workspace: documents stop syncing (their Y.Docs stay as they are). */
  async leave () {
    const wasJoined = this.joined && this.client.connected
    this._stop('left')
    if (this.client.workspaces.get(this.id) === this) this.client.workspaces.delete(this.id)
    if (wasJoined) {
      const ack = await this.client.emitAck('workspace:leave', { workspace_id: this.id })
      if (!ack.ok && ack.error.code !== 'disconnected') throw errorOf(ack)
    }
  }

  // --- internals --------------------------------------------------------------------------

  /** Join (or re-join after a reconnect) with the state vectors of the open documents. */
  _join () {
    this._joining = (async () => {
      const docs = [...this.documents.values()].filter((doc) => !doc.stopped)
      const first = docs.slice(0, MAX_DOCS_PER_JOIN)
      const payload = { workspace_id: this.id, docs: Object.fromEntries(first.map((doc) => [doc.id, doc._stateVector()])) }
      const ack = await this.client.request('workspace:join', payload)
      if (this.stopped) return
      this._applyAccess(ack.role, ack.can_edit)
      this.presence = new Map((ack.presence || []).map((/** @type {PresenceEntry} */ entry) => [entry.user_id, entry]))
      this.joined = true
      this._rejoinAttempts = 0
      this.emit('presence', { joined: [...this.presence.values()], left: [], updated: [], reset: true })
      for (const doc of first) doc._caughtUp(ack.docs[doc.id], ack.seqs[doc.id])
      for (const doc of docs.slice(MAX_DOCS_PER_JOIN)) doc._sync()
      if (this._status.doc_id !== null || this._status.status !== 'active') this.setPresence({})
      for (const doc of docs) doc._onJoined()
    })()
    return this._joining
  }

  _onReconnect () {
    if (this.stopped) return
    this._rejoin()
  }

  /** Join again; retried while the connection lasts, unless the server says no for good. */
  _rejoin () {
    this._join().catch(async (/** @type {CollabError} */ error) => {
      if (this.stopped) return
      if (error.code === 'not_found' || error.code === 'forbidden') {
        this._onRevoked({ reason: 'access_removed' })
        return
      }
      this.emit('error', error)
      if (!this.client.connected) return // the next connect re-joins
      await sleep(retryDelayMs(error, ++this._rejoinAttempts))
      if (!this.stopped && !this.joined && this.client.connected) this._rejoin()
    })
  }

  _onDisconnect () {
    this.joined = false
    for (const doc of this.documents.values()) doc._onDisconnect()
  }

  /**
   * @param {string | null} role
   * @param {boolean} canEdit
   */
  _applyAccess (role, canEdit) {
    const changed = role !== this.role || canEdit !== this.canEdit
    this.role = role ?? null
    this.canEdit = !!canEdit
    if (changed) for (const doc of this.documents.values()) doc._onAccess()
    return changed
  }

  /** @param {any} message */
  _onUpdate (message) {
    this.documents.get(message.doc_id)?._onRemoteUpdate(message)
  }

  /** @param {any} message */
  _onCursor (message) {
    for (const doc of this.documents.values()) doc._onRemoteCursor(message)
  }

  /**
   * A version of one of the workspace's documents was made (doc:version): the workspace emits
   * `version` {docId, version} for every document, an open document `version` {version}.
   * @param {any} message
   */
  _onVersion (message) {
    if (this.stopped || !message) return
    this.emit('version', { docId: message.doc_id, version: message.version })
    this.documents.get(message.doc_id)?.emit('version', { version: message.version })
  }

  /** @param {any} message */
  _onPresence (message) {
    const diff = { joined: message.joined || [], left: message.left || [], updated: message.updated || [] }
    for (const entry of [...diff.joined, ...diff.updated]) this.presence.set(entry.user_id, entry)
    for (const userId of diff.left) this.presence.delete(userId)
    for (const doc of this.documents.values()) doc._onPresence(diff)
    this.emit('presence', diff)
  }

  /** @param {any} message */
  _onRevoked (message) {
    if (this.stopped) return
    this._stop('revoked')
    if (this.client.workspaces.get(this.id) === this) this.client.workspaces.delete(this.id)
    this.emit('revoked', { reason: message.reason })
  }

  /** @param {any} message */
  _onRoleChanged (message) {
    if (this.stopped) return
    this._applyAccess(message.role, message.can_edit)
    this.emit('role-changed', { role: this.role, canEdit: this.canEdit })
  }

  /**
   * @param {string} event
   * @param {any} message
   */
  _onJob (event, message) {
    if (this.stopped || !message) return
    if (message.workspace_id === this.id || this.watchedJobs.has(message.job_id)) this.emit(event, message)
  }

  /**
   * A document's doc:update was refused `forbidden`: learn the role again by re-joining.
   */
  _recheckAccess () {
    if (this.joined && !this.stopped && this.client.connected) this._rejoin()
  }

  /** @param {string} reason */
  _stop (reason) {
    if (this.stopped) return
    this.stopped = true
    this.joined = false
    this.client._cursors.drop((key) => key.startsWith(this.id + ' '))
    this.client._presence.drop((key) => key === this.id)
    for (const doc of this.documents.values()) doc._stop(reason)
  }
}
