/**
 * Sends volatile messages (cursors, presence) under a rate: a token bucket like the
 * server's, and per key only the latest message waits (an older cursor is worthless). A key's
 * next message waits for the previous one's ack: the server handles events concurrently, so
 * two in flight could be relayed in the wrong order and leave an old cursor showing.
 */
export class KeyedThrottle {
    /**
     * @param {number} rate messages per second
     * @param {number} burst
     * @param {(payload: any) => (Promise<unknown> | void)} send
     */
    constructor(rate: number, burst: number, send: (payload: any) => (Promise<unknown> | void));
    rate: number;
    burst: number;
    send: (payload: any) => (Promise<unknown> | void);
    tokens: number;
    updated: number;
    /** @type {Map<string, any>} */
    waiting: Map<string, any>;
    /** @type {Set<string>} keys whose message is in flight */
    inflight: Set<string>;
    /** @type {ReturnType<typeof setTimeout> | null} */
    timer: ReturnType<typeof setTimeout> | null;
    /**
     * @param {string} key
     * @param {any} payload
     */
    push(key: string, payload: any): void;
    /** @param {(key: string) => boolean} predicate */
    drop(predicate: (key: string) => boolean): void;
    _drain(): void;
    clear(): void;
}
