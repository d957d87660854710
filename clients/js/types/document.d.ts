/** The server refuses updates over 1 MiB; a merged batch stays well under it. */
export const MAX_BATCH_BYTES: number;
/** The server relays relative positions of at most 1 KiB. */
export const MAX_CURSOR_BYTES: 1024;
/**
 * @typedef {{update: Uint8Array, start: number, end: number}} Batch
 *   local updates start+1..end (numbered from 1 in the order they were made)
 */
export class CollabDocument extends Emitter {
    /**
     * @param {import('./workspace.js').Workspace} workspace
     * @param {string} id
     */
    constructor(workspace: import("./workspace.js").Workspace, id: string);
    workspace: import("./workspace.js").Workspace;
    client: import("./client.js").CollabClient;
    id: string;
    ydoc: Y.Doc;
    ytext: Y.Text;
    awareness: Awareness;
    /** @type {number | null} every update up to this seq is applied (null: not synced yet) */
    seq: number | null;
    synced: boolean;
    stopped: boolean;
    /** counters, for monitoring and tests */
    stats: {
        sent: number;
        acked: number;
        received: number;
        syncs: number;
        gapSyncs: number;
        dropped: number;
    };
    /** @type {Set<number>} seqs received beyond a gap */
    _ahead: Set<number>;
    /** @type {Batch[]} */
    _pending: Batch[];
    /** @type {Batch | null} */
    _inflight: Batch | null;
    _made: number;
    _settled: number;
    /** @type {{n: number, resolve: () => void, reject: (error: Error) => void}[]} */
    _waiters: {
        n: number;
        resolve: () => void;
        reject: (error: Error) => void;
    }[];
    _retries: number;
    /** @type {ReturnType<typeof setTimeout> | null} */
    _retryTimer: ReturnType<typeof setTimeout> | null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    _gapTimer: ReturnType<typeof setTimeout> | null;
    /** @type {Promise<void> | null} */
    _syncing: Promise<void> | null;
    _syncAgain: boolean;
    _readOnlyReported: boolean;
    _cursorShown: boolean;
    /** @type {Map<number, {userId: string, sid: string}>} awareness clientID -> remote socket */
    _remote: Map<number, {
        userId: string;
        sid: string;
    }>;
    /** Resolves once the first catch-up (join or doc:sync) is applied. */
    whenSynced: Promise<any>;
    _resolveSynced: (value: void) => void;
    _rejectSynced: (error: Error) => void;
    /**
     * @param {Uint8Array} update
     * @param {any} origin
     */
    _onLocalUpdate(update: Uint8Array, origin: any): void;
    /**
     * @param {{added: number[], updated: number[], removed: number[]}} changes
     * @param {any} origin
     */
    _onAwarenessUpdate({ added, updated, removed }: {
        added: number[];
        updated: number[];
        removed: number[];
    }, origin: any): void;
    /** Local updates not acknowledged yet (queued, held or in flight). */
    get pendingCount(): number;
    /**
     * Resolves once every local update made so far is acknowledged by the server (stored).
     * Rejects with a CollabError: `read_only` (the role cannot edit), `too_large` /
     * `bad_request` (an update was refused and dropped), or the reason sync stopped.
     * @returns {Promise<void>}
     */
    flushed(): Promise<void>;
    /** Stop syncing this document (the Y.Doc stays as it is). */
    destroy(): void;
    /** Take the next batch: the queue's head, merged up to MAX_BATCH_BYTES. */
    _takeBatch(): Batch;
    /** @param {Batch} batch */
    _requeue(batch: Batch): void;
    _pump(): void;
    /**
     * @param {Batch} batch
     * @param {any} ack
     */
    _onAck(batch: Batch, ack: any): void;
    /** @param {CollabError} error */
    _retryLater(error: CollabError): void;
    /** @param {number} upTo local updates up to this one are acknowledged (or dropped) */
    _settle(upTo: number): void;
    /**
     * Reject the flushed() waiters that include local updates after `after`.
     * @param {Error} error
     * @param {number} [after]
     */
    _fail(error: Error, after?: number): void;
    /** @param {Error} error */
    _report(error: Error): void;
    _reportReadOnly(): void;
    /** @param {any} message a doc:update broadcast */
    _onRemoteUpdate(message: any): void;
    /** @param {any} update */
    _apply(update: any): void;
    /** @param {number} seq */
    _noteSeq(seq: number): void;
    _drainAhead(): void;
    /**
     * Ask for what this replica lacks (`doc:sync` with its state vector).
     * @param {string} [reason] "open" (a document opened after the join) or "gap"
     * @param {number | null} [from] the seq before the gap
     */
    _sync(reason?: string, from?: number | null): void;
    _stateVector(): Uint8Array<ArrayBufferLike>;
    /**
     * A catch-up (join or doc:sync): what this replica lacked, up to `seq`.
     * @param {any} update
     * @param {number} seq
     */
    _caughtUp(update: any, seq: number): void;
    _onJoined(): void;
    _onDisconnect(): void;
    _onAccess(): void;
    /** @param {string} reason */
    _stop(reason: string): void;
    _stopReason: string | undefined;
    /** A `user` field for the local state, if the app set none: our username and color. */
    _setDefaultUser(): void;
    /**
     * Send the local cursor (`cursor:update`, throttled). Awareness renews the local state
     * every 15 s, which re-sends it: remote states time out after 30 s without one.
     * @param {boolean} rejoined
     */
    _sendCursor(rejoined: boolean): void;
    /** @param {any} message a relayed cursor:update */
    _onRemoteCursor(message: any): void;
    /** @param {{left: string[], updated: any[], joined: any[]}} diff */
    _onPresence(diff: {
        left: string[];
        updated: any[];
        joined: any[];
    }): void;
    /** @param {(clientID: number, remote: {userId: string, sid: string}) => boolean} predicate */
    _removeRemote(predicate: (clientID: number, remote: {
        userId: string;
        sid: string;
    }) => boolean): void;
}
export function toBytes(value: any): Uint8Array | null;
/**
 * local updates start+1..end (numbered from 1 in the order they were made)
 */
export type Batch = {
    update: Uint8Array;
    start: number;
    end: number;
};
import { Emitter } from './emitter.js';
import * as Y from 'yjs';
import { Awareness } from 'y-protocols/awareness';
import { CollabError } from './errors.js';
