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
    constructor(options: CollabClientOptions);
    options: {
        /**
         * the server, e.g. "https://collab.example.com"
         */
        url: string;
        /**
         * an access token
         */
        token?: string | undefined;
        /**
         * called for a token on every
         * (re)connect and to renew it before it expires (or when an event says `token_expired`)
         */
        getToken?: (() => Promise<string> | string) | undefined;
        /**
         * renew the token ahead of its `exp` (default true)
         */
        autoRenew: boolean;
        /**
         * how long before `exp` (default: a quarter of the
         * token's lifetime, at most 60 s)
         */
        renewAheadMs?: number | undefined;
        /**
         * how long to wait for an ack (default 10000)
         */
        ackTimeoutMs: number;
        /**
         * cursor:update messages per second (default 15; the
         * server allows 20)
         */
        cursorRate: number;
        /**
         * presence:update messages per second (default 4; the
         * server allows 5)
         */
        presenceRate: number;
        /**
         * how long a gap in a document's seqs may last before
         * `doc:sync` fills it (messages from two instances may arrive out of order; default 200)
         */
        gapGraceMs: number;
        /**
         * passed to socket.io-client's `io()` (e.g. `reconnectionDelayMax`)
         */
        socketOptions?: Partial<import("socket.io-client").ManagerOptions & import("socket.io-client").SocketOptions> | undefined;
    };
    /** @type {string | null} the access token in use */
    token: string | null;
    /** @type {Status} */
    status: Status;
    /** @type {Map<string, Workspace>} joined (or joining) workspaces by id */
    workspaces: Map<string, Workspace>;
    /** @type {import('socket.io-client').Socket | null} */
    socket: import("socket.io-client").Socket | null;
    _closed: boolean;
    _everConnected: boolean;
    /** @type {ReturnType<typeof setTimeout> | null} */
    _renewTimer: ReturnType<typeof setTimeout> | null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    _retryTimer: ReturnType<typeof setTimeout> | null;
    /** @type {Promise<string> | null} */
    _renewing: Promise<string> | null;
    /** @type {Promise<string> | null} */
    _fetching: Promise<string> | null;
    _connectAttempts: number;
    _cursors: KeyedThrottle;
    _presence: KeyedThrottle;
    /** The user id of the token (its `sub`), or null. */
    get userId(): string | null;
    get connected(): boolean;
    /**
     * Connect; resolves once connected, rejects with a CollabError (`err.code`: unauthorized,
     * token_expired, too_many_connections, ...) if the server refuses. After that the client
     * reconnects by itself until `close()`.
     * @returns {Promise<void>}
     */
    connect(): Promise<void>;
    /** Disconnect for good: every workspace's sync stops. */
    close(): void;
    /**
     * Join a workspace (its room, presence and documents).
     * @param {string} workspaceId
     * @returns {Promise<Workspace>}
     */
    joinWorkspace(workspaceId: string): Promise<Workspace>;
    /**
     * Send an event and resolve with its ack (`{ok: true, ...}`); a refusal rejects with a
     * CollabError. `token_expired` renews the token and tries again; `rate_limited` waits
     * `details.retry_after_ms` (or a short backoff) and tries again.
     * @param {string} event
     * @param {object} payload
     * @param {{attempts?: number}} [options]
     * @returns {Promise<any>}
     */
    request(event: string, payload: object, { attempts }?: {
        attempts?: number;
    }): Promise<any>;
    /**
     * Send an event once; resolves with its ack, or a client-side error ack (`disconnected`,
     * `timeout`). Never rejects.
     * @param {string} event
     * @param {object} payload
     * @returns {Promise<any>}
     */
    emitAck(event: string, payload: object): Promise<any>;
    /**
     * Get a fresh token from `getToken` and hand it to the socket (`auth:refresh`). Concurrent
     * calls share one renewal.
     * @param {string} [reason] "scheduled" or "token_expired" (passed to the "token" event)
     * @returns {Promise<string>}
     */
    renewToken(reason?: string): Promise<string>;
    _createSocket(): void;
    /** @returns {Promise<string>} */
    _tokenForConnect(): Promise<string>;
    /**
     * One getToken() call at a time (a refresh-token rotation must not run twice at once).
     * @returns {Promise<string>}
     */
    _fetchToken(): Promise<string>;
    _onConnect(): void;
    /** @param {string} reason */
    _onDisconnect(reason: string): void;
    /** @param {any} error */
    _onConnectError(error: any): void;
    _retryConnect(): void;
    _scheduleRenewal(): void;
    _clearTimers(): void;
    /** @param {Status} status */
    _setStatus(status: Status): void;
    /**
     * @param {any} message
     * @param {(workspace: Workspace) => void} handle
     */
    _route(message: any, handle: (workspace: Workspace) => void): void;
    /**
     * Job events name no workspace (the server sends them to the submitter and to the
     * workspace's room): the client emits them all, and each workspace those it watches.
     * @param {string} event
     * @param {any} message
     */
    _job(event: string, message: any): void;
}
export type CollabClientOptions = {
    /**
     * the server, e.g. "https://collab.example.com"
     */
    url: string;
    /**
     * an access token
     */
    token?: string | undefined;
    /**
     * called for a token on every
     * (re)connect and to renew it before it expires (or when an event says `token_expired`)
     */
    getToken?: (() => Promise<string> | string) | undefined;
    /**
     * renew the token ahead of its `exp` (default true)
     */
    autoRenew?: boolean | undefined;
    /**
     * how long before `exp` (default: a quarter of the
     * token's lifetime, at most 60 s)
     */
    renewAheadMs?: number | undefined;
    /**
     * how long to wait for an ack (default 10000)
     */
    ackTimeoutMs?: number | undefined;
    /**
     * cursor:update messages per second (default 15; the
     * server allows 20)
     */
    cursorRate?: number | undefined;
    /**
     * presence:update messages per second (default 4; the
     * server allows 5)
     */
    presenceRate?: number | undefined;
    /**
     * how long a gap in a document's seqs may last before
     * `doc:sync` fills it (messages from two instances may arrive out of order; default 200)
     */
    gapGraceMs?: number | undefined;
    /**
     * passed to socket.io-client's `io()` (e.g. `reconnectionDelayMax`)
     */
    socketOptions?: Partial<import("socket.io-client").ManagerOptions & import("socket.io-client").SocketOptions> | undefined;
};
export type Status = "connecting" | "connected" | "disconnected";
import { Emitter } from './emitter.js';
import { Workspace } from './workspace.js';
import { KeyedThrottle } from './throttle.js';
