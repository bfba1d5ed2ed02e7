'use strict';
/*
 * Stands in for an application task: it knows only DATABASE_URL (what ECS injects from the secret's
 * `url` key) and connects with node-postgres. Prints one JSON line: the first row, or the error.
 * Never prints the URL.
 */
const { Client } = require('pg');

async function main() {
  const client = new Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const result = await client.query(process.env.DEMO_SQL || 'select current_user, now(), version()');
    return { ok: true, row: result.rows[0] };
  } catch (e) {
    return { ok: false, code: e.code, message: e.message, detail: e.detail };
  } finally {
    await client.end().catch(() => undefined);
  }
}

main().then((outcome) => process.stdout.write(`${JSON.stringify(outcome)}\n`));
