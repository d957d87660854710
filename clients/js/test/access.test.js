import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { env, makeTeam, openDocument, waitFor, recordBroadcasts, sleep, closeAll } from './helpers.js'

after(closeAll)

test("a viewer's document is read-only: local edits are not sent, an error says why, remote edits still arrive", async () => {
  const team = await makeTeam()
  const editor = await openDocument(env.A, team.collaborator, team)
  const viewer = await openDocument(env.B, team.viewer, team)
  assert.equal(viewer.ws.role, 'viewer')
  assert.equal(viewer.ws.canEdit, false)
  const seen = recordBroadcasts(editor.client)
  const docErrors = []
  const wsErrors = []
  viewer.doc.on('error', (error) => docErrors.push(error))
  viewer.ws.on('error', (error) => wsErrors.push(error))

  editor.doc.ydoc.getText('content').insert(0, 'from the editor.')
  await editor.doc.flushed()
  await waitFor(() => viewer.doc.ydoc.getText('content').toString() === 'from the editor.', 'the viewer sees edits')

  viewer.doc.ydoc.getText('content').insert(0, 'VIEWER ')
  assert.equal(docErrors.length, 1)
  assert.equal(docErrors[0].code, 'read_only')
  assert.match(docErrors[0].message, /viewer/)
  assert.equal(wsErrors[0].docId, team.docId)
  await assert.rejects(viewer.doc.flushed(), (error) => error.code === 'read_only')
  assert.equal(viewer.doc.stats.sent, 0, 'nothing was sent')
  viewer.doc.ydoc.getText('content').insert(0, 'again ')
  assert.equal(docErrors.length, 1, 'reported once')

  editor.doc.ydoc.getText('content').insert(0, '2nd: ')
  await editor.doc.flushed()
  await waitFor(() => viewer.doc.ydoc.getText('content').toString().includes('2nd: '), 'remote edits keep arriving')
  await sleep(300)
  assert.equal(await team.content(team.docId), '2nd: from the editor.')
  assert.ok(seen.every((m) => m.user_id !== team.viewer.id), 'no update of the viewer was broadcast')
})

test('a viewer promoted to collaborator gets role-changed and its held edits are sent', async () => {
  const team = await makeTeam()
  const viewer = await openDocument(env.B, team.viewer, team)
  viewer.doc.ydoc.getText('content').insert(0, 'held')
  const changed = new Promise((resolve) => viewer.ws.on('role-changed', resolve))
  const { api } = await import('./helpers.js')
  await api(env.A, team.owner.token, 'PATCH', `/projects/${team.pid}/collaborators/${team.viewer.id}`, { role: 'collaborator' })
  assert.deepEqual(await changed, { role: 'collaborator', canEdit: true })
  await viewer.doc.flushed()
  assert.equal(await team.content(team.docId), 'held')
})

test('a removed member gets revoked: its documents stop syncing, no more updates reach it', async () => {
  const team = await makeTeam()
  const owner = await openDocument(env.A, team.owner, team)
  const member = await openDocument(env.B, team.collaborator, team)
  const seen = recordBroadcasts(member.client)
  const tOwner = owner.doc.ydoc.getText('content')
  tOwner.insert(0, 'before removal.')
  await waitFor(() => member.doc.ydoc.getText('content').toString() === 'before removal.', 'the member sees edits')
  const revoked = new Promise((resolve) => member.ws.on('revoked', resolve))
  const left = new Promise((resolve) => owner.ws.on('presence', (diff) => diff.left.includes(team.collaborator.id) && resolve()))

  await team.removeMember(team.collaborator)
  assert.deepEqual(await revoked, { reason: 'access_removed' })
  assert.equal(member.doc.stopped, true)
  assert.equal(member.client.workspaces.has(team.wid), false)
  await assert.rejects(member.doc.flushed(), (error) => error.code === 'revoked')
  await left

  const before = seen.length
  tOwner.insert(tOwner.length, ' after removal.')
  await owner.doc.flushed()
  member.doc.ydoc.getText('content').insert(0, 'ignored ')
  await sleep(500)
  assert.equal(seen.length, before, 'the socket left the room: no broadcast reaches it')
  assert.equal(member.doc.ydoc.getText('content').toString(), 'ignored before removal.')
  assert.equal(await team.content(team.docId), 'before removal. after removal.')
  await assert.rejects(member.client.joinWorkspace(team.wid), (error) => error.code === 'not_found')
})
