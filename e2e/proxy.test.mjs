// Forward auth with a real proxy and a real browser: Debian's nginx (from
// deploy/forward-auth/nginx-locations.conf, included as it ships) and Caddy
// (deploy/forward-auth/Caddyfile with loopback names and ports) in front of
// a tiny app that echoes the Remote-User header it receives, driven in
// headless Chromium. Screenshots (desktop and phone) go to e2e/output/.
//
//   AUTH_SERVER_BIN=target/debug/auth-server node --test e2e/proxy.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { connect } from "node:net";
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, launchChromium, nginxConfig, start as startIn, waitForPort } from "./lib.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const output = join(root, "e2e", "output");
const binary = process.env.AUTH_SERVER_BIN || join(root, "target", "debug", "auth-server");
const PASSWORD = "correct horse battery staple";
const HOST = "app.localhost";

const children = [];
let work, browser, authPort, appPort;
let appRequestCount = 0;
const start = (...args) => startIn(children, ...args);

before(async () => {
  mkdirSync(output, { recursive: true });
  work = mkdtempSync(join(tmpdir(), "auth-server-proxy-"));
  authPort = await startAuthServer({});

  // The app behind the proxy: it shows who the proxy says is signed in, and
  // at /headers every Remote-* header it received, as JSON.
  const app = createServer((request, response) => {
    appRequestCount += 1;
    if (request.url === "/count") {
      response.writeHead(200, { "Content-Type": "text/plain" });
      return response.end(String(appRequestCount));
    }
    if (request.url === "/headers") {
      const remote = Object.fromEntries(Object.entries(request.headers).filter(([name]) => name.startsWith("remote-")));
      response.writeHead(200, { "Content-Type": "application/json" });
      return response.end(JSON.stringify(remote));
    }
    const user = request.headers["remote-user"] || "(nobody)";
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    response.end(`<!doctype html><meta name="viewport" content="width=device-width">` +
      `<title>The wiki</title><h1 id="hello">Hello, ${user.replace(/[<&>]/g, "")}</h1>`);
  });
  await new Promise((resolve) => app.listen(0, "127.0.0.1", resolve));
  appPort = app.address().port;
  children.push({ kill: () => app.close() });

  browser = await launchChromium(["--host-resolver-rules=MAP *.localhost 127.0.0.1"]);
});

after(async () => {
  await browser?.close();
  for (const child of children.reverse()) child.kill("SIGTERM");
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Starts auth-server with `env` added; resolves to its port. */
async function startAuthServer(env) {
  const dir = mkdtempSync(join(work, "server-"));
  const started = await start(binary, [], {
    HOST: "127.0.0.1", PORT: "0", DATABASE_PATH: join(dir, "auth.db"), BCRYPT_COST: "4",
    FORWARD_AUTH_HOSTS: HOST, LOGIN_URL: "/auth/login", TRUST_PROXY: "true", ...env,
  }, /listening on http:\/\/[^:]+:(\d+)/);
  const port = Number(started.match[1]);
  const made = await fetch(`http://127.0.0.1:${port}/api/register`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: "alice", email: "alice@example.com", password: PASSWORD }),
  });
  assert.equal(made.status, 201);
  return port;
}

/**
 * nginx with the shipped locations; `withoutHost` drops the /auth/
 * location's `proxy_set_header Host` (nginx then sends its upstream's name,
 * as its default proxy_pass does) and `port` is fixed in advance.
 */
async function startNginx({ withoutHost = false, port: chosen, auth = authPort, hosts = [HOST] } = {}) {
  const port = chosen || await freePort();
  const prefix = join(work, withoutHost ? "nginx-no-host" : "nginx");
  mkdirSync(join(prefix, "logs"), { recursive: true });
  let locations = join(root, "deploy", "forward-auth", "nginx-locations.conf");
  if (withoutHost) {
    const shipped = readFileSync(locations, "utf8");
    const line = "    proxy_set_header Host $http_host;\n";
    assert.ok(shipped.includes(line), "the shipped /auth/ location sets Host");
    locations = join(prefix, "locations-without-host.conf");
    writeFileSync(locations, shipped.replace(line, ""));
  }
  writeFileSync(join(prefix, "nginx.conf"), nginxConfig({ prefix, port, authPort: auth, appPort, hosts, locations }));
  await start("nginx", ["-p", prefix, "-c", join(prefix, "nginx.conf")], {});
  await waitForPort(port);
  return port;
}

async function startCaddy({ auth = authPort, hosts = [HOST] } = {}) {
  const port = await freePort();
  // The shipped snippet as it is (auth-server's port swapped), and a site
  // per host that imports it, as the shipped sites do.
  const shipped = readFileSync(join(root, "deploy", "forward-auth", "Caddyfile"), "utf8");
  const snippet = shipped.slice(shipped.indexOf("(guard) {"), shipped.indexOf("wiki.example.com {"))
    .replaceAll("127.0.0.1:8080", `127.0.0.1:${auth}`);
  assert.ok(shipped.includes("import guard 127.0.0.1:3000"), "the shipped sites import the snippet");
  const config = "{\n\tadmin off\n\tauto_https off\n}\n" + snippet + hosts.map((host) =>
    `http://${host}:${port} {\n\timport guard 127.0.0.1:${appPort}\n}\n`).join("\n");
  const file = join(work, `Caddyfile-${port}`);
  writeFileSync(file, config);
  // Ready when Caddy says so; if it exits instead, the test fails with
  // what it said (a port taken, a config it refuses).
  await start("caddy", ["run", "--config", file, "--adapter", "caddyfile"],
    { HOME: work, XDG_DATA_HOME: join(work, "caddy-data"), XDG_CONFIG_HOME: join(work, "caddy-config") },
    /serving initial configuration/);
  await waitForPort(port);
  return port;
}

function available(command) {
  return spawnSync("sh", ["-c", `command -v ${command}`]).status === 0;
}

async function snap(page, name) {
  await page.screenshot({ path: join(output, `${name}.png`), fullPage: true });
}

for (const [proxy, startProxy] of [["nginx", startNginx], ["caddy", startCaddy]]) {
  test(`${proxy}: signed out to the sign-in page, signed in back to the app, and out again`,
    { skip: available(proxy) ? false : `${proxy} is not installed (apt-get install ${proxy})` },
    async () => {
      const port = await startProxy();
      const appUrl = `http://${HOST}:${port}/wiki/page?id=7&x=1`;
      for (const [device, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]]) {
        const context = await browser.newContext({ viewport });
        const page = await context.newPage();

        await page.goto(appUrl);
        await page.waitForSelector("#sign-in");
        const signIn = new URL(page.url());
        assert.equal(signIn.pathname, "/auth/login");
        assert.equal(signIn.searchParams.get("rd"), appUrl, "rd is the page asked for, whole");
        await snap(page, `proxy-${proxy}-${device}-1-sign-in`);

        // A wrong password gets a clear message next to the form.
        await page.fill("#identifier", "alice");
        await page.fill("#password", "not the password");
        await page.click("#submit");
        await page.waitForSelector("#status.error");
        assert.match(await page.textContent("#status"), /Invalid username or password/);
        assert.equal(await page.getAttribute("#password", "aria-invalid"), "true");
        await snap(page, `proxy-${proxy}-${device}-2-wrong-password`);

        await page.fill("#password", PASSWORD);
        await page.press("#password", "Enter");
        await page.waitForURL(appUrl);
        assert.equal(await page.textContent("#hello"), "Hello, alice");
        await snap(page, `proxy-${proxy}-${device}-3-app`);

        // Forged Remote-* headers never reach the app: each is the
        // server's word or absent (alice's address is not verified, so no
        // Remote-Email at all).
        const seen = await page.evaluate(async () => (await fetch("/headers", { headers: {
          "Remote-User": "root", "Remote-Name": "Administrator", "Remote-Email": "ceo@bigcorp.example",
          "Remote-User-Id": "999",
        } })).json());
        assert.equal(seen["remote-user"], "alice");
        assert.equal(seen["remote-name"], "alice");
        assert.match(seen["remote-user-id"], /^\d+$/);
        assert.notEqual(seen["remote-user-id"], "999");
        assert.ok(!seen["remote-email"], `Remote-Email reached the app: ${seen["remote-email"]}`);

        // Signing out on the sign-in page; the app sends the browser back there.
        await page.goto(`http://${HOST}:${port}/auth/login`);
        await page.waitForSelector("#signed-in:not(.hidden)");
        assert.equal(await page.textContent("#who"), "alice");
        await snap(page, `proxy-${proxy}-${device}-4-signed-in`);
        await page.click("#sign-out");
        await page.waitForSelector("#status:has-text('You are signed out')");
        // Signed out, an API call to the app gets JSON, never a redirect.
        const call = await page.evaluate(async () => {
          const response = await fetch("/wiki/data", { headers: { Accept: "application/json" }, redirect: "manual" });
          return { status: response.status, body: await response.text() };
        });
        assert.equal(call.status, 401, JSON.stringify(call));
        assert.equal(JSON.parse(call.body).error.code, "unauthenticated");
        await page.goto(appUrl);
        await page.waitForSelector("#sign-in");
        assert.equal(new URL(page.url()).pathname, "/auth/login");

        // A tampered rd to another host: signed in, but the browser stays.
        await page.goto(`http://${HOST}:${port}/auth/login?rd=${encodeURIComponent("https://evil.example/")}`);
        await page.fill("#identifier", "alice");
        await page.fill("#password", PASSWORD);
        await page.click("#submit");
        await page.waitForSelector("#signed-in:not(.hidden)");
        assert.equal(new URL(page.url()).host, `${HOST}:${port}`);
        assert.match(await page.textContent("#status"), /not one this server sends people to/);
        await snap(page, `proxy-${proxy}-${device}-5-tampered-rd`);
        await context.close();
      }
    });
}

// nginx's default proxy_pass sends its upstream's name as Host, so the page's
// Origin never matches it: PUBLIC_URL tells the server its own origin. In the
// same set-up, a forgotten password: the reset mail's link keeps rd, and
// after the reset and sign-in the browser is back on the app.
test("nginx without Host, PUBLIC_URL set: sign-in works, and a reset finds its way back",
  { skip: available("nginx") ? false : "nginx is not installed (apt-get install nginx-light)" },
  async () => {
    const port = await freePort();
    const inbox = mkdtempSync(join(work, "inbox-"));
    const auth = await startAuthServer({
      PUBLIC_URL: `http://${HOST}:${port}/auth`, SITE_NAME: "The Wiki",
      MAIL_COMMAND: `cat > ${inbox}/part.$$ && mv ${inbox}/part.$$ ${inbox}/$(date +%s%N).eml`,
      PATH: "/usr/local/bin:/usr/bin:/bin",
    });
    await startNginx({ withoutHost: true, port, auth });
    const appUrl = `http://${HOST}:${port}/wiki/page?id=7`;
    for (const [device, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]]) {
      const context = await browser.newContext({ viewport });
      const page = await context.newPage();
      await page.goto(appUrl);
      await page.waitForSelector("#sign-in");
      assert.equal(await page.textContent("#title"), "Sign in to The Wiki");
      assert.equal(await page.title(), "Sign in to The Wiki");

      // Forgotten: the mail's link keeps rd.
      const mails = () => readdirSync(inbox).filter((f) => f.endsWith(".eml")).sort();
      const before = mails().length;
      await page.click("#show-forgot");
      await page.fill("#forgot-email", "alice@example.com");
      await page.click("#forgot button[type=submit]");
      await page.waitForSelector("#status.ok");
      await snap(page, `proxy-nginx-no-host-${device}-1-reset-asked`);
      for (let i = 0; i < 100 && mails().length === before; i++) await new Promise((r) => setTimeout(r, 100));
      const all = mails();
      assert.equal(all.length, before + 1, "a reset mail arrived");
      const mail = readFileSync(join(inbox, all[all.length - 1]), "utf8");
      assert.match(mail, /^Subject: Reset your The Wiki password$/m);
      const link = mail.match(/http:\/\/\S*reset-password\S*/)[0];
      assert.ok(link.includes(`?rd=${encodeURIComponent(appUrl)}#token=`), link);
      const newPassword = `a new passphrase for the ${device}`;
      await page.goto(link);
      await page.waitForSelector("#reset:not(.hidden)");
      await page.fill("#new-password", newPassword);
      await page.click("#reset button[type=submit]");
      await page.waitForSelector("#status:has-text('Your password is changed')");
      await snap(page, `proxy-nginx-no-host-${device}-2-reset-done`);

      // Signing in now goes back where the browser was going.
      await page.fill("#identifier", "alice");
      await page.fill("#password", newPassword);
      await page.click("#submit");
      await page.waitForURL(appUrl);
      assert.equal(await page.textContent("#hello"), "Hello, alice");

      // Without rd, the signed-in page offers the way home.
      await page.goto(`http://${HOST}:${port}/auth/login`);
      await page.waitForSelector("#signed-in:not(.hidden)");
      assert.equal(await page.getAttribute("#home", "href"), `http://${HOST}:${port}`);
      assert.ok(await page.isVisible("#home"));
      await snap(page, `proxy-nginx-no-host-${device}-3-signed-in-home`);
      await page.click("#sign-out");
      await page.waitForSelector("#status:has-text('You are signed out')");
      await context.close();
    }
  });

// Who may use which app: a second host only admins may open. alice (in
// admins) gets in; bob gets the sign-in page saying the app is for admins;
// after `admin group add bob admins` bob gets in without signing in again.
const ADMIN_HOST = "admin.localhost";
for (const [proxy, startProxy] of [["nginx", startNginx], ["caddy", startCaddy]]) {
  test(`${proxy}: an app only admins may open`,
    { skip: available(proxy) ? false : `${proxy} is not installed` },
    async () => {
      const dir = mkdtempSync(join(work, "rules-"));
      writeFileSync(join(dir, "rules"), `${ADMIN_HOST} groups=admins\n${HOST} signed_in\n`);
      const auth = await startAuthServer({
        FORWARD_AUTH_HOSTS: `${HOST},${ADMIN_HOST}`, ACCESS_RULES_FILE: join(dir, "rules"),
        DATABASE_PATH: join(dir, "auth.db"),
      });
      const made = await fetch(`http://127.0.0.1:${auth}/api/register`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: "bob", email: "bob@example.com", password: PASSWORD }),
      });
      assert.equal(made.status, 201);
      const admin = (...args) => {
        const run = spawnSync(binary, ["admin", ...args], { env: { DATABASE_PATH: join(dir, "auth.db"), PATH: process.env.PATH } });
        assert.equal(run.status, 0, String(run.stderr));
      };
      admin("group", "add", "alice", "admins");
      const port = await startProxy({ auth, hosts: [HOST, ADMIN_HOST] });
      const appUrl = `http://${ADMIN_HOST}:${port}/panel`;
      for (const [device, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]]) {
        for (const name of ["alice", "bob"]) {
          const context = await browser.newContext({ viewport });
          const page = await context.newPage();
          await page.goto(appUrl);
          await page.waitForSelector("#sign-in");
          await page.fill("#identifier", name);
          await page.fill("#password", PASSWORD);
          await page.click("#submit");
          if (name === "alice") {
            await page.waitForURL(appUrl);
            assert.equal(await page.textContent("#hello"), "Hello, alice");
          } else {
            // Back on the app, turned away: the sign-in page says why.
            await page.waitForSelector("#status:has-text('this app is for admins')");
            assert.match(await page.textContent("#status"), /You are signed in as bob, but this app is for admins/);
            assert.ok(await page.isVisible("#sign-out"));
            await snap(page, `access-${proxy}-${device}-not-for-bob`);
            admin("group", "add", "bob", "admins");
            await page.goto(appUrl);
            assert.equal(await page.textContent("#hello"), "Hello, bob", "in, without signing in again");
            admin("group", "remove", "bob", "admins");
          }
          await context.close();
        }
      }
    });
}

// The gate through the shipped configurations: a signed-in user outside
// the admins, asking for /admin in every spelling a proxy or an app reads
// as /admin, and a signed-out visitor naming a public host in a forged
// X-Original-URL. None of these requests may reach the app; a plain page
// the rules allow does (so the count below can move).
const STATUS_HOST = "status.localhost";
for (const [proxy, startProxy] of [["nginx", startNginx], ["caddy", startCaddy]]) {
  test(`${proxy}: odd paths and a forged X-Original-URL never reach the app`,
    { skip: available(proxy) ? false : `${proxy} is not installed` },
    async () => {
      const dir = mkdtempSync(join(work, "gate-"));
      writeFileSync(join(dir, "rules"),
        `${HOST} /admin groups=admins\n${STATUS_HOST} public\n${HOST} signed_in\n* deny\n`);
      const auth = await startAuthServer({
        FORWARD_AUTH_HOSTS: `${HOST},${STATUS_HOST}`, ACCESS_RULES_FILE: join(dir, "rules"),
        DATABASE_PATH: join(dir, "auth.db"),
      });
      const login = await fetch(`http://127.0.0.1:${auth}/api/login`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: "alice", password: PASSWORD }),
      });
      assert.equal(login.status, 200);
      const cookie = login.headers.get("set-cookie").split(";")[0];
      const port = await startProxy({ auth, hosts: [HOST, STATUS_HOST] });
      // What the app has been asked for, through a second echo server
      // whose every request is counted.
      const before = await appRequests(port, cookie);

      const ask = (path, extra = {}, withCookie = true) => rawGet(port, HOST, path, {
        Accept: "text/html", ...(withCookie ? { Cookie: cookie } : {}), ...extra,
      });
      // The control: a page the rules let alice open reaches the app.
      assert.equal((await ask("/wiki")).status, 200);
      const afterControl = await appRequests(port, cookie);
      assert.equal(afterControl, before + 2, "the control request and the count's own reached the app");

      for (const path of ["/admin", "//admin", "/%61dmin/users", "/./admin", "/x/../admin",
                          "/x/%2e%2e/admin", "/admin;x=1", "/admin%2fusers"]) {
        const answer = await ask(path);
        assert.notEqual(answer.status, 200, `${proxy} ${path}: ${answer.status}`);
      }
      // Signed out, naming the public host: refused or sent to sign in.
      for (const forged of [`http://${STATUS_HOST}:${port}/`, `http://${HOST}:${port}/`]) {
        const answer = await ask("/admin", { "X-Original-URL": forged }, false);
        assert.notEqual(answer.status, 200, `${proxy} forged ${forged}: ${answer.status}`);
      }
      // Signed in, forging the allowed page while asking for /admin.
      const forged = await ask("/admin/users", { "X-Original-URL": `http://${HOST}:${port}/wiki` });
      assert.notEqual(forged.status, 200, `${proxy} forged /wiki: ${forged.status}`);
      assert.equal(await appRequests(port, cookie), afterControl + 1, "only the count itself reached the app");

      // A public rule's answer names nobody: no Remote-* header reaches the
      // app, not even a proxy's placeholder text, signed in or not.
      for (const extra of [{}, { Cookie: cookie }]) {
        const seen = await rawGet(port, STATUS_HOST, "/headers", { Accept: "application/json", ...extra });
        assert.equal(seen.status, 200, seen.body);
        assert.deepEqual(JSON.parse(seen.body), {}, `${proxy}: ${seen.body}`);
      }
    });
}

/** The app's request count, asked through the proxy as a page alice may open. */
async function appRequests(port, cookie) {
  const answer = await rawGet(port, HOST, "/count", { Cookie: cookie, Accept: "application/json" });
  assert.equal(answer.status, 200, answer.body);
  return Number(answer.body);
}

/** One GET as written, no client-side normalisation (fetch would turn
 *  `/x/../admin` into `/admin` before sending). */
function rawGet(port, host, path, headers) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let data = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk) => { data += chunk; });
    socket.on("error", reject);
    socket.on("end", () => {
      const status = Number(data.split(" ")[1]);
      resolve({ status, body: data.slice(data.indexOf("\r\n\r\n") + 4) });
    });
    // HTTP/1.0, so the answer is never chunked and ends with the connection.
    const lines = [`GET ${path} HTTP/1.0`, `Host: ${host}:${port}`,
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
    socket.write(lines.join("\r\n") + "\r\n\r\n");
  });
}
