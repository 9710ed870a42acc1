// The admin page in headless Chromium against the real binary, at desktop
// and phone width: an administrator with two-factor login signs in (password,
// then a code), invites someone into a group, the invitee registers from
// the link in a second browser context and lands in the invite's groups,
// and the administrator disables them. axe-core checks /admin and
// /register. Screenshots go to e2e/output/.
//
//   AUTH_SERVER_BIN=target/debug/auth-server node --test e2e/admin.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { accessible, launchChromium, totpCode } from "./lib.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const output = join(root, "e2e", "output");
const binary = process.env.AUTH_SERVER_BIN || join(root, "target", "debug", "auth-server");
const PASSWORD = "correct horse battery staple";

let server, base, work, browser, env;

before(async () => {
  mkdirSync(output, { recursive: true });
  work = mkdtempSync(join(tmpdir(), "auth-server-admin-"));
  env = {
    HOST: "127.0.0.1", PORT: "0", DATABASE_PATH: join(work, "auth.db"), BCRYPT_COST: "4",
    FORWARD_AUTH_HOSTS: "localhost", SITE_NAME: "Family Cloud", REGISTRATION: "invite",
  };
  server = spawn(binary, [], { env, stdio: ["ignore", "pipe", "pipe"] });
  const port = await new Promise((resolve, reject) => {
    let seen = "";
    server.stdout.on("data", (chunk) => {
      seen += chunk;
      const match = seen.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (match) resolve(Number(match[1]));
    });
    server.on("exit", (code) => reject(new Error(`auth-server exited with ${code}`)));
  });
  base = `http://localhost:${port}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  if (work) rmSync(work, { recursive: true, force: true });
});

/** `auth-server admin …` on the test's database, as an operator would. */
function adminCommand(args, input = "") {
  const run = spawnSync(binary, ["admin", ...args], { env, input, encoding: "utf8" });
  assert.equal(run.status, 0, `admin ${args.join(" ")}: ${run.stderr}`);
  return run.stdout;
}

async function api(method, path, body, cookie) {
  const headers = { "Content-Type": "application/json" };
  if (cookie) headers.Cookie = cookie;
  const response = await fetch(`${base}${path}`, { method, headers, body: body && JSON.stringify(body) });
  const json = await response.json().catch(() => ({}));
  return { status: response.status, json, cookie: (response.headers.get("set-cookie") || "").split(";")[0] };
}

async function snap(page, name) {
  await page.screenshot({ path: join(output, `${name}.png`), fullPage: true });
}

const looks = [
  ["desktop", { width: 1280, height: 900 }, "light"],
  ["phone", { width: 390, height: 844 }, "dark"],
];

for (const [look, viewport, colorScheme] of looks) {
  test(`an administrator invites someone, who joins in the invite's group, and is disabled (${look})`, async () => {
    // The first administrator comes from the shell (sign-up is by invitation).
    const name = `root-${look}`;
    adminCommand(["create", name, `${name}@example.com`], `${PASSWORD}\n`);
    adminCommand(["group", "add", name, "admins"]);
    const login = await api("POST", "/api/login", { username: name, password: PASSWORD });
    const setup = await api("POST", "/api/user/totp/setup", { password: PASSWORD }, login.cookie);
    const secret = setup.json.data.secret;
    const enabled = await api("POST", "/api/user/totp/enable", { code: totpCode(secret, -1) }, login.cookie);
    assert.equal(enabled.status, 200);

    // Signed out: to the sign-in page, password then code, and back.
    const admin = await browser.newContext({ viewport, colorScheme, bypassCSP: true });
    const page = await admin.newPage();
    await page.goto(`${base}/admin`);
    await page.waitForSelector("#sign-in");
    await page.fill("#identifier", name);
    await page.fill("#password", PASSWORD);
    await page.click("#submit");
    await page.waitForSelector("#code-field:not(.hidden)");
    await page.fill("#code", totpCode(secret, 0));
    await page.click("#submit");
    await page.waitForURL(`${base}/admin`);
    await page.waitForSelector("#panels:not(.hidden)");
    assert.equal(await page.title(), "Family Cloud administration");
    await page.getByRole("listitem").filter({ hasText: name }).first().waitFor();
    await accessible(page, "/admin");
    await snap(page, `admin-${look}-1-people`);

    // An invitation into "family", with a link to copy.
    await page.getByLabel("Groups for the new account").fill("family");
    await page.getByRole("button", { name: "Invite someone" }).click();
    await page.waitForSelector("#invited:not(.hidden)");
    const link = await page.inputValue("#invite-link");
    assert.match(link, /^http:\/\/localhost:\d+\/register\?invite=[A-Za-z0-9_-]{43}$/);
    await page.getByRole("listitem").filter({ hasText: "open" }).first().waitFor();
    await snap(page, `admin-${look}-2-invited`);

    // The invitee, in a browser of their own.
    const invitee = await browser.newContext({ viewport, colorScheme, bypassCSP: true });
    const join = await invitee.newPage();
    await join.goto(link);
    await join.waitForSelector("#register:not(.hidden)");
    assert.ok(await join.isVisible("#invited"));
    assert.ok(!join.url().includes("invite="), "the token leaves the address bar");
    await accessible(join, "/register");
    const kim = `kim-${look}`;
    await join.getByLabel("Username").fill(kim);
    await join.getByLabel("Email").fill(`${kim}@example.com`);
    await join.getByLabel("Password").fill("kim's own passphrase");
    await snap(join, `register-${look}-1-form`);
    await join.getByRole("button", { name: "Create account" }).click();
    await join.waitForSelector("#done:not(.hidden)");
    assert.equal(await join.textContent("#who"), kim);
    await snap(join, `register-${look}-2-done`);
    // The same link again: used.
    const again = await invitee.newPage();
    await again.goto(link);
    await again.getByLabel("Username").fill(`${kim}x`);
    await again.getByLabel("Email").fill(`${kim}x@example.com`);
    await again.getByLabel("Password").fill("kim's own passphrase");
    await again.getByRole("button", { name: "Create account" }).click();
    await again.waitForSelector("#status.error");
    assert.match(await again.textContent("#status"), /not valid/);
    const kimSession = await api("POST", "/api/login", { username: kim, password: "kim's own passphrase" });
    assert.equal(kimSession.status, 200);

    // The administrator finds them in "family", and disables them.
    await page.getByLabel("Search users").fill(kim);
    await page.getByRole("button", { name: "Search", exact: true }).click();
    const row = page.getByRole("listitem").filter({ hasText: `${kim}@example.com` });
    await row.getByText("groups: family").waitFor();
    await row.getByRole("button", { name: "Disable" }).click();
    await page.waitForSelector(`#status.ok:has-text("${kim} is disabled")`);
    await row.getByText("disabled", { exact: true }).waitFor();
    assert.equal((await api("GET", "/api/user", undefined, kimSession.cookie)).status, 401);
    assert.equal((await api("POST", "/api/login", { username: kim, password: "kim's own passphrase" })).status, 401);
    await snap(page, `admin-${look}-3-disabled`);

    // The audit trail names the administrator as the actor.
    const me = (await api("GET", "/api/user", undefined, (await admin.cookies()).map((c) => `${c.name}=${c.value}`).join("; "))).json.data.user;
    await page.getByLabel("User", { exact: true }).fill(kim);
    await page.getByRole("button", { name: "Filter" }).click();
    // (The rows from before the filter may still be there for a moment:
    // the row is the one about this account.)
    const disabledRow = page.getByRole("row").filter({ hasText: "admin_disabled" }).filter({ hasText: kim });
    await disabledRow.waitFor();
    assert.equal(await disabledRow.locator("td").nth(3).textContent(), String(me.id));
    await admin.close();
    await invitee.close();
  });
}

test("a signed-in user outside the admin group is told the page is not for them", async () => {
  const context = await browser.newContext({ bypassCSP: true });
  adminCommand(["create", "plain", "plain@example.com"], `${PASSWORD}\n`);
  const page = await context.newPage();
  await page.goto(`${base}/login?rd=${encodeURIComponent(`${base}/admin`)}`);
  await page.fill("#identifier", "plain");
  await page.fill("#password", PASSWORD);
  await page.click("#submit");
  await page.waitForURL(`${base}/admin`);
  await page.getByRole("heading", { name: "This page is for administrators" }).waitFor();
  assert.ok(!(await page.isVisible("#panels")));
  await accessible(page, "/admin, not an administrator");
  await context.close();
});
