// Drives the official AWS SDK for JavaScript credential providers and the
// Cognito Sync Manager (amazon-cognito-js) against syncd with
// developer-authenticated tokens. syncapi/e2e/js_test.go runs it:
//   node logins.js sync|merged   (settings in the environment, see below)
// and reads one JSON line from stdout.
'use strict';
const AWS = require('aws-sdk');
global.AWS = AWS;
require('amazon-cognito-js');
const { fromCognitoIdentityPool } = require('@aws-sdk/credential-providers');

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const url = env('SYNCD_URL'), region = env('REGION'), pool = env('POOL');
const identityId = env('IDENTITY_ID'), token = env('TOKEN');
const logins = { 'cognito-identity.amazonaws.com': token };

// v2: CognitoIdentityCredentials with the developer token (enhanced flow:
// GetCredentialsForIdentity), the provider the Sync Manager reads.
async function v2Credentials(id, tok) {
  const creds = new AWS.CognitoIdentityCredentials(
    { IdentityPoolId: pool, IdentityId: id, Logins: { 'cognito-identity.amazonaws.com': tok } },
    { region, endpoint: url });
  await creds.getPromise();
  return creds;
}

function sync(dataset, handlers) {
  return new Promise((resolve, reject) => {
    dataset.synchronize({
      onSuccess: (ds, recs) => resolve({ ok: true }),
      onFailure: (err) => resolve({ ok: false, error: String(err && err.message || err) }),
      onConflict: (ds, conflicts, cb) => cb(false),
      onDatasetDeleted: (ds, name, cb) => cb(true),
      onDatasetsMerged: handlers.onDatasetsMerged || ((ds, names, cb) => cb(false)),
    });
  });
}

const call = (fn) => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));

async function main() {
  const mode = process.argv[2];
  const out = { mode };
  // JS v3: fromCognitoIdentityPool with the token: GetId + GetCredentialsForIdentity.
  const v3 = await fromCognitoIdentityPool({
    identityPoolId: pool, logins, clientConfig: { region, endpoint: url },
  })();
  out.v3IdentityId = v3.identityId;
  out.v3HasKeys = Boolean(v3.accessKeyId && v3.secretAccessKey && v3.sessionToken && v3.expiration);

  const creds = await v2Credentials(identityId, token);
  out.v2IdentityId = creds.identityId;
  AWS.config.update({ region, endpoint: url, credentials: creds });
  const mgr = new AWS.CognitoSyncManager({ DataStore: AWS.CognitoSyncManager.StoreInMemory });
  const game = await call((cb) => mgr.openOrCreateDataset('game', cb));

  if (mode === 'sync') {
    await call((cb) => game.put('level', '7', cb));
    out.sync = await sync(game, {});
  } else if (mode === 'merged') {
    let merged = null;
    out.sync = await sync(game, {
      onDatasetsMerged: (ds, names, cb) => { merged = names; cb(false); },
    });
    out.merged = merged;
    if (merged && merged.length === 1) {
      const copy = await call((cb) => mgr.openOrCreateDataset(merged[0], cb));
      out.copySync = await sync(copy, {});
      out.copyLevel = await call((cb) => copy.get('level', cb));
    }
    // The merged identity's own token no longer gets credentials.
    try {
      await v2Credentials(env('LOSER_ID'), env('LOSER_TOKEN'));
      out.loser = 'accepted';
    } catch (err) {
      out.loser = err.code || err.name;
    }
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
