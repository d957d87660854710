/**
 * Sends volatile messages (cursors, presence) under a rate: a token bucket like the
 * server's, and per key only the latest message waits (an older cursor is worthless).
 */
export class KeyedThrottle {
  /**
   * @param {number} rate messages per second
   * @param {number} burst
   * @param {(payload: any) => void} send
   */
  constructor (rate, burst, send) {
    this.rate = rate
    this.burst = burst
    this.send = send
    this.tokens = burst
    this.updated = Date.now()
    /** @type {Map<string, any>} */
    this.waiting = new Map()
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
    while (this.waiting.size > 0 && this.tokens >= 1) {
      const [key, payload] = /** @type {[string, any]} */ (this.waiting.entries().next().value)
      this.waiting.delete(key)
      this.tokens -= 1
      this.send(payload)
    }
    if (this.waiting.size > 0 && this.timer === null) {
      const wait = Math.ceil(((1 - this.tokens) / this.rate) * 1000)
      this.timer = setTimeout(() => {
        this.timer = null
        this._drain()
      }, wait)
    }
  }

  clear () {
    this.waiting.clear()
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }
}
