/** Small helpers shared by the modules. */

/**
 * How long to wait before retrying a refused event: the server's `retry_after_ms` when it
 * says, else a backoff.
 * @param {import('./errors.js').CollabError} error
 * @param {number} attempt 1, 2, ...
 */
export const retryDelayMs = (error, attempt) => {
  const after = error.details && Number(error.details.retry_after_ms)
  if (after > 0) return after
  const base = error.code === 'rate_limited' ? 100 : 500
  return Math.min(30_000, base * 2 ** (attempt - 1))
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
