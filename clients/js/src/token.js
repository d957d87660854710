/**
 * Reading an access token (a JWT) on the client: only to know when it expires and whose it
 * is. Its signature is the server's business.
 */

/**
 * @param {string} token
 * @returns {{exp?: number, iat?: number, sub?: string} | null}
 */
export const claimsOf = (token) => {
  const part = typeof token === 'string' ? token.split('.')[1] : undefined
  if (!part) return null
  try {
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/')
    const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4))
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0))
    const claims = JSON.parse(new TextDecoder().decode(bytes))
    return claims && typeof claims === 'object' ? claims : null
  } catch {
    return null
  }
}

/** Renew at most this long before expiry (and at least a quarter of the lifetime before). */
export const MAX_RENEW_AHEAD_MS = 60_000

/**
 * How long from `now` until the token should be renewed; null when it has no `exp`.
 * @param {string} token
 * @param {number} [now]
 * @param {number} [aheadMs] renew this long before expiry (default: a quarter of the
 *   lifetime, at most a minute)
 * @returns {number | null}
 */
export const renewDelayMs = (token, now = Date.now(), aheadMs) => {
  const claims = claimsOf(token)
  if (!claims || typeof claims.exp !== 'number') return null
  const expMs = claims.exp * 1000
  const lifetime = typeof claims.iat === 'number' ? expMs - claims.iat * 1000 : expMs - now
  const ahead = aheadMs ?? Math.min(MAX_RENEW_AHEAD_MS, Math.max(0, lifetime) / 4)
  return Math.max(0, expMs - ahead - now)
}
