// What the browser tests share.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { createServer as createNetServer } from "node:net";
import { chromium } from "playwright-core";

const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

/** No serious or critical axe-core violation on the page as it is now
 *  (the page's context must bypass its CSP for axe's script). */
export async function accessible(page, what) {
  await page.addScriptTag({ path: axePath });
  const results = await page.evaluate(async () => await globalThis.axe.run());
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help}`), [], `${what}`);
}

/** The 6-digit code of a base32 secret for the step `offset` steps from now (RFC 6238). */
export function totpCode(base32Secret, offset) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of base32Secret) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + offset));
  const digest = createHmac("sha1", key).update(counter).digest();
  const at = digest[19] & 0xf;
  return String((digest.readUInt32BE(at) & 0x7fffffff) % 1000000).padStart(6, "0");
}

/** A free TCP port on loopback (to configure before starting). */
export function freePort() {
  return new Promise((resolve) => {
    const server = createNetServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `command` with `env` added, kept in `children` (to stop after
 * the tests); resolves once its output matches `ready` (at once without
 * one) to the child and the match.
 */
export function start(children, command, args, env, ready) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let seen = "";
  return new Promise((resolve, reject) => {
    const look = (chunk) => {
      seen += chunk;
      const match = ready && seen.match(ready);
      if (match) resolve({ child, match });
    };
    child.stdout.on("data", look);
    child.stderr.on("data", look);
    child.on("exit", (code) => reject(new Error(`${command} exited with ${code}: ${seen}`)));
    if (!ready) resolve({ child });
  });
}

/** Waits until something answers HTTP on `port`. */
export async function waitForPort(port) {
  // Thirty seconds: a first start on a loaded machine can be slow.
  for (let i = 0; i < 300; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/`, { redirect: "manual" });
      return;
    } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  throw new Error(`nothing answers on ${port}`);
}

/**
 * An nginx.conf for a test: in the foreground, everything under `prefix`,
 * upstreams auth_server and protected_app, one server per host on `port`
 * including `locations` (the shipped deploy/forward-auth/nginx-locations.conf
 * or a variant of it).
 */
export function nginxConfig({ prefix, port, authPort, appPort, hosts, locations }) {
  const runningAsRoot = process.getuid && process.getuid() === 0;
  return `
${runningAsRoot ? "user root;" : ""}
worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  upstream auth_server { server 127.0.0.1:${authPort}; }
  upstream protected_app { server 127.0.0.1:${appPort}; }
${hosts.map((host) => `  server {
    listen 127.0.0.1:${port};
    server_name ${host};
    set $protected_app http://protected_app;
    include ${locations};
  }`).join("\n")}
}
`;
}

/** Headless Chromium as the tests run it (`CHROMIUM`, else Debian's), with
 *  `extra` arguments such as host-resolver rules. */
export function launchChromium(extra = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-quic", ...extra],
  });
}
