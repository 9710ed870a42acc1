// OpenID Connect with a real relying party: Debian's Apache with
// libapache2-mod-auth-openidc, configured from the shipped
// deploy/oidc/apache-mod-auth-openidc.conf (names, ports and credentials
// swapped for loopback ones), protecting a page that shows the claims it
// receives; driven in headless Chromium: the page sends the browser to the
// sign-in page, signing in lands back on the page with the user's claims.
// Screenshots (desktop and phone) go to e2e/output/.
//
//   AUTH_SERVER_BIN=target/debug/auth-server node --test e2e/oidc.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, launchChromium, start, waitForPort } from "./lib.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const output = join(root, "e2e", "output");
const binary = process.env.AUTH_SERVER_BIN || join(root, "target", "debug", "auth-server");
const PASSWORD = "correct horse battery staple";
const modules = "/usr/lib/apache2/modules";
const apacheInstalled = spawnSync("sh", ["-c", `command -v apache2 && test -f ${modules}/mod_auth_openidc.so`]).status === 0;

const children = [];
let work, browser, issuer, rp;

function admin(args) {
  const result = spawnSync(binary, ["admin", ...args], {
    env: { DATABASE_PATH: join(work, "auth.db"), PUBLIC_URL: issuer, BCRYPT_COST: "4" }, encoding: "utf8",
  });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

before(async () => {
  mkdirSync(output, { recursive: true });
  work = mkdtempSync(join(tmpdir(), "auth-server-oidc-"));
  // Apache's workers run as www-data and read the page from here.
  chmodSync(work, 0o755);
  const [authPort, rpPort] = [await freePort(), await freePort()];
  issuer = `http://127.0.0.1:${authPort}`;
  rp = `http://localhost:${rpPort}`;
  await start(children, binary, [], {
    HOST: "127.0.0.1", PORT: String(authPort), DATABASE_PATH: join(work, "auth.db"), BCRYPT_COST: "4",
    PUBLIC_URL: issuer, SITE_NAME: "Family Cloud",
  }, /listening on/);
  const made = await fetch(`${issuer}/api/register`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: "alice", email: "alice@example.com", password: PASSWORD }),
  });
  assert.equal(made.status, 201);
  admin(["group", "add", "alice", "family"]);
  const out = admin(["oidc-client", "add", "apache", "--redirect-uri", `${rp}/protected/redirect_uri`]);
  const id = out.match(/^client_id: (.+)$/m)[1];
  const secret = out.match(/^client_secret: (.+)$/m)[1];

  if (!apacheInstalled) return;
  const shipped = readFileSync(join(root, "deploy", "oidc", "apache-mod-auth-openidc.conf"), "utf8");
  const site = shipped
    .replaceAll("https://auth.example.com", issuer)
    .replaceAll("https://app.example.com", rp)
    .replace("CLIENT_ID", id)
    .replace("CLIENT_SECRET", secret)
    .replace("CRYPTO_PASSPHRASE", "a-long-random-passphrase-for-the-test-only");
  mkdirSync(join(work, "www", "protected"), { recursive: true });
  writeFileSync(join(work, "www", "protected", "index.shtml"),
    `<!doctype html><meta name="viewport" content="width=device-width"><title>Claims</title>
<h1 id="hello">Hello, <!--#echo var="OIDC_CLAIM_preferred_username" --></h1>
<p>groups: <span id="groups"><!--#echo var="OIDC_CLAIM_groups" --></span></p>
<p>amr: <span id="amr"><!--#echo var="OIDC_CLAIM_amr" --></span></p>\n`);
  for (const dir of ["www", join("www", "protected")]) chmodSync(join(work, dir), 0o755);
  const conf = join(work, "apache.conf");
  writeFileSync(conf, `
ServerRoot /etc/apache2
ServerName localhost
Listen 127.0.0.1:${rpPort}
PidFile ${work}/apache.pid
ErrorLog ${work}/apache-error.log
LogLevel warn
User www-data
Group www-data
${["mpm_event", "authn_core", "authz_core", "authz_user", "auth_openidc", "include", "mime", "dir"]
    .map((m) => `LoadModule ${m === "auth_openidc" ? "auth_openidc_module" : `${m}_module`} ${modules}/mod_${m}.so`).join("\n")}
TypesConfig /etc/mime.types
DocumentRoot ${work}/www
DirectoryIndex index.shtml
<Directory ${work}/www>
    Options +Includes
    AddType text/html .shtml
    AddOutputFilter INCLUDES .shtml
    Require all granted
</Directory>
${site}
`);
  await start(children, "apache2", ["-f", conf, "-DFOREGROUND"], { APACHE_RUN_DIR: work, APACHE_LOCK_DIR: work });
  await waitForPort(rpPort);

  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  for (const child of children.reverse()) child.kill("SIGTERM");
  if (work) rmSync(work, { recursive: true, force: true });
});

for (const [device, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]]) {
  test(`Apache with mod_auth_openidc signs in through auth-server (${device})`,
    { skip: apacheInstalled ? false : "apache2 and libapache2-mod-auth-openidc are not installed" },
    async () => {
      const context = await browser.newContext({ viewport });
      const page = await context.newPage();
      await page.goto(`${rp}/protected/`);
      await page.waitForSelector("#sign-in");
      assert.ok(page.url().startsWith(`${issuer}/login?rd=`), page.url());
      await page.screenshot({ path: join(output, `oidc-${device}-1-sign-in.png`), fullPage: true });
      await page.fill("#identifier", "alice");
      await page.fill("#password", PASSWORD);
      await page.click("#submit");
      await page.waitForURL(`${rp}/protected/`);
      assert.equal(await page.textContent("#hello"), "Hello, alice");
      assert.match(await page.textContent("#groups"), /family/);
      assert.match(await page.textContent("#amr"), /pwd/);
      await page.screenshot({ path: join(output, `oidc-${device}-2-app.png`), fullPage: true });
      await context.close();
    });
}
