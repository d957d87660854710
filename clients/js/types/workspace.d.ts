/** The server takes at most this many documents' state vectors in one join. */
export const MAX_DOCS_PER_JOIN: 100;
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
    constructor(client: import("./client.js").CollabClient, id: string);
    client: import("./client.js").CollabClient;
    id: string;
    /** @type {string | null} owner, collaborator, viewer; null for a public project's reader */
    role: string | null;
    canEdit: boolean;
    /** @type {Map<string, PresenceEntry>} user id -> presence */
    presence: Map<string, PresenceEntry>;
    /** @type {Map<string, CollabDocument>} */
    documents: Map<string, CollabDocument>;
    /** joined now (the room is ours on the current connection) */
    joined: boolean;
    /** left, revoked or closed: nothing syncs any more */
    stopped: boolean;
    /** @type {Set<string>} */
    watchedJobs: Set<string>;
    /** @type {Promise<void>} */
    _joining: Promise<void>;
    _rejoinAttempts: number;
    /** @type {{status: string, doc_id: string | null}} */
    _status: {
        status: string;
        doc_id: string | null;
    };
    /**
     * The live document `docId` of this workspace (one object per id): `doc.ydoc` holds its
     * text in `getText("content")`, `doc.awareness` its cursors.
     * @param {string} docId
     * @returns {CollabDocument}
     */
    document(docId: string): CollabDocument;
    /**
     * Set this connection's presence (`presence:update`, throttled to the server's rate).
     * Documents set `docId` themselves when the local cursor enters them.
     * @param {{status?: 'active' | 'idle' | 'away', docId?: string | null}} presence
     */
    setPresence({ status, docId }?: {
        status?: "active" | "idle" | "away";
        docId?: string | null;
    }): void;
    /**
     * Emit this job's `job:status` / `job:output` events on this workspace (the server's job
     * events carry no workspace id; see the README).
     * @param {string} jobId
     */
    watchJob(jobId: string): void;
    /** Leave the workspace: documents stop syncing (their Y.Docs stay as they are). */
    leave(): Promise<void>;
    /** Join (or re-join after a reconnect) with the state vectors of the open documents. */
    _join(): Promise<void>;
    _onReconnect(): void;
    /** Join again; retried while the connection lasts, unless the server says no for good. */
    _rejoin(): void;
    _onDisconnect(): void;
    /**
     * @param {string | null} role
     * @param {boolean} canEdit
     */
    _applyAccess(role: string | null, canEdit: boolean): boolean;
    /** @param {any} message */
    _onUpdate(message: any): void;
    /** @param {any} message */
    _onCursor(message: any): void;
    /**
     * A version of one of the workspace's documents was made (doc:version): the workspace emits
     * `version` {docId, version} for every document, an open document `version` {version}.
     * @param {any} message
     */
    _onVersion(message: any): void;
    /** @param {any} message */
    _onPresence(message: any): void;
    /** @param {any} message */
    _onRevoked(message: any): void;
    /** @param {any} message */
    _onRoleChanged(message: any): void;
    /**
     * @param {string} event
     * @param {any} message
     */
    _onJob(event: string, message: any): void;
    /**
     * A document's doc:update was refused `forbidden`: learn the role again by re-joining.
     */
    _recheckAccess(): void;
    /** @param {string} reason */
    _stop(reason: string): void;
}
export type PresenceEntry = {
    user_id: string;
    username: string;
    connections: number;
    status: "active" | "idle" | "away";
    doc_id: string | null;
};
import { Emitter } from './emitter.js';
import { CollabDocument } from './document.js';
