import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { claimsOf } from '../src/index.js'
import { env, makeTeam, logIn, openDocument, startProxy, waitFor, sleep, closeAll } from './helpers.js'

after(closeAll)

/** Type for `ms`, one insert every `every` ms; the words typed. */
async function typeFor (text, ms, every = 200) {
  const words = []
  const end = Date.now() + ms
  for (let i = 0; Date.now() < end; i++) {
    const word = `w${i} `
    text.insert(text.length, word)
    words.push(word)
    await sleep(every)
  }
  return words.join('')
}

test('a token that expires mid-session is renewed ahead of its exp with auth:refresh; no edit is lost', async () => {
  const lifetime = env.shortTokenSeconds
  const team = await makeTeam()
  const user = await logIn(team.collaborator, env.B)
  const claims = claimsOf(user.token)
  assert.equal(claims.exp - claims.iat, lifetime, 'instance B issues short tokens')
  const { client, doc } = await openDocument(env.A, user, team, team.docId, { getToken: () => user.getToken() })
  const renewals = []
  const errors = []
  const statuses = []
  client.on('token', (event) => renewals.push(event))
  client.on('error', (error) => errors.push(error))
  client.on('status', (status) => statuses.push(status))
  doc.on('error', (error) => errors.push(error))

  const typed = await typeFor(doc.ydoc.getText('content'), (lifetime * 2 + 2) * 1000)
  await doc.flushed()
  assert.equal(await team.content(team.docId), typed)
  assert.ok(renewals.length >= 2, `renewed at least twice: ${JSON.stringify(renewals)}`)
  assert.ok(renewals.every((r) => r.reason === 'scheduled'))
  assert.ok(renewals.every((r) => typeof r.expiresAt === 'number'))
  assert.deepEqual(errors, [], 'no event was refused')
  assert.deepEqual(statuses, [], 'the socket stayed connected')
  assert.ok(claimsOf(client.token).exp > claims.exp)
})

test('without renewal ahead, a token_expired ack renews the token and the edit is sent again; a reconnect asks getToken', async () => {
  const lifetime = env.shortTokenSeconds
  const team = await makeTeam()
  const user = await logIn(team.collaborator, env.B)
  const proxy = await startProxy(env.A)
  try {
    const { client, doc } = await openDocument(proxy.url, user, team, team.docId, {
      getToken: () => user.getToken(),
      autoRenew: false,
      socketOptions: { reconnectionDelay: 100, reconnectionDelayMax: 300 }
    })
    assert.equal(user.renewals, 1, 'getToken is called on connect')
    const renewals = []
    client.on('token', (event) => renewals.push(event))
    const text = doc.ydoc.getText('content')
    text.insert(0, 'before expiry. ')
    await doc.flushed()
    await sleep((lifetime + 1) * 1000)
    text.insert(text.length, 'after expiry.')
    await doc.flushed()
    assert.deepEqual(renewals.map((r) => r.reason), ['token_expired'])
    assert.equal(await team.content(team.docId), 'before expiry. after expiry.')

    // Offline past the token's life: the reconnect gets a new token from getToken.
    proxy.cut()
    await waitFor(() => client.status !== 'connected', 'offline')
    text.insert(text.length, ' offline.')
    await sleep((lifetime + 1) * 1000)
    const calls = user.renewals
    proxy.restore()
    await doc.flushed()
    assert.ok(user.renewals > calls, 'getToken was called for the reconnect')
    assert.equal(client.status, 'connected')
    assert.equal(await team.content(team.docId), 'before expiry. after expiry. offline.')
  } finally {
    await proxy.close()
  }
})

test('connect() rejects with the server\'s code', async () => {
  const team = await makeTeam()
  await logIn(team.viewer, env.B)
  const { CollabClient } = await import('../src/index.js')
  const bad = new CollabClient({ url: env.A, token: 'not-a-jwt' })
  await assert.rejects(bad.connect(), (error) => error.code === 'unauthorized')
  bad.close()
  await sleep((env.shortTokenSeconds + 1) * 1000)
  const expired = new CollabClient({ url: env.A, token: team.viewer.token })
  await assert.rejects(expired.connect(), (error) => error.code === 'token_expired')
  expired.close()
})
