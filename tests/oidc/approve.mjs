// The user's side of a device login, as a browser would do it, for tests/oidc_login.rs:
//   node approve.mjs ISSUER USER_CODE      enter the code at ISSUER/device, confirm it, approve
//   node approve.mjs --revoke ISSUER TOKEN revoke a refresh token (RFC 7009) as the client
// Exits 0 when the provider shows its success page (or accepted the revocation).
const [mode, ...rest] = process.argv.slice(2);

if (mode === '--revoke') {
  const [issuer, token] = rest;
  const r = await fetch(`${issuer}/token/revocation`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, token_type_hint: 'refresh_token', client_id: 'ratchet-cli' }),
  });
  if (r.status !== 200) {
    console.error(`revocation: HTTP ${r.status} ${await r.text()}`);
    process.exit(1);
  }
  process.exit(0);
}

const issuer = mode;
const [userCode] = rest;
const jar = new Map();

async function request(url, init = {}) {
  const headers = { ...(init.headers || {}) };
  if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const r = await fetch(new URL(url, issuer), { ...init, headers, redirect: 'manual' });
  for (const c of r.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    const [k, v] = [pair.slice(0, i).trim(), pair.slice(i + 1)];
    if (v === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(c)) jar.delete(k); else jar.set(k, v);
  }
  return r;
}

async function follow(r) {
  let hops = 0;
  while (r.status >= 300 && r.status < 400) {
    if (++hops > 10) throw new Error('too many redirects');
    r = await request(r.headers.get('location'));
  }
  return r;
}

function post(url, fields) {
  return request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  });
}

const xsrfOf = (html) => {
  const m = /name="xsrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error(`no xsrf field in: ${html.slice(0, 300)}`);
  return m[1];
};

// The page the user opens: type the code.
let page = await (await follow(await request('/device'))).text();
// The confirmation page ("the following code should be displayed on your device").
page = await (await follow(await post('/device', { xsrf: xsrfOf(page), user_code: userCode }))).text();
// Confirm: the provider sends the browser to its sign-in interaction.
let r = await follow(await post('/device', {
  xsrf: xsrfOf(page), user_code: /name="user_code" value="([^"]+)"/.exec(page)?.[1] ?? userCode, confirm: 'yes',
}));
page = await r.text();
const action = /action="(\/interaction\/[^"]+\/approve)"/.exec(page);
if (!action) throw new Error(`no approval form in: ${page.slice(0, 300)}`);
r = await follow(await post(action[1], { account: 'tester' }));
page = await r.text();
if (!/Sign-in Success/.test(page)) {
  console.error(`not approved: HTTP ${r.status} ${page.slice(0, 500)}`);
  process.exit(1);
}
