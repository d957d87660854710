/**
 * A small event emitter: `on` returns an unsubscribe function; a listener that throws does
 * not stop the others (the error is reported on the console). Unlike node's EventEmitter,
 * an `error` event without listeners is not thrown.
 */
export class Emitter {
    /** @type {Map<string, Set<(...args: any[]) => void>>} */
    _listeners: Map<string, Set<(...args: any[]) => void>>;
    /**
     * @param {string} event
     * @param {(...args: any[]) => void} listener
     * @returns {() => void} removes the listener
     */
    on(event: string, listener: (...args: any[]) => void): () => void;
    /**
     * @param {string} event
     * @param {(...args: any[]) => void} listener
     * @returns {() => void}
     */
    once(event: string, listener: (...args: any[]) => void): () => void;
    /**
     * @param {string} event
     * @param {(...args: any[]) => void} listener
     */
    off(event: string, listener: (...args: any[]) => void): void;
    /**
     * @param {string} event
     * @param {...any} args
     */
    emit(event: string, ...args: any[]): void;
}
