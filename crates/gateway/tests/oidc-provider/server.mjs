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
import http from 'node:http';
import Provider from 'oidc-provider';

const options = JSON.parse(process.argv[2] || '{}');
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
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
