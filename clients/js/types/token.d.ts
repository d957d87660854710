export function claimsOf(token: string): {
    exp?: number;
    iat?: number;
    sub?: string;
} | null;
/** Renew at most this long before expiry (and at least a quarter of the lifetime before). */
export const MAX_RENEW_AHEAD_MS: 60000;
export function renewDelayMs(token: string, now?: number, aheadMs?: number): number | null;
