/**
 * The connection: one Socket.IO socket (WebSocket only, so several server instances need no
 * sticky sessions) authenticated with an access token, renewed ahead of its expiry.
 */
import { io } from 'socket.io-client'
import { Emitter } from './emitter.js'
import { CollabError, errorOf } from './errors.js'
import { claimsOf, renewDelayMs } from './token.js'
import { KeyedThrottle } from './throttle.js'
import { Workspace } from './workspace.js'
import { retryDelayMs, sleep } from './util.js'

/** Codes of a refused connection that another try will not change (without a new token). */
const FATAL_CONNECT_CODES = new Set(['unauthorized', 'token_expired'])

/**
 * @typedef {object} CollabClientOptions
 * @property {string} url the server, e.g. "https://collab.example.com"
 * @property {string} [token] an access token
 * @property {() => Promise<string> | string} [getToken] called for a token on every
 *   (re)connect and to renew it before it expires (or when an event says `token_expired`)
 * @property {boolean} [autoRenew] renew the token ahead of its `exp` (default true)
 * @property {number} [renewAheadMs] how long before `exp` (default: a quarter of the
 *   token's lifetime, at most 60 s)
 * @property {number} [ackTimeoutMs] how long to wait for an ack (default 10000)
 * @property {number} [cursorRate] cursor:update messages per second (default 15; the
 *   server allows 20)
 * @property {number} [presenceRate] presence:update messages per second (default 4; the
 *   server allows 5)
 * @property {number} [gapGraceMs] how long a gap in a document's seqs may last before
 *   `doc:sync` fills it (messages from two instances may arrive out of order; default 200)
 * @property {Partial<import('socket.io-client').ManagerOptions & import('socket.io-client').SocketOptions>} [socketOptions]
 *   passed to socket.io-client's `io()` (e.g. `reconnectionDelayMax`)
 */

/** @typedef {'connecting' | 'connected' | 'disconnected'} Status */

export class CollabClient extends Emitter {
  /** @param {CollabClientOptions} options */
  constructor (options) {
    super()
    if (!options || typeof options.url !== 'string') throw new TypeError('CollabClient needs a url')
    if (!options.token && typeof options.getToken !== 'function') {
      throw new TypeError('CollabClient needs a token or getToken')
    }
    this.options = {
      autoRenew: true,
      ackTimeoutMs: 10_000,
      cursorRate: 15,
      presenceRate: 4,
      gapGraceMs: 200,
      ...options
    }
    /** @type {string | null} the access token in use */
    this.token = options.token || null
    /** @type {Status} */
    this.status = 'disconnected'
    /** @type {Map<string, Workspace>} joined (or joining) workspaces by id */
    this.workspaces = new Map()
    /** @type {import('socket.io-client').Socket | null} */
    this.socket = null
    this._closed = false
    this._everConnected = false
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._renewTimer = null
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._retryTimer = null
    /** @type {Promise<string> | null} */
    this._renewing = null
    /** @type {Promise<string> | null} */
    this._fetching = null
    this._connectAttempts = 0
    const volatile = (/** @type {string} */ event) => (/** @type {any} */ payload) =>
      this.emitAck(event, payload).then((ack) => {
        if (!ack.ok && ack.error.code === 'token_expired') this.renewToken('token_expired').catch(() => {})
      })
    this._cursors = new KeyedThrottle(this.options.cursorRate, this.options.cursorRate, volatile('cursor:update'))
    this._presence = new KeyedThrottle(this.options.presenceRate, 2, volatile('presence:update'))
  }

  /** The user id of the token (its `sub`), or null. */
  get userId () {
    const claims = this.token ? claimsOf(this.token) : null
    return claims && claims.sub ? String(claims.sub) : null
  }

  get connected () {
    return !!this.socket && this.socket.connected
  }

  /**
   * Connect; resolves once connected, rejects with a CollabError (`err.code`: unauthorized,
   * token_expired, too_many_connections, ...) if the server refuses. After that the client
   * reconnects by itself until `close()`.
   * @returns {Promise<void>}
   */
  connect () {
    if (this._closed) return Promise.reject(new CollabError('closed', 'The client was closed'))
    if (this.connected) return Promise.resolve()
    if (!this.socket) this._createSocket()
    const socket = /** @type {import('socket.io-client').Socket} */ (this.socket)
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        socket.off('connect', onConnect)
        socket.off('connect_error', onError)
      }
      const onConnect = () => {
        cleanup()
        resolve()
      }
      const onError = (/** @type {any} */ error) => {
        if (this._everConnected) return // reconnecting: the client keeps trying
        cleanup()
        socket.disconnect()
        this._setStatus('disconnected')
        reject(connectErrorOf(error))
      }
      socket.on('connect', onConnect)
      socket.on('connect_error', onError)
      this._setStatus('connecting')
      socket.connect()
    })
  }

  /** Disconnect for good: every workspace's sync stops. */
  close () {
    this._closed = true
    this._clearTimers()
    this._cursors.clear()
    this._presence.clear()
    for (const workspace of [...this.workspaces.values()]) workspace._stop('closed')
    this.workspaces.clear()
    if (this.socket) {
      this.socket.removeAllListeners()
      this.socket.disconnect()
    }
    this._setStatus('disconnected')
  }

  /**
   * Join a workspace (its room, presence and documents).
   * @param {string} workspaceId
   * @returns {Promise<Workspace>}
   */
  async joinWorkspace (workspaceId) {
    const existing = this.workspaces.get(workspaceId)
    if (existing) {
      await existing._joining
      return existing
    }
    const workspace = new Workspace(this, workspaceId)
    this.workspaces.set(workspaceId, workspace)
    try {
      await workspace._join()
    } catch (error) {
      if (this.workspaces.get(workspaceId) === workspace) this.workspaces.delete(workspaceId)
      workspace._stop('join_failed')
      throw error
    }
    return workspace
  }

  /**
   * Send an event and resolve with its ack (`{ok: true, ...}`); a refusal rejects with a
   * CollabError. `token_expired` renews the token and tries again; `rate_limited` waits
   * `details.retry_after_ms` (or a short backoff) and tries again.
   * @param {string} event
   * @param {object} payload
   * @param {{attempts?: number}} [options]
   * @returns {Promise<any>}
   */
  async request (event, payload, { attempts = 5 } = {}) {
    for (let attempt = 1; ; attempt++) {
      const ack = await this.emitAck(event, payload)
      if (ack.ok) return ack
      const error = errorOf(ack)
      if (attempt < attempts && error.code === 'token_expired' && this.options.getToken) {
        await this.renewToken('token_expired')
        continue
      }
      if (attempt < attempts && error.code === 'rate_limited') {
        await sleep(retryDelayMs(error, attempt))
        continue
      }
      throw error
    }
  }

  /**
   * Send an event once; resolves with its ack, or a client-side error ack (`disconnected`,
   * `timeout`). Never rejects.
   * @param {string} event
   * @param {object} payload
   * @returns {Promise<any>}
   */
  emitAck (event, payload) {
    const socket = this.socket
    if (!socket || !socket.connected) {
      return Promise.resolve(clientError('disconnected', 'Not connected'))
    }
    return socket.timeout(this.options.ackTimeoutMs).emitWithAck(event, payload).then(
      (ack) => (ack && typeof ack === 'object' ? ack : clientError('internal', 'Malformed ack')),
      () => clientError(socket.connected ? 'timeout' : 'disconnected', `No ack for ${event}`)
    )
  }

  /**
   * Get a fresh token from `getToken` and hand it to the socket (`auth:refresh`). Concurrent
   * calls share one renewal.
   * @param {string} [reason] "scheduled" or "token_expired" (passed to the "token" event)
   * @returns {Promise<string>}
   */
  renewToken (reason = 'scheduled') {
    if (this._renewing) return this._renewing
    if (!this.options.getToken) return Promise.reject(new CollabError('token_expired', 'No getToken to renew the token with'))
    this._renewing = (async () => {
      try {
        const token = await this._fetchToken()
        const ack = await this.emitAck('auth:refresh', { token })
        if (!ack.ok) throw errorOf(ack)
        this.token = token
        this._scheduleRenewal()
        this.emit('token', { reason, expiresAt: ack.expires_at })
        return token
      } catch (error) {
        this.emit('error', error)
        throw error
      } finally {
        this._renewing = null
      }
    })()
    return this._renewing
  }

  // --- internals --------------------------------------------------------------------------

  _createSocket () {
    const socket = io(this.options.url, {
      transports: ['websocket'],
      autoConnect: false,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      ...this.options.socketOptions,
      auth: (/** @type {(data: object) => void} */ callback) => {
        this._tokenForConnect().then(
          (token) => callback({ token }),
          (error) => {
            this.emit('error', error)
            callback({ token: this.token || '' })
          }
        )
      }
    })
    this.socket = socket
    socket.on('connect', () => this._onConnect())
    socket.on('disconnect', (reason) => this._onDisconnect(reason))
    socket.on('connect_error', (error) => this._onConnectError(error))
    socket.io.on('reconnect_attempt', () => this._setStatus('connecting'))
    socket.on('doc:update', (message) => this._route(message, (ws) => ws._onUpdate(message)))
    socket.on('doc:version', (message) => this._route(message, (ws) => ws._onVersion(message)))
    socket.on('cursor:update', (message) => this._route(message, (ws) => ws._onCursor(message)))
    socket.on('presence:diff', (message) => this._route(message, (ws) => ws._onPresence(message)))
    socket.on('workspace:revoked', (message) => this._route(message, (ws) => ws._onRevoked(message)))
    socket.on('workspace:role_changed', (message) => this._route(message, (ws) => ws._onRoleChanged(message)))
    socket.on('job:status', (message) => this._job('job:status', message))
    socket.on('job:output', (message) => this._job('job:output', message))
  }

  /** @returns {Promise<string>} */
  async _tokenForConnect () {
    if (this.options.getToken) this.token = await this._fetchToken()
    return /** @type {string} */ (this.token)
  }

  /**
   * One getToken() call at a time (a refresh-token rotation must not run twice at once).
   * @returns {Promise<string>}
   */
  _fetchToken () {
    if (!this._fetching) {
      const getToken = /** @type {() => Promise<string> | string} */ (this.options.getToken)
      this._fetching = Promise.resolve()
        .then(() => getToken())
        .then((token) => {
          if (typeof token !== 'string' || !token) throw new CollabError('unauthorized', 'getToken gave no token')
          return token
        })
        .finally(() => { this._fetching = null })
    }
    return this._fetching
  }

  _onConnect () {
    this._everConnected = true
    this._connectAttempts = 0
    this._setStatus('connected')
    this._scheduleRenewal()
    for (const workspace of this.workspaces.values()) workspace._onReconnect()
  }

  /** @param {string} reason */
  _onDisconnect (reason) {
    if (this._renewTimer !== null) clearTimeout(this._renewTimer)
    this._renewTimer = null
    for (const workspace of this.workspaces.values()) workspace._onDisconnect()
    this._setStatus(this._closed ? 'disconnected' : (this.socket?.active ? 'connecting' : 'disconnected'))
    // A disconnect by the server (e.g. its token sweep) is not retried by socket.io-client.
    if (reason === 'io server disconnect' && !this._closed) this._retryConnect()
  }

  /** @param {any} error */
  _onConnectError (error) {
    if (!this._everConnected || this._closed) return // connect() reports it
    const failure = connectErrorOf(error)
    this.emit('error', failure)
    if (this.socket?.active) return // socket.io-client retries by itself (network errors)
    // Refused by the server: try again only if another try may succeed.
    if (FATAL_CONNECT_CODES.has(failure.code) && !this.options.getToken) {
      this._setStatus('disconnected')
      return
    }
    this._retryConnect()
  }

  _retryConnect () {
    if (this._retryTimer !== null || this._closed) return
    this._connectAttempts++
    const delay = Math.min(30_000, 500 * 2 ** Math.min(this._connectAttempts, 6)) * (0.5 + Math.random() / 2)
    this._setStatus('connecting')
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null
      if (!this._closed && this.socket && !this.socket.connected) this.socket.connect()
    }, delay)
  }

  _scheduleRenewal () {
    if (this._renewTimer !== null) clearTimeout(this._renewTimer)
    this._renewTimer = null
    if (!this.options.autoRenew || !this.options.getToken || !this.token) return
    const delay = renewDelayMs(this.token, Date.now(), this.options.renewAheadMs)
    if (delay === null) return
    this._renewTimer = setTimeout(() => {
      this._renewTimer = null
      this.renewToken('scheduled').catch(() => {
        if (this.connected) this._renewTimer = setTimeout(() => this._scheduleRenewal(), 2000)
      })
    }, Math.min(delay, 2 ** 31 - 1))
  }

  _clearTimers () {
    if (this._renewTimer !== null) clearTimeout(this._renewTimer)
    if (this._retryTimer !== null) clearTimeout(this._retryTimer)
    this._renewTimer = this._retryTimer = null
  }

  /** @param {Status} status */
  _setStatus (status) {
    if (status === this.status) return
    this.status = status
    this.emit('status', status)
  }

  /**
   * @param {any} message
   * @param {(workspace: Workspace) => void} handle
   */
  _route (message, handle) {
    const workspace = message && this.workspaces.get(message.workspace_id)
    if (workspace) handle(workspace)
  }

  /**
   * Job events name no workspace (the server sends them to the submitter and to the
   * workspace's room): the client emits them all, and each workspace those it watches.
   * @param {string} event
   * @param {any} message
   */
  _job (event, message) {
    this.emit(event, message)
    for (const workspace of this.workspaces.values()) workspace._onJob(event, message)
  }
}

/**
 * @param {string} code
 * @param {string} message
 */
const clientError = (code, message) => ({ ok: false, error: { code, message } })

/** @param {any} error */
const connectErrorOf = (error) => {
  const data = error && error.data
  if (data && typeof data.code === 'string') return new CollabError(data.code, data.message, data)
  return new CollabError('unavailable', (error && error.message) || 'Could not connect')
}
