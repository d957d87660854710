/**
 * Errors of the collab protocol: the server's ack codes (unauthorized, token_expired,
 * forbidden, not_found, bad_request, too_large, rate_limited, unavailable, internal,
 * too_many_connections) and the client's own (timeout, disconnected, read_only, revoked,
 * closed).
 */
export class CollabError extends Error {
    /**
     * @param {string} code
     * @param {string} [message]
     * @param {any} [details]
     */
    constructor(code: string, message?: string, details?: any);
    /** @type {string} */
    code: string;
    /** @type {any} */
    details: any;
}
export function errorOf(ack: any): CollabError;
