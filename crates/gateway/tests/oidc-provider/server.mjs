// A real OpenID Provider (npm `oidc-provider`, pinned in package-lock.json and installed by
// scripts/ensure-oidc-provider) for Palisade's federation tests, on a free loopback port.
//
//   node server.mjs '{"clients":[{"client_id":"palisade","client_secret":"…","redirect_uris":["…"]}]}'
//
// Prints one JSON line, {"issuer":"http://127.0.0.1:PORT"}, once it listens; exits when stdin
// closes (the test that started it went away). Sign-in is scriptable: the provider's own
// development interactions (a login form that accepts any login, then a consent form), so a
// test plays the browser by posting them. The account's `sub` is the login; its claims are an
// e-mail `<login>@example.test` (verified unless the login starts with `unverified`) and the
// groups `["staff"]`. Tokens: authorization code with PKCE, refresh tokens with
// `offline_access`; the authorization response carries RFC 9207 `iss`.
//
// Options for the ID-token tests: `signing_key` ({"pkcs8": base64 DER, "kid", "alg"}) makes
// that key, given by the test, the provider's only signing key (so the test can sign tokens
// the provider's JWKS vouches for); `POST /__test/next-id-token` with a token as its body
// makes the token endpoint's next successful answer carry that ID token instead of its own
// (everything else, the code, PKCE, the access token, userinfo, stays the real provider's).
// `GET /__test/token-requests` counts the token endpoint's requests (the single-flight test).
import crypto from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

// stdout carries the one JSON line; the provider's notices go to stderr (the test stops
// reading stdout after that line, and a write to the closed pipe would end the process).
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);
process.stdout.on('error', () => {});

const options = JSON.parse(process.argv[2] || '{}');
let jwks;
if (options.signing_key) {
  const { pkcs8, kid, alg } = options.signing_key;
  const key = crypto.createPrivateKey({ key: Buffer.from(pkcs8, 'base64'), format: 'der', type: 'pkcs8' });
  jwks = { keys: [{ ...key.export({ format: 'jwk' }), kid, alg, use: 'sig' }] };
}
let nextIdToken = null;
let tokenRequests = 0;
const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: options.clients || [],
    cookies: { keys: ['palisade-test-cookie-key'] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    scopes: ['openid', 'offline_access', 'email', 'groups'],
    ...(jwks ? { jwks } : {}),
    features: { devInteractions: { enabled: true } },
    ttl: { AccessToken: options.access_token_ttl || 3600 },
    async findAccount(_ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: `${sub}@example.test`,
            email_verified: !sub.startsWith('unverified'),
            groups: ['staff'],
          };
        },
      };
    },
  });
  provider.proxy = false;
  provider.use(async (ctx, next) => {
    if (ctx.path === '/token' && ctx.method === 'POST') tokenRequests += 1;
    await next();
    if (ctx.path === '/token' && nextIdToken && ctx.status === 200 && ctx.body?.id_token) {
      ctx.body = { ...ctx.body, id_token: nextIdToken };
      nextIdToken = null;
    }
  });
  const app = provider.callback();
  server.on('request', (req, res) => {
    if (req.method === 'POST' && req.url === '/__test/next-id-token') {
      let body = '';
      req.on('data', (chunk) => { body += chunk; });
      req.on('end', () => { nextIdToken = body; res.writeHead(204); res.end(); });
      return;
    }
    if (req.method === 'GET' && req.url === '/__test/token-requests') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token_requests: tokenRequests }));
      return;
    }
    app(req, res);
  });
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
