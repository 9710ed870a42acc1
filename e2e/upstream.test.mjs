// "Sign in with …" through a real upstream provider, in a real browser:
// panva's oidc-provider (e2e/upstream_provider.mjs) is the provider, and
// auth-server guards an app behind Debian's nginx with the shipped
// locations, under its /auth/ prefix. The visitor goes to the app, is sent
// to the sign-in page, picks "Sign in with Example", signs in at the
// provider, and lands back at the app as the account the first sign-in
// made. Screenshots (desktop and phone) go to e2e/output/.
//
//   AUTH_SERVER_BIN=target/debug/auth-server node --test e2e/upstream.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { accessible, freePort, launchChromium, nginxConfig, start, waitForPort } from "./lib.mjs";
import { startProvider } from "./upstream_provider.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const output = join(root, "e2e", "output");
const binary = process.env.AUTH_SERVER_BIN || join(root, "target", "debug", "auth-server");
const nginxInstalled = spawnSync("sh", ["-c", "command -v nginx"]).status === 0;
const SECRET = "a-client-secret-for-the-test-only";

const children = [];

/** Runs a command to its end without blocking this process. */
function run(command, args, env, input) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env });
    let stdout = "", stderr = "";
    child.stdout.on("data", (chunk) => { stdout += chunk; });
    child.stderr.on("data", (chunk) => { stderr += chunk; });
    child.on("close", (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}
let work, browser, app, publicUrl;

before(async () => {
  mkdirSync(output, { recursive: true });
  work = mkdtempSync(join(tmpdir(), "auth-server-upstream-"));
  const [providerPort, authPort, nginxPort] = [await freePort(), await freePort(), await freePort()];
  app = `http://app.localhost:${nginxPort}`;
  publicUrl = `${app}/auth`;
  const provider = await startProvider({
    port: providerPort, clientId: "auth-server", clientSecret: SECRET,
    redirectUri: `${publicUrl}/auth/upstream/example/callback`,
  });
  children.push({ kill: provider.stop });

  const env = {
    HOST: "127.0.0.1", PORT: String(authPort), DATABASE_PATH: join(work, "auth.db"), BCRYPT_COST: "4",
    PUBLIC_URL: publicUrl, FORWARD_AUTH_HOSTS: "app.localhost", LOGIN_URL: "/auth/login", TRUST_PROXY: "true",
    SITE_NAME: "Family Cloud",
  };
  await start(children, binary, [], env, /listening on/);
  // The operator adds the provider; the secret goes in on standard input.
  // (Not spawnSync: the provider runs in this process and must answer the
  // command's requests meanwhile.)
  const added = await run(binary, ["admin", "upstream", "add", "example", "--issuer", provider.issuer,
    "--client-id", "auth-server", "--label", "Sign in with Example", "--create-accounts"], env, `${SECRET}\n`);
  assert.equal(added.status, 0, added.stderr);
  assert.match(added.stdout, /were fetched/, added.stderr);

  // The app: who the proxy says is signed in.
  const server = createServer((request, response) => {
    const user = request.headers["remote-user"] || "(nobody)";
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    response.end(`<!doctype html><meta name="viewport" content="width=device-width">` +
      `<title>The wiki</title><h1 id="hello">Hello, ${user.replace(/[<&>]/g, "")}</h1>`);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  children.push({ kill: () => server.close() });

  if (!nginxInstalled) return;
  const prefix = join(work, "nginx");
  mkdirSync(join(prefix, "logs"), { recursive: true });
  writeFileSync(join(prefix, "nginx.conf"), nginxConfig({
    prefix, port: nginxPort, authPort, appPort: server.address().port, hosts: ["app.localhost"],
    locations: join(root, "deploy", "forward-auth", "nginx-locations.conf"),
  }));
  await start(children, "nginx", ["-p", prefix, "-c", join(prefix, "nginx.conf")], {});
  await waitForPort(nginxPort);
  browser = await launchChromium(["--host-resolver-rules=MAP app.localhost 127.0.0.1"]);
});

after(async () => {
  await browser?.close();
  for (const child of children.reverse()) child.kill("SIGTERM");
  if (work) rmSync(work, { recursive: true, force: true });
});

for (const [device, viewport, name] of [["desktop", { width: 1280, height: 800 }, "alice"], ["phone", { width: 390, height: 844 }, "bob"]]) {
  test(`the app's visitor signs in through the upstream provider and is back at the app (${device})`,
    { skip: nginxInstalled ? false : "nginx is not installed" },
    async () => {
      // bypassCSP lets axe-core's script in; the pages run only their own.
      const context = await browser.newContext({ viewport, bypassCSP: true });
      const page = await context.newPage();
      await page.goto(`${app}/`);
      await page.waitForSelector("#sign-in");
      assert.ok(page.url().startsWith(`${publicUrl}/login?rd=`), page.url());
      const button = page.getByRole("link", { name: "Sign in with Example" });
      await button.waitFor();
      await accessible(page, `the sign-in page with a provider (${device})`);
      await page.screenshot({ path: join(output, `upstream-${device}-1-sign-in.png`), fullPage: true });
      await button.click();
      // The provider's own sign-in page.
      await page.waitForSelector("input[name=login]");
      assert.ok(page.url().startsWith("http://localhost:"), page.url());
      await page.fill("input[name=login]", name);
      await page.fill("input[name=password]", "anything");
      await page.screenshot({ path: join(output, `upstream-${device}-2-provider.png`), fullPage: true });
      await page.click("button[type=submit]");
      await page.waitForURL(`${app}/`);
      assert.equal(await page.textContent("#hello"), `Hello, ${name}`);
      await page.screenshot({ path: join(output, `upstream-${device}-3-app.png`), fullPage: true });
      // The account page lists the connection.
      await page.goto(`${publicUrl}/account`);
      await page.waitForSelector("#upstreams li");
      assert.match(await page.textContent("#upstreams"), new RegExp(`Example: connected as ${name}@example.com`));
      // The account has no password: the page says how to set one instead
      // of showing forms that ask for it.
      assert.ok(await page.isVisible("#no-password"));
      assert.ok(!(await page.isVisible("#password-form")) && !(await page.isVisible("#delete-form")));
      await accessible(page, `the account page with a connected sign-in (${device})`);
      await page.screenshot({ path: join(output, `upstream-${device}-4-account.png`), fullPage: true });
      await context.close();
    });
}

test("a refusal is said in words on the sign-in page", { skip: nginxInstalled ? false : "nginx is not installed" }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  // A callback this browser never started: its state is no sign-in's.
  await page.goto(`${publicUrl}/auth/upstream/example/callback?code=x&state=y`);
  await page.waitForSelector("#sign-in");
  assert.match(await page.textContent("#status"), /took too long, or began in another browser/);
  await context.close();
});
