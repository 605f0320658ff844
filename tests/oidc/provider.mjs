// A real OpenID Connect provider on loopback for tests/oidc_login.rs: node-oidc-provider (npm
// package `oidc-provider`, pinned in package.json; scripts/setup.sh runs `npm ci` here) with the
// device flow (RFC 8628), refresh tokens and revocation, and no development interactions: the
// approval step is this file's own small interaction page, which tests/oidc/approve.mjs drives.
//
//   node provider.mjs            listens on 127.0.0.1 (a free port); ACCESS_TTL=SECONDS sets
//                                the access tokens' lifetime (default 60)
//
// It prints one JSON line per event on stdout, the first being {"issuer": URL}: grants
// ({"event": "grant", "grant_type": ...}), refused grants ({"event": "grant.error", ...}) and
// bearer-token checks. `GET /_check` is the "tiny checker" behind nginx's auth_request: 204 when
// the request's `Authorization: Bearer` token is a live access token of this provider, else 401.
import http from 'node:http';
import Provider from 'oidc-provider';

const log = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const accessTtl = Number(process.env.ACCESS_TTL || 60);

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'ratchet-cli',
    grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'none',
  }],
  features: {
    devInteractions: { enabled: false },
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
  },
  scopes: ['openid', 'offline_access'],
  ttl: {
    AccessToken: accessTtl,
    DeviceCode: 600,
    RefreshToken: 3600,
    Grant: 3600,
    Interaction: 600,
    Session: 3600,
    IdToken: 3600,
  },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['test-only-cookie-key'] },
});

provider.on('grant.success', (ctx) => log({ event: 'grant', grant_type: ctx.oidc.params.grant_type }));
provider.on('grant.error', (ctx, err) => log({
  event: 'grant.error', grant_type: ctx.oidc.params?.grant_type, error: err.error,
}));

async function formBody(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10000) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/_check') {
    const m = /^Bearer (.+)$/.exec(ctx.get('authorization'));
    // find() tolerates the provider's clock skew allowance; a resource server checks `exp`.
    const token = m ? await provider.AccessToken.find(m[1]) : undefined;
    const ok = Boolean(token) && !token.isExpired;
    ctx.status = ok ? 204 : 401;
    log({ event: 'check', ok });
    return;
  }
  const interaction = /^\/interaction\/([^/]+)(\/approve)?$/.exec(ctx.path);
  if (!interaction) {
    await next();
    return;
  }
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><title>Approve</title>
<form method="post" action="/interaction/${details.uid}/approve">
<input name="account" value="tester"><button>Approve ${details.params.client_id}</button></form>`;
    return;
  }
  const form = await formBody(ctx.req);
  const accountId = form.get('account') || 'tester';
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope || 'openid');
  const grantId = await grant.save();
  const to = await provider.interactionResult(ctx.req, ctx.res, {
    login: { accountId },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(to);
});

server.on('request', provider.callback());
log({ issuer });
