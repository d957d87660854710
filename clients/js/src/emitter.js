/**
 * A small event emitter: `on` returns an unsubscribe function; a listener that throws does
 * not stop the others (the error is reported on the console). Unlike node's EventEmitter,
 * an `error` event without listeners is not thrown.
 */
export class Emitter {
  constructor () {
    /** @type {Map<string, Set<(...args: any[]) => void>>} */
    this._listeners = new Map()
  }

  /**
   * @param {string} event
   * @param {(...args: any[]) => void} listener
   * @returns {() => void} removes the listener
   */
  on (event, listener) {
    let set = this._listeners.get(event)
    if (!set) this._listeners.set(event, (set = new Set()))
    set.add(listener)
    return () => this.off(event, listener)
  }

  /**
   * @param {string} event
   * @param {(...args: any[]) => void} listener
   * @returns {() => void}
   */
  once (event, listener) {
    const off = this.on(event, (...args) => {
      off()
      listener(...args)
    })
    return off
  }

  /**
   * @param {string} event
   * @param {(...args: any[]) => void} listener
   */
  off (event, listener) {
    this._listeners.get(event)?.delete(listener)
  }

  /**
   * @param {string} event
   * @param {...any} args
   */
  emit (event, ...args) {
    for (const listener of [...(this._listeners.get(event) || [])]) {
      try {
        listener(...args)
      } catch (error) {
        console.error(`@collab/client: a "${event}" listener threw`, error)
      }
    }
  }
}
