// Real servers for the provider's tests: two collab web instances on one Redis, started by
// tests/test_client_js.py, which passes their addresses:
//   COLLAB_URL_A, COLLAB_URL_B   the instances (B's logins issue short-lived access tokens)
//   COLLAB_SHORT_TOKEN_SECONDS   that lifetime
//   COLLAB_REDIS_URL             their Redis
// Everything is seeded through the REST API; nothing is mocked.
import net from 'node:net'
import { randomUUID } from 'node:crypto'
import { CollabClient } from '../src/index.js'

const required = (name) => {
  const value = process.env[name]
  if (!value) {
    throw new Error(`${name} is not set: run these tests through tests/test_client_js.py (pytest), which starts the servers`)
  }
  return value
}

export const env = {
  get A () { return required('COLLAB_URL_A') },
  get B () { return required('COLLAB_URL_B') },
  get redis () { return required('COLLAB_REDIS_URL') },
  get shortTokenSeconds () { return Number(required('COLLAB_SHORT_TOKEN_SECONDS')) }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Wait until `predicate()` is truthy (polling); fail with `message` after `timeoutMs`. */
export async function waitFor (predicate, message, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await predicate()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${message}`)
    await sleep(25)
  }
}

/** One REST call; the parsed body; throws on an unexpected status. */
export async function api (base, token, method, path, body, expected = [200, 201]) {
  const response = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {})
    },
    body: body !== undefined ? JSON.stringify(body) : undefined
  })
  const text = await response.text()
  const data = text ? JSON.parse(text) : null
  if (!expected.includes(response.status)) {
    throw new Error(`${method} ${path}: ${response.status} ${text}`)
  }
  return data
}

/**
 * A registered user, logged in at `loginAt` (the instance that issues its tokens: B issues
 * short-lived ones). `user.getToken()` swaps the refresh token for a new pair (rotation),
 * as a web app does, and counts the calls in `user.renewals`.
 */
export async function makeUser (prefix = 'user', loginAt = env.A) {
  const username = `${prefix}-${randomUUID().slice(0, 8)}`
  const email = `${username}@example.com`
  const password = 'correct horse battery'
  const registered = await api(env.A, null, 'POST', '/auth/register', { email, username, password })
  const user = { id: registered.id, username, email, password, renewals: 0 }
  await logIn(user, loginAt)
  return user
}

/** A new session for `user`, its tokens issued by the instance `base`. */
export async function logIn (user, base) {
  const tokens = await api(base, null, 'POST', '/auth/login', { email: user.email, password: user.password })
  user.token = tokens.access_token
  user.refresh = tokens.refresh_token
  user.getToken = async () => {
    const fresh = await api(base, null, 'POST', '/auth/refresh', { refresh_token: user.refresh })
    user.token = fresh.access_token
    user.refresh = fresh.refresh_token
    user.renewals++
    return user.token
  }
  return user
}

/** A project with an owner, a collaborator and a viewer; one workspace, one document. */
export async function makeTeam () {
  const [owner, collaborator, viewer] = await Promise.all([
    makeUser('owner'), makeUser('collab'), makeUser('viewer')
  ])
  const project = await api(env.A, owner.token, 'POST', '/projects', { name: 'Provider tests' })
  const pid = project.id
  const workspace = await api(env.A, owner.token, 'POST', `/projects/${pid}/workspaces`, { name: 'Live' })
  const wid = workspace.id
  await api(env.A, owner.token, 'POST', `/projects/${pid}/collaborators`, { email: collaborator.email, role: 'collaborator' })
  await api(env.A, owner.token, 'POST', `/projects/${pid}/collaborators`, { email: viewer.email, role: 'viewer' })
  const team = {
    owner,
    collaborator,
    viewer,
    pid,
    wid,
    async newDocument (name = `doc-${randomUUID().slice(0, 8)}.md`) {
      const doc = await api(env.A, owner.token, 'POST', `/projects/${pid}/workspaces/${wid}/documents`, { name })
      return doc.id
    },
    /** The document's text as the server stores it (REST). */
    async content (docId) {
      const doc = await api(env.A, owner.token, 'GET', `/projects/${pid}/workspaces/${wid}/documents/${docId}`)
      return doc.content
    },
    async addMember (user, role) {
      await api(env.A, owner.token, 'POST', `/projects/${pid}/collaborators`, { email: user.email, role })
    },
    async removeMember (user) {
      await api(env.A, owner.token, 'DELETE', `/projects/${pid}/collaborators/${user.id}`)
    }
  }
  team.docId = await team.newDocument()
  return team
}

/** Clients made by `connectClient`, closed by `closeAll` (each test file's after hook). */
const open = new Set()

export async function connectClient (url, user, options = {}) {
  const client = new CollabClient({ url, token: user.token, ...options })
  open.add(client)
  await client.connect()
  return client
}

export function closeAll () {
  for (const client of open) client.close()
  open.clear()
}

/** A document joined and synced through a fresh client: {client, ws, doc}. */
export async function openDocument (url, user, team, docId = team.docId, options = {}) {
  const client = await connectClient(url, user, options)
  const ws = await client.joinWorkspace(team.wid)
  const doc = ws.document(docId)
  await doc.whenSynced
  return { client, ws, doc }
}

/**
 * A TCP proxy in front of an instance, to take the network away from a client for real:
 * `cut()` closes every connection and refuses new ones (a client sees its socket drop and
 * its reconnections fail) until `restore()`.
 */
export async function startProxy (targetUrl) {
  const target = new URL(targetUrl)
  let up = true
  const sockets = new Set()
  const server = net.createServer((socket) => {
    if (!up) {
      socket.destroy()
      return
    }
    const upstream = net.connect(Number(target.port), target.hostname)
    sockets.add(socket)
    sockets.add(upstream)
    socket.pipe(upstream)
    upstream.pipe(socket)
    const close = () => {
      socket.destroy()
      upstream.destroy()
      sockets.delete(socket)
      sockets.delete(upstream)
    }
    socket.on('error', close)
    upstream.on('error', close)
    socket.on('close', close)
    upstream.on('close', close)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut () {
      up = false
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    },
    restore () {
      up = true
    },
    close () {
      this.cut()
      return new Promise((resolve) => server.close(resolve))
    }
  }
}

/** Whether a RESP reply (simple, or an array of bulk strings) has arrived whole. */
const complete = (reply) => {
  if (!reply.startsWith('*')) return true
  const lines = reply.split('\r\n')
  const count = Number(lines[0].slice(1))
  return count <= 0 || lines.length - 2 >= count * 2
}

/** One command to the Redis at `url` (RESP over a plain socket); its reply as text. */
export function redisCommand (url, ...args) {
  const { hostname, port } = new URL(url)
  const request = `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(request))
    let reply = ''
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8')
      if (reply.endsWith('\r\n') && complete(reply)) {
        socket.end()
        if (reply.startsWith('-')) reject(new Error(`redis: ${reply.trim()}`))
        else resolve(reply.trim())
      }
    })
    socket.on('error', reject)
  })
}

/** Every doc:update broadcast a client's socket receives: [{seq, user_id, doc_id}]. */
export function recordBroadcasts (client) {
  const seen = []
  client.socket.on('doc:update', (message) => seen.push({ seq: message.seq, user_id: message.user_id, doc_id: message.doc_id }))
  return seen
}
