// Passkeys in headless Chromium with the browser's own virtual
// authenticator (CDP WebAuthn: internal transport, resident keys, user
// verification), against the real binary behind Debian's nginx: sign in
// with the password through an app guarded by forward auth, add a passkey
// on the account page, rename it, sign out, then sign in with the passkey
// on the server's own /login and through forward auth back to the app.
// Screenshots (desktop and phone) go to e2e/output/.
//
//   AUTH_SERVER_BIN=target/debug/auth-server node --test e2e/passkeys.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { accessible, freePort, launchChromium, nginxConfig, start, waitForPort } from "./lib.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const output = join(root, "e2e", "output");
const binary = process.env.AUTH_SERVER_BIN || join(root, "target", "debug", "auth-server");
const PASSWORD = "correct horse battery staple";
const HOST = "app.localhost";

const children = [];
let work, browser, authPort, proxyPort, appPort;

const nginxInstalled = spawnSync("sh", ["-c", "command -v nginx"]).status === 0;

before(async () => {
  mkdirSync(output, { recursive: true });
  work = mkdtempSync(join(tmpdir(), "auth-server-passkeys-"));
  // Ports chosen first: the passkey origins are configuration, and a
  // ceremony's origin is the browser's page, here the server's own
  // (auth.app.localhost) and the app's behind nginx (app.localhost), both
  // under the relying party id "app.localhost" (Chromium takes "localhost"
  // for a top-level domain, a suffix of no other host).
  [authPort, proxyPort] = [await freePort(), await freePort()];
  await start(children, binary, [], {
    HOST: "127.0.0.1", PORT: String(authPort), DATABASE_PATH: join(work, "auth.db"), BCRYPT_COST: "4",
    FORWARD_AUTH_HOSTS: HOST, LOGIN_URL: "/auth/login", TRUST_PROXY: "true", SITE_NAME: "Family Cloud",
    PASSKEY_RP_ID: HOST,
    PASSKEY_ORIGINS: `http://auth.${HOST}:${authPort},http://${HOST}:${proxyPort}`,
  }, /listening on/);
  const made = await fetch(`http://127.0.0.1:${authPort}/api/register`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: "alice", email: "alice@example.com", password: PASSWORD }),
  });
  assert.equal(made.status, 201);

  const app = createServer((request, response) => {
    const user = request.headers["remote-user"] || "(nobody)";
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    response.end(`<!doctype html><title>The wiki</title><h1 id="hello">Hello, ${user.replace(/[<&>]/g, "")}</h1>`);
  });
  await new Promise((resolve) => app.listen(0, "127.0.0.1", resolve));
  appPort = app.address().port;
  children.push({ kill: () => app.close() });

  if (nginxInstalled) {
    const prefix = join(work, "nginx");
    mkdirSync(join(prefix, "logs"), { recursive: true });
    writeFileSync(join(prefix, "nginx.conf"), nginxConfig({
      prefix, port: proxyPort, authPort, appPort, hosts: [HOST],
      locations: join(root, "deploy", "forward-auth", "nginx-locations.conf"),
    }));
    await start(children, "nginx", ["-p", prefix, "-c", join(prefix, "nginx.conf")], {});
    await waitForPort(proxyPort);
  }

  browser = await launchChromium(["--host-resolver-rules=MAP *.localhost 127.0.0.1"]);
});

after(async () => {
  await browser?.close();
  for (const child of children.reverse()) child.kill("SIGTERM");
  if (work) rmSync(work, { recursive: true, force: true });
});

async function snap(page, name) {
  await page.screenshot({ path: join(output, `${name}.png`), fullPage: true });
}

/**
 * A page with a platform authenticator that verifies its user. The
 * virtual authenticator answers a conditional (autofill) request at once,
 * as if the person picked the passkey from the username field's list, so
 * the sign-in page's autofill is switched off unless the page's
 * localStorage says `autofill`: each step then signs in only when the test
 * says so.
 */
async function pageWithAuthenticator(viewport) {
  // bypassCSP lets axe-core's script in; the pages run only their own.
  const context = await browser.newContext({ viewport, bypassCSP: true });
  await context.addInitScript(() => {
    if (window.PublicKeyCredential && localStorage.getItem("autofill") !== "on") {
      PublicKeyCredential.isConditionalMediationAvailable = async () => false;
    }
  });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2", transport: "internal", hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  return { context, page, cdp, authenticatorId };
}

for (const [device, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]]) {
  test(`a passkey added on the account page signs in on /login and through forward auth (${device})`,
    { skip: nginxInstalled ? false : "nginx is not installed (apt-get install nginx-light)" },
    async () => {
      const { context, page, cdp, authenticatorId } = await pageWithAuthenticator(viewport);
      const appUrl = `http://${HOST}:${proxyPort}/wiki/${device}`;
      const name = `alice-${device}`;
      const made = await fetch(`http://127.0.0.1:${authPort}/api/register`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: name, email: `${name}@example.com`, password: PASSWORD }),
      });
      assert.equal(made.status, 201);

      // In with the password, through the app.
      await page.goto(appUrl);
      await page.waitForSelector("#sign-in");
      assert.ok(await page.isVisible("#passkey"), "the passkey button is offered at a PASSKEY_ORIGINS page");
      await page.fill("#identifier", name);
      await page.fill("#password", PASSWORD);
      await page.click("#submit");
      await page.waitForURL(appUrl);

      // The account page: add a passkey, named, then rename it.
      await page.goto(`http://${HOST}:${proxyPort}/auth/account`);
      await page.waitForSelector(`#username:has-text('${name}')`);
      assert.ok(await page.isVisible("#passkeys-none"));
      await page.getByLabel("Name for the new passkey").fill(`My ${device}`);
      await page.getByRole("button", { name: "Add a passkey" }).click();
      await page.waitForSelector("#status.ok, #status.error");
      assert.match(await page.textContent("#status"), /added/);
      assert.match(await page.textContent("#passkeys"), new RegExp(`My ${device}: added .*not used yet`));
      const stored = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
      assert.equal(stored.credentials.length, 1);
      assert.equal(stored.credentials[0].isResidentCredential, true);
      await page.getByRole("button", { name: `Rename My ${device}` }).click();
      await page.getByLabel(`New name for My ${device}`).fill(`Work ${device}`);
      await page.getByRole("button", { name: "Save" }).click();
      await page.waitForSelector(`#passkeys:has-text('Work ${device}')`);
      await snap(page, `passkeys-${device}-1-account`);
      await accessible(page, "/account with a passkey");

      // Adding it twice: the device says it holds one already.
      await page.getByRole("button", { name: "Add a passkey" }).click();
      await page.waitForSelector("#status.error");
      assert.match(await page.textContent("#status"), /already holds a passkey/);

      // Out everywhere; in on the server's own /login (its own origin) with
      // the passkey.
      await page.getByRole("button", { name: "Sign out everywhere" }).click();
      await page.waitForSelector("#sign-in");
      await page.goto(`http://auth.${HOST}:${authPort}/login`);
      await page.waitForSelector("#passkey:visible");
      await snap(page, `passkeys-${device}-2-sign-in`);
      await accessible(page, "/login with the passkey button");
      await page.click("#passkey");
      await page.waitForSelector("#signed-in:not(.hidden)");
      assert.equal(await page.textContent("#who"), name);
      const sessions = await page.evaluate(async () => (await (await fetch("api/sessions")).json()).data.sessions);
      assert.equal(sessions.find((s) => s.current).opened_with, "passkey");

      // And through forward auth (the app's host has its own cookie, whose
      // session ended everywhere above): the app, the sign-in page, the
      // passkey, back to the app.
      await page.goto(appUrl);
      await page.waitForSelector("#sign-in");
      await page.click("#passkey");
      await page.waitForURL(appUrl);
      assert.equal(await page.textContent("#hello"), `Hello, ${name}`);
      await snap(page, `passkeys-${device}-3-app`);

      // The browser's autofill: signed out, the sign-in page waits in the
      // username field for a passkey; picking it signs in.
      await page.goto(`http://${HOST}:${proxyPort}/auth/login`);
      await page.click("#sign-out");
      await page.waitForSelector("#status:has-text('You are signed out')");
      await page.evaluate(() => localStorage.setItem("autofill", "on"));
      await page.goto(appUrl);
      await page.waitForURL(appUrl);
      await page.waitForSelector("#hello");
      assert.equal(await page.textContent("#hello"), `Hello, ${name}`);
      await page.evaluate(() => localStorage.removeItem("autofill"));

      // The passkey's last use shows; removing it stops it.
      await page.goto(`http://${HOST}:${proxyPort}/auth/account`);
      await page.waitForSelector(`#passkeys:has-text('last used')`);
      await page.getByRole("button", { name: `Remove Work ${device}` }).click();
      await page.waitForSelector("#passkeys-none:visible");
      await page.goto(`http://${HOST}:${proxyPort}/auth/login`);
      await page.click("#sign-out");
      await page.waitForSelector("#status:has-text('You are signed out')");
      await page.click("#passkey");
      await page.waitForSelector("#status.error");
      assert.match(await page.textContent("#status"), /passkey could not sign you in/);
      await context.close();
    });
}

// Sudo mode: a session whose last proof is older than REAUTH_SECS is asked
// for the password on the account page before a passkey is added, and
// then the passkey is added without starting over.
for (const [device, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]]) {
  test(`an older session confirms the password before adding a passkey (${device})`, async () => {
    const port = await freePort();
    const origin = `http://auth.${HOST}:${port}`;
    await start(children, binary, [], {
      HOST: "127.0.0.1", PORT: String(port), DATABASE_PATH: join(work, `reauth-${device}.db`), BCRYPT_COST: "4",
      PASSKEY_RP_ID: HOST, PASSKEY_ORIGINS: origin, PUBLIC_URL: origin, REAUTH_SECS: "2", SITE_NAME: "Family Cloud",
    }, /listening on/);
    const made = await fetch(`http://127.0.0.1:${port}/api/register`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "bob", email: "bob@example.com", password: PASSWORD }),
    });
    assert.equal(made.status, 201);
    const { context, page, cdp, authenticatorId } = await pageWithAuthenticator(viewport);
    await page.goto(`${origin}/login?rd=${encodeURIComponent(`${origin}/account`)}`);
    await page.fill("#identifier", "bob");
    await page.fill("#password", PASSWORD);
    await page.click("#submit");
    await page.waitForSelector("#username:has-text('bob')");
    // Older than REAUTH_SECS by the time the button is pressed.
    await new Promise((resolve) => setTimeout(resolve, 3100));
    await page.getByLabel("Name for the new passkey").fill("Old session");
    await page.getByRole("button", { name: "Add a passkey" }).click();
    await page.waitForSelector("#reauth:not(.hidden)");
    assert.match(await page.textContent("#status"), /Confirm it is you/);
    assert.equal(await page.evaluate(() => document.activeElement.id), "reauth-password", "the password field has the focus");
    await snap(page, `passkeys-${device}-4-confirm-password`);
    await accessible(page, "/account asking for the password");
    await page.getByLabel("Password, to confirm it is you").fill("not the password");
    await page.getByRole("button", { name: "Confirm and add the passkey" }).click();
    await page.waitForSelector("#reauth-password[aria-invalid=true]");
    assert.match(await page.textContent("#reauth-password-error"), /Invalid username or password/);
    await page.getByLabel("Password, to confirm it is you").fill(PASSWORD);
    await page.getByRole("button", { name: "Confirm and add the passkey" }).click();
    await page.waitForSelector("#status.ok");
    assert.match(await page.textContent("#status"), /Passkey “Old session” added/);
    assert.ok(await page.isHidden("#reauth"));
    const stored = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    assert.equal(stored.credentials.length, 1);
    await snap(page, `passkeys-${device}-5-added-after-confirming`);
    await context.close();
  });
}
