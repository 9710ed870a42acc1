// A real browser across origins: examples/demo/ served from one port on
// localhost, the real auth-server binary on another, driven in headless
// Chromium. A screenshot of every step goes to e2e/output/.
//
//   AUTH_SERVER_BIN=target/debug/auth-server node --test e2e/demo.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { totpCode } from "./lib.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const output = join(root, "e2e", "output");
const binary = process.env.AUTH_SERVER_BIN || join(root, "target", "debug", "auth-server");
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
const PASSWORD = "correct horse battery staple";

let api, apiUrl, demoUrl, demoOrigin, evilUrl, browser, dataDir, inbox;
let apiLog = "";
const staticServers = [];

/** Serves one HTML text on 127.0.0.1 at a free port. */
function serve(html) {
  return new Promise((resolve) => {
    const server = createServer((request, response) => {
      response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      response.end(html);
    });
    server.listen(0, "127.0.0.1", () => {
      staticServers.push(server);
      resolve(server.address().port);
    });
  });
}

/** Starts auth-server on a free port and resolves with its port. Mail goes
 * to files in `inbox`, one per message, as a person's inbox would hold it. */
function startApi(allowedOrigin) {
  dataDir = mkdtempSync(join(tmpdir(), "auth-server-e2e-"));
  inbox = join(dataDir, "inbox");
  mkdirSync(inbox);
  api = spawn(binary, [], {
    env: {
      HOST: "127.0.0.1",
      PORT: "0",
      DATABASE_PATH: join(dataDir, "auth.db"),
      BCRYPT_COST: "4",
      CORS_ORIGINS: allowedOrigin,
      PUBLIC_URL: allowedOrigin,
      PATH: process.env.PATH,
      MAIL_COMMAND: `cat > ${inbox}/part.$$ && mv ${inbox}/part.$$ ${inbox}/$(date +%s%N).eml`,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  api.stderr.on("data", (chunk) => { apiLog += chunk; });
  return new Promise((resolve, reject) => {
    let seen = "";
    api.stdout.on("data", (chunk) => {
      seen += chunk;
      const match = seen.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (match) resolve(Number(match[1]));
    });
    api.on("exit", (code) => reject(new Error(`auth-server exited with ${code}`)));
  });
}

before(async () => {
  rmSync(output, { recursive: true, force: true });
  mkdirSync(output, { recursive: true });
  const demoPort = await serve(readFileSync(join(root, "examples", "demo", "index.html"), "utf8"));
  // "localhost" for the page and the API: different origins (ports), the
  // same site, so the SameSite=Lax cookie travels with credentialed fetches.
  demoOrigin = `http://localhost:${demoPort}`;
  const apiPort = await startApi(demoOrigin);
  apiUrl = `http://localhost:${apiPort}`;
  demoUrl = `http://localhost:${demoPort}/?api=${encodeURIComponent(apiUrl)}`;
  // A page on an origin that is not allowed, trying to use the session.
  const evilPort = await serve(`<!doctype html><script>
    window.attack = async () => {
      const outcome = {};
      try {
        const r = await fetch("${apiUrl}/api/user", { credentials: "include" });
        outcome.read = await r.text();
      } catch (e) { outcome.read = "blocked: " + e.name; }
      try {
        await fetch("${apiUrl}/api/logout", { method: "POST", credentials: "include",
          headers: { "Content-Type": "application/json" }, body: "{}" });
        outcome.logout = "sent";
      } catch (e) { outcome.logout = "blocked: " + e.name; }
      try {
        await fetch("${apiUrl}/api/logout", { method: "POST", credentials: "include", mode: "no-cors" });
        outcome.simplePost = "sent";
      } catch (e) { outcome.simplePost = "blocked: " + e.name; }
      return outcome;
    };
  </script>`);
  evilUrl = `http://localhost:${evilPort}/`;
  browser = await chromium.launch({
    executablePath: browserPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-quic"],
  });
});

after(async () => {
  await browser?.close();
  api?.kill("SIGTERM");
  for (const server of staticServers) server.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function snap(page, name) {
  await page.screenshot({ path: join(output, `${name}.png`), fullPage: true });
}

test("the demo page registers, logs in, survives a reload and logs out across origins", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();

  await page.goto(demoUrl);
  await page.waitForSelector("#status:has-text('Not signed in.')");
  await snap(page, "1-signed-out");

  await page.fill("#register-form [name=username]", "alice");
  await page.fill("#register-form [name=email]", "alice@example.com");
  await page.fill("#register-form [name=password]", PASSWORD);
  await page.click("#register");
  await page.waitForSelector("#status:has-text('Registered alice')");
  await snap(page, "2-registered");
  // Chromium sends preflights itself; the API's log shows them.
  assert.match(apiLog, /method=OPTIONS path=\/api\/register status=204/, "a JSON POST is preflighted");

  await page.fill("#login-form [name=username]", "alice");
  await page.fill("#login-form [name=password]", PASSWORD);
  await page.click("#login");
  await page.waitForSelector("#whoami:has-text('alice')");
  await page.waitForSelector("#sessions li");
  await snap(page, "3-signed-in");

  // The cookie is set for the API's host, HttpOnly, and unreadable by the page.
  const cookies = await context.cookies(apiUrl);
  const sid = cookies.find((c) => c.name === "sid");
  assert.ok(sid, "the session cookie is stored");
  assert.equal(sid.httpOnly, true);
  assert.equal(sid.sameSite, "Lax");
  assert.equal(await page.evaluate(() => document.cookie), "", "page scripts cannot see it");

  const dashboard = JSON.parse(await page.textContent("#dashboard"));
  assert.equal(dashboard.user.username, "alice");
  assert.equal(dashboard.stats.active_sessions, 1);
  assert.match(await page.textContent("#sessions"), /this browser/);

  await page.reload();
  await page.waitForSelector("#whoami:has-text('alice')");
  await snap(page, "4-after-reload");

  // Another origin, in the same browser with the same cookie jar, can neither
  // read the user nor log them out.
  const evil = await context.newPage();
  await evil.goto(evilUrl);
  const outcome = await evil.evaluate(() => window.attack());
  await snap(evil, "5-other-origin");
  assert.match(outcome.read, /^blocked/, `the other origin read: ${outcome.read}`);
  assert.match(outcome.logout, /^blocked/, "the JSON POST failed its preflight");
  // The form-like POST needs no preflight and reaches the API with the
  // cookie, where the Origin check refuses it.
  assert.match(apiLog, /method=POST path=\/api\/logout status=403/);
  await page.reload();
  await page.waitForSelector("#whoami:has-text('alice')");

  await page.click("#logout");
  await page.waitForSelector("#status:has-text('Not signed in.')");
  await snap(page, "6-logged-out");
  const after = await context.cookies(apiUrl);
  assert.ok(!after.some((c) => c.name === "sid" && c.value), "logout cleared the cookie");
  await page.reload();
  await page.waitForSelector("#status:has-text('Not signed in.')");
  await context.close();
});

/** Waits for a message to `to` with a link to `page`, and returns the link
 * of the newest such message (the inbox also holds other users' mail). */
async function linkInMail(to, page) {
  for (let tries = 0; tries < 200; tries++) {
    const links = readdirSync(inbox)
      .filter((f) => f.endsWith(".eml"))
      .sort()
      .map((f) => readFileSync(join(inbox, f), "utf8"))
      .filter((message) => message.includes(`\nTo: ${to}\n`))
      .map((message) => message.split("\n").find((line) => line.startsWith(`${demoOrigin}/${page}#token=`)))
      .filter(Boolean);
    if (links.length > 0) return links[links.length - 1].trim();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no ${page} mail to ${to} arrived`);
}

test("a mailed link confirms the address, and a forgotten password is reset from the inbox", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(demoUrl);
  await page.waitForSelector("#status:has-text('Not signed in.')");

  await page.fill("#register-form [name=username]", "bob");
  await page.fill("#register-form [name=email]", "bob@example.com");
  await page.fill("#register-form [name=password]", PASSWORD);
  await page.click("#register");
  await page.waitForSelector("#status:has-text('Registered bob')");

  // The welcome mail's link, opened as a person would from the inbox.
  const verifyLink = await linkInMail("bob@example.com", "verify-email");
  await page.goto(verifyLink);
  await page.waitForSelector("#status:has-text('Confirmed: bob@example.com')");
  await snap(page, "7-email-confirmed");
  assert.equal(new URL(page.url()).hash, "", "the spent token left the address bar");

  // Forgot the password: ask for a link, open it, choose a new password.
  await page.fill("#forgot-form [name=email]", "bob@example.com");
  await page.click("#forgot");
  await page.waitForSelector("#status:has-text('a link to reset its password is on its way')");
  await snap(page, "8-reset-requested");
  const resetLink = await linkInMail("bob@example.com", "reset-password");
  await page.goto(resetLink);
  await page.waitForSelector("#reset-form");
  await snap(page, "9-reset-form");
  await page.fill("#reset-form [name=new_password]", "an entirely new passphrase");
  await page.click("#reset-submit");
  await page.waitForSelector("#status:has-text('Password changed')");
  await snap(page, "10-password-reset");

  // The old password is gone; the new one signs in, and the address shows
  // as confirmed.
  await page.fill("#login-form [name=username]", "bob");
  await page.fill("#login-form [name=password]", PASSWORD);
  await page.click("#login");
  await page.waitForSelector("#status.error:has-text('invalid_credentials')");
  await page.fill("#login-form [name=password]", "an entirely new passphrase");
  await page.click("#login");
  await page.waitForSelector("#whoami:has-text('bob')");
  await page.waitForSelector("#verified:has-text('is confirmed')");
  await snap(page, "11-signed-in-after-reset");

  // The same reset link does not work twice.
  await page.goto(resetLink);
  await page.waitForSelector("#reset-form");
  await page.fill("#reset-form [name=new_password]", "yet another passphrase here");
  await page.click("#reset-submit");
  await page.waitForSelector("#status.error:has-text('invalid_token')");
  await context.close();
});

/** An authenticator app's code (RFC 6238, HMAC-SHA1, 6 digits, 30 s) for the
 * step `offset` steps from now. */

test("two-factor login: set up with the QR code, then sign in with a code", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(demoUrl);
  await page.waitForSelector("#status:has-text('Not signed in.')");
  await page.fill("#register-form [name=username]", "carol");
  await page.fill("#register-form [name=email]", "carol@example.com");
  await page.fill("#register-form [name=password]", PASSWORD);
  await page.click("#register");
  await page.waitForSelector("#status:has-text('Registered carol')");
  await page.fill("#login-form [name=username]", "carol");
  await page.fill("#login-form [name=password]", PASSWORD);
  await page.click("#login");
  await page.waitForSelector("#whoami:has-text('carol')");

  await page.fill("#totp-setup-form [name=password]", PASSWORD);
  await page.click("#totp-setup");
  await page.waitForSelector("#totp-pending:not(.hidden)");
  const qrLoaded = await page.$eval("#totp-qr", (img) => img.complete && img.naturalWidth > 0);
  assert.ok(qrLoaded, "the QR code renders");
  await snap(page, "12-totp-setup");
  const secret = (await page.textContent("#totp-secret")).trim();
  await page.fill("#totp-enable-form [name=code]", totpCode(secret, 0));
  await page.click("#totp-enable");
  await page.waitForSelector("#totp-codes:not(.hidden)");
  await page.waitForSelector("#totp-state:has-text('On')");
  await snap(page, "13-totp-on");
  const codes = (await page.textContent("#totp-codes-list")).trim().split("\n");
  assert.equal(codes.length, 10);

  await page.click("#logout");
  await page.waitForSelector("#status:has-text('Not signed in.')");
  await page.fill("#login-form [name=username]", "carol");
  await page.fill("#login-form [name=password]", PASSWORD);
  await page.click("#login");
  await page.waitForSelector("#code-form:not(.hidden)");
  await snap(page, "14-code-prompt");
  // The enabling code's step is spent; the next step's code is accepted.
  await page.fill("#code-form [name=code]", totpCode(secret, 1));
  await page.click("#code-submit");
  await page.waitForSelector("#whoami:has-text('carol')");
  await snap(page, "15-signed-in-with-code");

  // A recovery code works once, in the same prompt.
  await page.click("#logout");
  await page.waitForSelector("#status:has-text('Not signed in.')");
  await page.fill("#login-form [name=password]", PASSWORD);
  await page.click("#login");
  await page.waitForSelector("#code-form:not(.hidden)");
  await page.fill("#code-form [name=code]", codes[0]);
  await page.click("#code-submit");
  await page.waitForSelector("#status:has-text('recovery code; 9 left')");
  await context.close();
});

