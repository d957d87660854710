import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { env, makeTeam, openDocument, waitFor, closeAll } from './helpers.js'

after(closeAll)

test('two clients on two instances edit concurrently and converge, and the server stores the same text', async () => {
  const team = await makeTeam()
  const one = await openDocument(env.A, team.owner, team)
  const two = await openDocument(env.B, team.collaborator, team)
  assert.equal(one.ws.role, 'owner')
  assert.equal(two.ws.role, 'collaborator')
  assert.equal(two.ws.canEdit, true)
  assert.ok(two.ws.presence.has(team.owner.id), 'the join lists who is present')

  const remoteOrigins = []
  two.doc.ydoc.on('update', (_update, origin) => remoteOrigins.push(origin))

  one.doc.ydoc.getText('content').insert(0, 'Hello')
  await waitFor(() => two.doc.ydoc.getText('content').toString() === 'Hello', 'the first edit reaches the other instance')
  assert.ok(remoteOrigins.length > 0 && remoteOrigins.every((origin) => origin === two.doc), 'remote updates are applied with the provider as origin')

  // Concurrent: each edits before seeing the other's edit.
  const t1 = one.doc.ydoc.getText('content')
  const t2 = two.doc.ydoc.getText('content')
  for (let i = 0; i < 20; i++) {
    t1.insert(t1.length, ` a${i}`)
    t2.insert(0, `b${i} `)
  }
  await Promise.all([one.doc.flushed(), two.doc.flushed()])
  await waitFor(() => t1.toString() === t2.toString(), 'both replicas read the same')
  const text = t1.toString()
  assert.match(text, /b19 .*Hello.* a19$/)
  assert.equal(await team.content(team.docId), text)
  assert.equal(one.doc.pendingCount, 0)
  // The server's seqs were seen without a hole by both.
  await waitFor(() => one.doc.seq === two.doc.seq, 'both reach the same seq')
  assert.ok(one.doc.seq >= 2)

  // A late third client syncs the whole document by state vector.
  const three = await openDocument(env.A, team.viewer, team)
  assert.equal(three.doc.ydoc.getText('content').toString(), text)
  assert.equal(three.doc.seq, one.doc.seq)
  assert.deepEqual(Y.encodeStateVector(three.doc.ydoc), Y.encodeStateVector(one.doc.ydoc))
})

test('a document opened after the join, and a second workspace, sync too', async () => {
  const team = await makeTeam()
  const otherDoc = await team.newDocument()
  const one = await openDocument(env.A, team.owner, team)
  const late = one.ws.document(otherDoc)
  late.ydoc.getText('content').insert(0, 'second document')
  await late.flushed()
  const two = await openDocument(env.B, team.collaborator, team, otherDoc)
  assert.equal(two.doc.ydoc.getText('content').toString(), 'second document')
  assert.equal(await team.content(otherDoc), 'second document')
  assert.equal(await team.content(team.docId), '')
  assert.equal(one.ws.document(otherDoc), late, 'one object per document')
})
