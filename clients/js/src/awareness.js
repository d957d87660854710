/**
 * Cursors and users between y-protocols Awareness and the server's `cursor:update` /
 * `presence:diff` events.
 *
 * The server keeps no awareness: it relays `cursor:update {doc_id, anchor, head}` with the
 * sender's `user_id`, `username` and socket `sid`, and tells who is in the workspace
 * (`presence:diff`, per user). So each remote socket becomes one awareness state of its own,
 * with a clientID derived from its sid, `user: {name, color, colorLight}` from its username
 * and user id, and `cursor: {anchor, head}` as Y.RelativePosition JSON: what
 * y-codemirror.next's remote selections read.
 */
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { applyAwarenessUpdate } from 'y-protocols/awareness'

/** Origin of awareness changes this package makes from the server's events. */
export const REMOTE_ORIGIN = 'collab'

const COLORS = [
  '#30bced', '#6eeb83', '#ffbc42', '#ecd444', '#ee6352', '#9ac2c9', '#8acb88', '#1be7ff',
  '#b388eb', '#f78c6b', '#4f86f7', '#e96fc1'
]

/**
 * 32-bit FNV-1a of a string.
 * @param {string} text
 * @returns {number}
 */
export const hash32 = (text) => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/**
 * The color of a user, the same on every client: `{color, colorLight}` from the user id.
 * @param {string} userId
 * @returns {{color: string, colorLight: string}}
 */
export const colorFor = (userId) => {
  const color = COLORS[hash32(String(userId)) % COLORS.length]
  return { color, colorLight: color + '33' }
}

/**
 * The awareness clientID standing for a remote socket (never the local one).
 * @param {string} sid
 * @param {number} localClientID
 * @returns {number}
 */
export const clientIdForSid = (sid, localClientID) => {
  const id = hash32('sid:' + sid)
  return id === localClientID ? id ^ 1 : id
}

/** An empty relative position on the wire: "this socket shows no cursor in the document". */
export const NO_CURSOR = new Uint8Array(0)

/**
 * A local cursor end (a Y.RelativePosition or its JSON, as y-codemirror.next sets it) for
 * `cursor:update`: the encoded relative position.
 * @param {any} position
 * @returns {Uint8Array}
 */
export const encodePosition = (position) => {
  const relative = position instanceof Y.RelativePosition
    ? position
    : Y.createRelativePositionFromJSON(position)
  return Y.encodeRelativePosition(relative)
}

/**
 * A remote cursor end from `cursor:update` (an index or encoded relative position) as
 * Y.RelativePosition JSON in `ytext`; null for the empty "no cursor" marker.
 * @param {number | Uint8Array} value
 * @param {Y.Text} ytext
 * @returns {any}
 */
export const decodePosition = (value, ytext) => {
  if (typeof value === 'number') {
    return asReceived(Y.createRelativePositionFromTypeIndex(ytext, value))
  }
  if (value.length === 0) return null
  return asReceived(Y.decodeRelativePosition(value))
}

/**
 * A relative position as another client's awareness would deliver it (y-websocket sends
 * states through JSON.stringify, which keeps null fields): y-codemirror.next passes it as is
 * to Y.createAbsolutePositionFromRelativePosition, which reads `type` and `item` and fails on
 * the undefined that Y.relativePositionToJSON leaves for them.
 * @param {Y.RelativePosition} position
 */
const asReceived = (position) => ({
  type: null,
  tname: null,
  item: null,
  ...Y.relativePositionToJSON(position)
})

/**
 * Set (or with null remove) a remote client's state, as if its awareness update arrived:
 * 'change' and 'update' fire with the origin REMOTE_ORIGIN.
 * @param {import('y-protocols/awareness').Awareness} awareness
 * @param {number} clientID
 * @param {object | null} state
 */
export const setRemoteState = (awareness, clientID, state) => {
  if (state === null && !awareness.states.has(clientID)) return
  const meta = awareness.meta.get(clientID)
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 1)
  encoding.writeVarUint(encoder, clientID)
  encoding.writeVarUint(encoder, (meta ? meta.clock : 0) + 1)
  encoding.writeVarString(encoder, JSON.stringify(state))
  applyAwarenessUpdate(awareness, encoding.toUint8Array(encoder), REMOTE_ORIGIN)
}
