// An upstream OpenID provider for the tests: panva's oidc-provider (OpenID
// Certified; pinned in package.json) with its development sign-in pages,
// which take any name and password. Every account has a verified address,
// NAME@example.com. Its ID tokens carry only sub (the library's default,
// OpenID Connect Core §5.4): email and preferred_username come from
// userinfo, the path many real providers take.
import { createServer } from "node:http";
import { Provider } from "oidc-provider";

/** Starts the provider at http://localhost:PORT for one client; resolves
 *  to the issuer and a function that stops it. */
export async function startProvider({ port, clientId, clientSecret, redirectUri }) {
  const issuer = `http://localhost:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    }],
    cookies: { keys: ["a-cookie-key-for-the-tests-only"] },
    scopes: ["openid", "email", "profile"],
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["preferred_username", "name"] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true }, userinfo: { enabled: true } },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        claims: async () => ({ sub: id, preferred_username: id, name: id, email: `${id}@example.com`, email_verified: true }),
      };
    },
    // No consent page: a first-party app of the test's own.
    // (oidc-provider's own "skip consent" recipe.)
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope("openid email profile");
      await grant.save();
      return grant;
    },
  });
  const server = createServer(provider.callback());
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { issuer, stop: () => server.close() };
}
