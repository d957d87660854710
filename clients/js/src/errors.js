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
  constructor (code, message, details) {
    super(message || code)
    this.name = 'CollabError'
    /** @type {string} */
    this.code = code
    /** @type {any} */
    this.details = details
  }
}

/**
 * A failed ack's error (`{ok: false, error: {code, message, details?}}`) as a CollabError.
 * @param {any} ack
 * @returns {CollabError}
 */
export const errorOf = (ack) => {
  const error = (ack && ack.error) || {}
  return new CollabError(String(error.code || 'internal'), error.message, error.details)
}
