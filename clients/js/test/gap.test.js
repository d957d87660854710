import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { env, makeTeam, openDocument, redisCommand, waitFor, recordBroadcasts, sleep, closeAll } from './helpers.js'

after(closeAll)

test('a broadcast lost by Redis pub/sub is recovered through the seq gap with doc:sync', async () => {
  const team = await makeTeam()
  const writer = await openDocument(env.A, team.owner, team)
  const reader = await openDocument(env.B, team.collaborator, team)
  const seen = recordBroadcasts(reader.client)
  const syncs = []
  reader.doc.on('sync', (event) => syncs.push(event))
  const tWriter = writer.doc.ydoc.getText('content')
  const tReader = reader.doc.ydoc.getText('content')

  tWriter.insert(0, 'first.')
  await waitFor(() => tReader.toString() === 'first.', 'a broadcast arrives normally')

  // Every instance's subscription to the message queue is cut: what is published now reaches
  // no instance (python-socketio resubscribes after a second).
  const killed = await redisCommand(env.redis, 'CLIENT', 'KILL', 'TYPE', 'pubsub')
  assert.ok(Number(killed.slice(1)) >= 2, `both instances were subscribed (${killed})`)
  tWriter.insert(tWriter.length, ' lost.')
  await writer.doc.flushed() // stored, seq 2, published to nobody
  const lostSeq = writer.doc.seq
  await sleep(300)
  assert.equal(tReader.toString(), 'first.', 'the reader missed it')

  // Once the instances have resubscribed, the next edits arrive with a gap before them.
  let n = 0
  await waitFor(async () => {
    tWriter.insert(tWriter.length, ` after${n++}.`)
    await writer.doc.flushed()
    await sleep(200)
    return seen.some((m) => m.seq > lostSeq)
  }, 'a broadcast reaches the reader again', 15000)

  await waitFor(() => tReader.toString() === tWriter.toString(), 'the reader catches up')
  assert.ok(!seen.some((m) => m.seq === lostSeq), 'the lost seq never arrived as a broadcast')
  assert.ok(tReader.toString().includes(' lost.'), 'yet its text is there')
  assert.ok(reader.doc.stats.gapSyncs >= 1, 'a gap sync happened')
  const gap = syncs.find((s) => s.reason === 'gap')
  assert.ok(gap && gap.from < lostSeq && gap.seq >= lostSeq, `doc:sync covered the lost seq: ${JSON.stringify(syncs)}`)
  assert.equal(reader.doc.seq, writer.doc.seq)
  assert.equal(await team.content(team.docId), tWriter.toString())
})
