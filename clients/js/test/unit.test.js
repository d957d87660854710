// The pieces that need no server: token timing, colors, cursor encoding, the throttle.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { claimsOf, renewDelayMs } from '../src/token.js'
import { colorFor, clientIdForSid, encodePosition, decodePosition } from '../src/awareness.js'
import { KeyedThrottle } from '../src/throttle.js'

const jwt = (claims) => `x.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.y`

test('the renewal is scheduled a quarter of the lifetime (at most a minute) before exp', () => {
  const now = 1_000_000_000_000
  const s = now / 1000
  assert.equal(renewDelayMs(jwt({ iat: s, exp: s + 900 }), now), 840_000) // 15 min: 1 min ahead
  assert.equal(renewDelayMs(jwt({ iat: s, exp: s + 8 }), now), 6_000) // 8 s: 2 s ahead
  assert.equal(renewDelayMs(jwt({ iat: s - 20, exp: s - 10 }), now), 0) // already expired: now
  assert.equal(renewDelayMs(jwt({ iat: s, exp: s + 900 }), now, 5000), 895_000)
  assert.equal(renewDelayMs('garbage', now), null)
  assert.equal(claimsOf(jwt({ sub: 'ü-user', exp: 1 })).sub, 'ü-user')
})

test('colors are deterministic per user id and client ids per socket', () => {
  assert.deepEqual(colorFor('a'), colorFor('a'))
  assert.match(colorFor('a').color, /^#[0-9a-f]{6}$/)
  assert.equal(colorFor('a').colorLight, colorFor('a').color + '33')
  const colors = new Set(Array.from({ length: 50 }, (_, i) => colorFor(`user-${i}`).color))
  assert.ok(colors.size > 5, 'users get various colors')
  const id = clientIdForSid('sid-1', 0)
  assert.equal(clientIdForSid('sid-1', 0), id)
  assert.notEqual(clientIdForSid('sid-1', id), id, 'never the local clientID')
})

test('cursor ends round-trip through the wire encoding, and an index is accepted', () => {
  const doc = new Y.Doc()
  const text = doc.getText('content')
  text.insert(0, 'abcdef')
  const position = Y.createRelativePositionFromTypeIndex(text, 4)
  const bytes = encodePosition(Y.relativePositionToJSON(position))
  assert.ok(bytes.length < 1024)
  const back = decodePosition(bytes, text)
  assert.equal(Y.createAbsolutePositionFromRelativePosition(back, doc).index, 4)
  assert.equal(Y.createAbsolutePositionFromRelativePosition(decodePosition(2, text), doc).index, 2)
  assert.equal(decodePosition(new Uint8Array(0), text), null)
})

test('the throttle keeps to its rate and sends only the latest message per key', async () => {
  const sent = []
  const latest = new KeyedThrottle(20, 5, (payload) => sent.push(payload))
  for (let i = 0; i < 200; i++) latest.push(`k${i % 3}`, i)
  assert.deepEqual(sent, [0, 1, 2, 3, 4], 'the burst goes at once')
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.deepEqual(sent.slice(5), [197, 198, 199], 'then the latest of each key, nothing older')

  const times = []
  const start = Date.now()
  const rate = new KeyedThrottle(20, 5, () => times.push(Date.now() - start))
  for (let i = 0; i < 25; i++) rate.push(`key${i}`, i)
  await new Promise((resolve) => setTimeout(resolve, 1300))
  rate.clear()
  assert.equal(times.length, 25)
  assert.ok(times[4] < 20, 'a burst of 5')
  assert.ok(times[24] >= 950, `the other 20 at 20/s take a second (${times[24]} ms)`)
})

test("the throttle sends a key's next message only once the previous one is acknowledged", async () => {
  const sent = []
  const acks = []
  const throttle = new KeyedThrottle(100, 100, (payload) => {
    sent.push(payload)
    return new Promise((resolve) => acks.push(resolve))
  })
  throttle.push('doc', 1)
  throttle.push('doc', 2)
  throttle.push('doc', 3)
  throttle.push('other', 'x')
  assert.deepEqual(sent, [1, 'x'], 'one in flight per key')
  acks.shift()()
  await new Promise((resolve) => setTimeout(resolve, 10))
  assert.deepEqual(sent, [1, 'x', 3], 'then only the latest')
  throttle.clear()
})
