// The account page in headless Chromium against the real binary, at
// desktop and phone width, light and dark: sign up through the API, open
// /account (sent to sign in and back), change the password, set up
// two-factor login from the key the page shows, confirm the recovery
// codes, sign out, sign in with password and code on /login, sign out the
// other session from the list, delete the account. axe-core checks /login
// and /account. Screenshots of each section go to e2e/output/.
//
//   AUTH_SERVER_BIN=target/debug/auth-server node --test e2e/account.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { accessible, launchChromium, totpCode } from "./lib.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const output = join(root, "e2e", "output");
const binary = process.env.AUTH_SERVER_BIN || join(root, "target", "debug", "auth-server");
const PASSWORD = "correct horse battery staple";
const NEW_PASSWORD = "a brand new passphrase";

let server, base, work, browser;

before(async () => {
  mkdirSync(output, { recursive: true });
  work = mkdtempSync(join(tmpdir(), "auth-server-account-"));
  server = spawn(binary, [], {
    env: {
      HOST: "127.0.0.1", PORT: "0", DATABASE_PATH: join(work, "auth.db"), BCRYPT_COST: "4",
      FORWARD_AUTH_HOSTS: "localhost", SITE_NAME: "Family Cloud",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const port = await new Promise((resolve, reject) => {
    let seen = "";
    server.stdout.on("data", (chunk) => {
      seen += chunk;
      const match = seen.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (match) resolve(Number(match[1]));
    });
    server.on("exit", (code) => reject(new Error(`auth-server exited with ${code}`)));
  });
  // `localhost`, so the sign-in page may send the browser back here.
  base = `http://localhost:${port}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  if (work) rmSync(work, { recursive: true, force: true });
});


async function api(method, path, body, cookie) {
  const headers = { "Content-Type": "application/json" };
  if (cookie) headers.Cookie = cookie;
  const response = await fetch(`${base}${path}`, { method, headers, body: body && JSON.stringify(body) });
  return { status: response.status, cookie: (response.headers.get("set-cookie") || "").split(";")[0] };
}

async function snap(page, name) {
  await page.screenshot({ path: join(output, `${name}.png`), fullPage: true });
}

const looks = [
  ["desktop-light", { width: 1280, height: 900 }, "light"],
  ["phone-dark", { width: 390, height: 844 }, "dark"],
  ["desktop-dark", { width: 1280, height: 900 }, "dark"],
  ["phone-light", { width: 390, height: 844 }, "light"],
];

for (const [look, viewport, colorScheme] of looks) {
  test(`the account page does everything a user can (${look})`, async () => {
    const name = `user-${look}`;
    assert.equal((await api("POST", "/api/register", { username: name, email: `${name}@example.com`, password: PASSWORD })).status, 201);
    // axe needs its script in the page: the test's context lets it past the
    // page's CSP (the page itself never runs anything but its own file).
    const context = await browser.newContext({ viewport, colorScheme, bypassCSP: true });
    const page = await context.newPage();

    // Signed out: to the sign-in page, and back to the account page.
    await page.goto(`${base}/account`);
    await page.waitForSelector("#sign-in");
    assert.equal(new URL(page.url()).searchParams.get("rd"), `${base}/account`);
    await accessible(page, "/login");
    await page.fill("#identifier", name);
    await page.fill("#password", PASSWORD);
    await page.click("#submit");
    await page.waitForURL(`${base}/account`);
    await page.waitForSelector(`#username:has-text('${name}')`);
    assert.equal(await page.title(), "Your Family Cloud account");
    await accessible(page, "/account");
    await snap(page, `account-${look}-1-overview`);

    // The password: a wrong current one is shown by its field.
    await page.getByLabel("Current password").fill("not it");
    await page.getByLabel("New password", { exact: true }).fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.waitForSelector("#current-password-error:has-text('not your current password')");
    assert.equal(await page.getAttribute("#current-password", "aria-invalid"), "true");
    await page.getByLabel("Current password").fill(PASSWORD);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.waitForSelector("#status:has-text('Password changed')");
    await snap(page, `account-${look}-2-password`);

    // Two-factor login from the key the page shows.
    await page.fill("#totp-setup-password", NEW_PASSWORD);
    await page.getByRole("button", { name: "Set up two-factor login" }).click();
    await page.waitForSelector("#totp-confirm:not(.hidden)");
    assert.ok(await page.isVisible("#totp-qr"));
    const secret = (await page.textContent("#totp-secret")).trim();
    await snap(page, `account-${look}-3-two-factor-set-up`);
    await page.getByLabel("Code from your authenticator app").first().fill(totpCode(secret, 0));
    await page.getByRole("button", { name: "Turn on two-factor login" }).click();
    await page.waitForSelector("#totp-codes:not(.hidden)");
    assert.equal(await page.locator("#recovery-codes li").count(), 10);
    const recovery = (await page.locator("#recovery-codes li").first().textContent()).trim();
    assert.match(await page.getAttribute("#download-codes", "href"), /^data:text\/plain/);
    await snap(page, `account-${look}-4-recovery-codes`);
    await page.getByRole("button", { name: "I have saved them" }).click();
    await page.waitForSelector("#totp-on:not(.hidden)");
    assert.match(await page.textContent("#codes-left"), /10 recovery codes left/);

    // Sign out here; another session from a script with a recovery code
    // (the app's codes of this moment are used up; a recovery code ends
    // every other session); then in again with password and code on /login.
    await page.goto(`${base}/login`);
    await page.click("#sign-out");
    await page.waitForSelector("#status:has-text('You are signed out')");
    const other = await api("POST", "/api/login", { username: name, password: NEW_PASSWORD, recovery_code: recovery });
    assert.equal(other.status, 200);
    await page.fill("#identifier", name);
    await page.fill("#password", NEW_PASSWORD);
    await page.click("#submit");
    await page.waitForSelector("#code-field:not(.hidden)");
    await page.fill("#code", totpCode(secret, 1));
    await page.click("#submit");
    await page.waitForSelector("#signed-in:not(.hidden)");
    await page.getByRole("link", { name: "Manage your account" }).click();
    await page.waitForSelector("#sessions li");

    // Two sessions listed, this one marked; the other signed out by its button.
    assert.equal(await page.locator("#sessions li").count(), 2);
    assert.equal(await page.locator("#sessions li:has-text('(this device)')").count(), 1);
    await snap(page, `account-${look}-5-sessions`);
    await page.locator("#sessions li button").click();
    await page.waitForSelector("#status:has-text('That session is signed out')");
    assert.equal(await page.locator("#sessions li").count(), 1);
    assert.equal((await api("GET", "/api/user", undefined, other.cookie)).status, 401);

    // Delete the account.
    await page.fill("#delete-password", NEW_PASSWORD);
    await snap(page, `account-${look}-6-delete`);
    await page.getByRole("button", { name: "Delete account" }).click();
    await page.waitForURL(`${base}/login`);
    const gone = await api("POST", "/api/login", { username: name, password: NEW_PASSWORD });
    assert.equal(gone.status, 401);
    await context.close();
  });
}
