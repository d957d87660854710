/**
 * @collab/client: a Yjs provider for collab's Socket.IO protocol.
 *
 *   const client = new CollabClient({ url, getToken })
 *   await client.connect()
 *   const ws = await client.joinWorkspace(workspaceId)
 *   const doc = ws.document(docId)   // doc.ydoc, doc.awareness
 *   await doc.whenSynced
 */
export { CollabClient } from './client.js'
export { Workspace } from './workspace.js'
export { CollabDocument } from './document.js'
export { CollabError } from './errors.js'
export { colorFor } from './awareness.js'
export { claimsOf } from './token.js'
