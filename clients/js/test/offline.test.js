import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { env, makeTeam, openDocument, startProxy, waitFor, recordBroadcasts, closeAll } from './helpers.js'

after(closeAll)

test('edits made on both sides while one client is offline merge once it reconnects', async () => {
  const team = await makeTeam()
  const proxy = await startProxy(env.A)
  try {
    const away = await openDocument(proxy.url, team.collaborator, team, team.docId, {
      socketOptions: { reconnectionDelay: 100, reconnectionDelayMax: 300 }
    })
    const here = await openDocument(env.B, team.owner, team)
    const broadcasts = recordBroadcasts(here.client)
    const statuses = []
    away.client.on('status', (status) => statuses.push(status))
    const tAway = away.doc.ydoc.getText('content')
    const tHere = here.doc.ydoc.getText('content')
    tHere.insert(0, 'shared line.')
    await waitFor(() => tAway.toString() === 'shared line.', 'the base text reaches both')

    proxy.cut() // the network goes away: the socket drops, reconnections fail
    await waitFor(() => away.client.status !== 'connected', 'the client notices it is offline')
    for (const word of [' one', ' two', ' three', ' four', ' five']) tAway.insert(tAway.length, word)
    tAway.delete(0, 7) // "shared "
    tHere.insert(0, 'online> ')
    await here.doc.flushed()
    await new Promise((resolve) => setTimeout(resolve, 500)) // still offline, retrying
    assert.equal(tAway.toString(), 'line. one two three four five', 'offline edits stay local')
    assert.equal(away.doc.pendingCount, 6, 'six local updates wait for the server')
    assert.equal(await team.content(team.docId), 'online> shared line.')

    const before = broadcasts.filter((m) => m.user_id === team.collaborator.id).length
    proxy.restore()
    await away.doc.flushed() // re-joined, caught up, offline edits stored
    const expected = 'online> line. one two three four five'
    await waitFor(() => tAway.toString() === expected && tHere.toString() === expected, 'both converge')
    assert.equal(await team.content(team.docId), expected)
    assert.deepEqual(statuses.slice(-1), ['connected'])
    assert.ok(statuses.includes('connecting'))
    // The six offline updates went as one merged update.
    await waitFor(() => broadcasts.filter((m) => m.user_id === team.collaborator.id).length === before + 1, 'one broadcast of the merged offline edits')
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.equal(broadcasts.filter((m) => m.user_id === team.collaborator.id).length, before + 1)
    assert.equal(away.doc.seq, here.doc.seq)
  } finally {
    await proxy.close()
  }
})

test('an edit whose ack was lost with the connection is sent again after the reconnect', async () => {
  const team = await makeTeam()
  const proxy = await startProxy(env.A)
  try {
    const away = await openDocument(proxy.url, team.collaborator, team, team.docId, {
      socketOptions: { reconnectionDelay: 100, reconnectionDelayMax: 300 }
    })
    const t = away.doc.ydoc.getText('content')
    t.insert(0, 'in flight')
    proxy.cut() // right after the send: the ack (if any) never arrives
    const flushed = away.doc.flushed()
    await waitFor(() => away.client.status !== 'connected', 'offline')
    proxy.restore()
    await flushed
    assert.equal(await team.content(team.docId), 'in flight')
  } finally {
    await proxy.close()
  }
})
