// jsforce + npm jsonwebtoken against sf-emulator: JWT bearer login through conn.authorize,
// identity, paging through several thousand records, Bulk 2.0, errors, revocation.
// Environment (set by ../run.sh): SF_BASE, SF_KEY_FILE, SF_CONSUMER_KEY, SF_USERNAME.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const jwt = require('jsonwebtoken');
const jsforce = require('jsforce');

const base = process.env.SF_BASE;
const key = fs.readFileSync(process.env.SF_KEY_FILE, 'utf8');
const consumerKey = process.env.SF_CONSUMER_KEY;
const username = process.env.SF_USERNAME;
const GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

// The maintainer's sample: exp = now + 3 minutes, RS256 (jsonwebtoken adds typ and iat).
function assertion(aud = base, sub = username) {
  return jwt.sign(
    { iss: consumerKey, sub, aud, exp: Math.floor(Date.now() / 1000) + 3 * 60 },
    key,
    { algorithm: 'RS256' },
  );
}

async function login() {
  const conn = new jsforce.Connection({ loginUrl: base, version: '66.0' });
  const info = await conn.authorize({ grant_type: GRANT, assertion: assertion() });
  return { conn, info };
}

test('conn.authorize with the jwt-bearer grant', async () => {
  const { conn, info } = await login();
  assert.match(conn.accessToken, /^00D\w{12,15}![.\w]+$/);
  assert.equal(conn.instanceUrl, base);
  assert.match(info.id, /^005/);
  assert.match(info.organizationId, /^00D/);
  assert.equal(info.url, `${base}/id/${info.organizationId}/${info.id}`);
});

test('identity', async () => {
  const { conn } = await login();
  const id = await conn.identity();
  assert.equal(id.username, username);
  assert.match(id.user_id, /^005/);
});

test('query pages through several thousand records', async () => {
  const { conn } = await login();
  const records = [];
  const res = await conn
    .query('SELECT Id, Name, SystemModstamp FROM Account')
    .on('record', (r) => records.push(r))
    .run({ autoFetch: true, maxFetch: 100000 });
  assert.equal(res.totalSize, 4500);
  assert.equal(records.length, 4500);
  assert.equal(new Set(records.map((r) => r.Id)).size, 4500);
  // Manual queryMore with the locator.
  const first = await conn.query('SELECT Id FROM Contact');
  assert.equal(first.done, false);
  assert.equal(first.records.length, 2000);
  const second = await conn.queryMore(first.nextRecordsUrl);
  assert.equal(second.done, true);
  assert.equal(second.records.length, 500);
});

test('WHERE on a datetime, ORDER BY, LIMIT', async () => {
  const { conn } = await login();
  const res = await conn.query(
    'SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp > 2025-12-01T00:00:00Z ORDER BY SystemModstamp DESC LIMIT 5',
  );
  assert.equal(res.records.length, 5);
  const stamps = res.records.map((r) => r.SystemModstamp);
  assert.deepEqual([...stamps].sort().reverse(), stamps);
});

test('SOQL errors surface with errorCode', async () => {
  const { conn } = await login();
  await assert.rejects(conn.query('SELECT Id, Nope FROM Account'), (e) => {
    assert.equal(e.errorCode, 'INVALID_FIELD');
    assert.match(e.message, /No such column 'Nope' on entity 'Account'/);
    return true;
  });
});

test('Bulk 2.0 query', async () => {
  const { conn } = await login();
  conn.bulk2.pollInterval = 100;
  conn.bulk2.pollTimeout = 60000;
  const records = await conn.bulk2.query('SELECT Id, LastName FROM Contact');
  const all = [];
  for await (const r of records) all.push(r);
  assert.equal(all.length, 2500);
  assert.match(all[0].Id, /^003/);
});

test('token errors come back as jsforce errors', async () => {
  const conn = new jsforce.Connection({ loginUrl: base });
  await assert.rejects(
    conn.authorize({ grant_type: GRANT, assertion: assertion('https://test.salesforce.com') }),
    (e) => {
      assert.equal(e.name, 'invalid_grant');
      assert.equal(e.message, 'audience is invalid');
      return true;
    },
  );
  await assert.rejects(
    conn.authorize({ grant_type: GRANT, assertion: assertion(base, 'nobody@example.com') }),
    (e) => e.name === 'invalid_grant' && e.message === 'inactive user',
  );
});

test('after revocation the session is invalid', async () => {
  const { conn } = await login();
  await conn.query('SELECT Id FROM Account LIMIT 1');
  const res = await fetch(`${base}/services/oauth2/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: conn.accessToken }),
  });
  assert.equal(res.status, 200);
  await assert.rejects(conn.query('SELECT Id FROM Account LIMIT 1'), (e) => {
    assert.equal(e.errorCode, 'INVALID_SESSION_ID');
    return true;
  });
});
