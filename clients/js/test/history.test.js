import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { api, env, makeTeam, openDocument, closeAll } from './helpers.js'

after(closeAll)

test('a version made on another instance reaches the workspace and the open document as `version`', async () => {
  const team = await makeTeam()
  const viewer = await openDocument(env.B, team.viewer, team)
  const other = await team.newDocument()
  const forWorkspace = []
  viewer.ws.on('version', (event) => forWorkspace.push(event))
  const forDocument = new Promise((resolve) => viewer.doc.on('version', resolve))
  const versions = (docId) => `/projects/${team.pid}/workspaces/${team.wid}/documents/${docId}/versions`

  const made = await api(env.A, team.collaborator.token, 'POST', versions(team.docId), { name: 'first draft' })
  assert.deepEqual(await forDocument, { version: made })
  const elsewhere = await api(env.A, team.owner.token, 'POST', versions(other), { name: 'other' })
  const deadline = Date.now() + 10000
  while (forWorkspace.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  assert.deepEqual(forWorkspace, [
    { docId: team.docId, version: made },
    { docId: other, version: elsewhere }
  ])
  assert.equal(made.name, 'first draft')
  assert.equal(made.created_by, team.collaborator.id)
})
