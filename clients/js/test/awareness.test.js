import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { colorFor } from '../src/index.js'
import { env, makeTeam, openDocument, connectClient, waitFor, sleep, closeAll } from './helpers.js'

after(closeAll)

/** What y-codemirror.next sets for a selection. */
const select = (doc, anchor, head = anchor) => {
  const ytext = doc.ydoc.getText('content')
  doc.awareness.setLocalStateField('cursor', {
    anchor: Y.createRelativePositionFromTypeIndex(ytext, anchor),
    head: Y.createRelativePositionFromTypeIndex(ytext, head)
  })
}

/** The remote states of `doc.awareness` (what y-codemirror.next draws), by clientID. */
const remoteStates = (doc) => [...doc.awareness.getStates()].filter(([id]) => id !== doc.awareness.clientID)

/** A remote cursor as y-codemirror.next reads it: absolute indexes in the local Y.Doc. */
const where = (doc, state) => {
  const anchor = Y.createAbsolutePositionFromRelativePosition(state.cursor.anchor, doc.ydoc)
  const head = Y.createAbsolutePositionFromRelativePosition(state.cursor.head, doc.ydoc)
  assert.equal(anchor.type, doc.ydoc.getText('content'))
  return [anchor.index, head.index]
}

test('remote cursors appear in Awareness, one state per remote socket, with name and color; they go when the user leaves', async () => {
  const team = await makeTeam()
  const ada = await openDocument(env.A, team.owner, team)
  const adaTab2 = await openDocument(env.B, team.owner, team)
  const bob = await openDocument(env.B, team.collaborator, team)
  const errors = []
  for (const side of [ada, adaTab2, bob]) side.client.on('error', (error) => errors.push(error))
  ada.doc.ydoc.getText('content').insert(0, 'Hello, cursors!')
  await ada.doc.flushed()
  await waitFor(() => bob.doc.ydoc.getText('content').length === 15, 'text synced')

  // The local user's state gets a default `user` (its username, its color).
  assert.deepEqual(bob.doc.awareness.getLocalState().user, { name: team.collaborator.username, ...colorFor(team.collaborator.id) })

  select(ada.doc, 3, 7)
  const [[adaId, state]] = await waitFor(() => remoteStates(bob.doc).length === 1 && remoteStates(bob.doc), "ada's cursor reaches bob")
  assert.equal(state.user.name, team.owner.username)
  assert.equal(state.user.color, colorFor(team.owner.id).color)
  assert.equal(state.user.colorLight, colorFor(team.owner.id).colorLight)
  assert.deepEqual(where(bob.doc, state), [3, 7])

  // Bob types before her selection: a relative position moves with the text.
  bob.doc.ydoc.getText('content').insert(0, '>> ')
  assert.deepEqual(where(bob.doc, bob.doc.awareness.getStates().get(adaId)), [6, 10])

  // Her second tab is a second state, with the same name and color.
  await waitFor(() => adaTab2.doc.ydoc.getText('content').toString().startsWith('>> '), "bob's edit reaches her tab")
  select(adaTab2.doc, 0)
  await waitFor(() => remoteStates(bob.doc).length === 2, "the second tab's cursor")
  const tab2 = remoteStates(bob.doc).find(([id]) => id !== adaId)[1]
  assert.equal(tab2.user.name, team.owner.username)
  assert.deepEqual(where(bob.doc, tab2), [0, 0])
  // Bob's cursor reaches her, too.
  select(bob.doc, 1, 2)
  await waitFor(() => remoteStates(ada.doc).some(([, s]) => s.user.name === team.collaborator.username), "bob's cursor reaches ada")

  await waitFor(() => ada.doc.ydoc.getText('content').toString().startsWith('>> '), "bob's edit reaches her")
  // A burst of moves is throttled under the server's 20/s: none refused, the last one wins.
  for (let i = 0; i < 60; i++) select(ada.doc, i % 10, (i % 10) + 1)
  select(ada.doc, 12, 14)
  await waitFor(() => {
    const now = bob.doc.awareness.getStates().get(adaId)
    return now && now.cursor && where(bob.doc, now)[0] === 12
  }, 'the last position arrives', 5000)
  assert.deepEqual(errors, [])

  // Unfocused: no cursor.
  ada.doc.awareness.setLocalStateField('cursor', null)
  await waitFor(() => bob.doc.awareness.getStates().get(adaId)?.cursor === null, 'the cursor is taken back')

  // She leaves (both tabs): her states are removed.
  const removed = []
  bob.doc.awareness.on('change', ({ removed: ids }) => removed.push(...ids))
  adaTab2.client.close()
  await ada.ws.leave()
  await waitFor(() => remoteStates(bob.doc).length === 0, 'her states are gone', 5000)
  assert.equal(removed.length, 2)
})

test("a socket's cursor moving to another document leaves the first one's awareness", async () => {
  const team = await makeTeam()
  const second = await team.newDocument()
  const ada = await openDocument(env.A, team.owner, team)
  const adaOther = ada.ws.document(second)
  await adaOther.whenSynced
  const bob = await openDocument(env.B, team.collaborator, team)
  const bobOther = bob.ws.document(second)
  await bobOther.whenSynced
  select(ada.doc, 0)
  await waitFor(() => remoteStates(bob.doc).length === 1, 'cursor in the first document')
  assert.equal(remoteStates(bobOther).length, 0)
  select(adaOther, 0)
  await waitFor(() => remoteStates(bob.doc).length === 0 && remoteStates(bobOther).length === 1, 'cursor moved')
  // Presence names her active document.
  await waitFor(() => bob.ws.presence.get(team.owner.id)?.doc_id === second, 'presence follows the cursor')
})

test('a client disconnecting takes its cursor away from the others', async () => {
  const team = await makeTeam()
  const ada = await openDocument(env.A, team.owner, team)
  // The server batches presence diffs (0.1 s per instance): a join and a leave within one
  // batch cancel out, and nobody is told. Real sessions last longer than that.
  await sleep(300)
  const bob = await connectClient(env.B, team.collaborator)
  const bobDoc = (await bob.joinWorkspace(team.wid)).document(team.docId)
  await bobDoc.whenSynced
  select(ada.doc, 0)
  await waitFor(() => remoteStates(bobDoc).length === 1, 'cursor shown')
  ada.client.close()
  await waitFor(() => remoteStates(bobDoc).length === 0, 'cursor gone with its user', 5000)
  assert.equal(bob.workspaces.get(team.wid).presence.has(team.owner.id), false)
})
