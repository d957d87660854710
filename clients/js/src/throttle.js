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
  constructor (rate, burst, send) {
    this.rate = rate
    this.burst = burst
    this.send = send
    this.tokens = burst
    this.updated = Date.now()
    /** @type {Map<string, any>} */
    this.waiting = new Map()
    /** @type {Set<string>} keys whose message is in flight */
    this.inflight = new Set()
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null
  }

  /**
   * @param {string} key
   * @param {any} payload
   */
  push (key, payload) {
    this.waiting.delete(key) // re-inserted last: keys are served in order of their latest
    this.waiting.set(key, payload)
    this._drain()
  }

  /** @param {(key: string) => boolean} predicate */
  drop (predicate) {
    for (const key of [...this.waiting.keys()]) if (predicate(key)) this.waiting.delete(key)
  }

  _drain () {
    const now = Date.now()
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updated) / 1000) * this.rate)
    this.updated = now
    for (const [key, payload] of [...this.waiting]) {
      if (this.tokens < 1) break
      if (this.inflight.has(key)) continue
      this.waiting.delete(key)
      this.tokens -= 1
      const sent = this.send(payload)
      if (sent && typeof sent.then === 'function') {
        this.inflight.add(key)
        const done = () => {
          this.inflight.delete(key)
          this._drain()
        }
        sent.then(done, done)
      }
    }
    const ready = [...this.waiting.keys()].some((key) => !this.inflight.has(key))
    if (ready && this.timer === null) {
      const wait = Math.ceil(((1 - this.tokens) / this.rate) * 1000)
      this.timer = setTimeout(() => {
        this.timer = null
        this._drain()
      }, wait)
    }
  }

  clear () {
    this.waiting.clear()
    this.inflight.clear()
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }
}
