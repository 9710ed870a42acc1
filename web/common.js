"use strict";
// What the built-in pages share: finding elements, calling this server's
// JSON API from the same origin, and the status line. Served in front of
// each page's own script (login.js, account.js) as one file.

const $ = (id) => document.getElementById(id);
const site = document.body.dataset.site;

async function call(method, path, body) {
  const options = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let json = {};
  try { json = await response.json(); } catch { /* an empty answer */ }
  return { status: response.status, json };
}

function status(message, kind) {
  const element = $("status");
  element.textContent = message;
  element.className = kind || "";
}

// Passkeys (WebAuthn). The API speaks the Level 3 JSON forms, every binary
// value base64url without padding; navigator.credentials speaks
// ArrayBuffers. These four convert, for browsers without
// PublicKeyCredential.parseCreationOptionsFromJSON and toJSON().
// Offered only where they can work: a browser with WebAuthn, on a page at
// one of PASSKEY_ORIGINS (the server checks the origin again).
const passkeysAvailable = Boolean(window.PublicKeyCredential && navigator.credentials) &&
  document.body.dataset.passkeyOrigins.split(" ").includes(location.origin);
if (passkeysAvailable) document.body.dataset.passkeys = "on";

function fromBase64url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(base64 + "===".slice((base64.length + 3) % 4)), (c) => c.charCodeAt(0));
}

function toBase64url(buffer) {
  const bytes = String.fromCharCode(...new Uint8Array(buffer));
  return btoa(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Creation or request options from their JSON form. */
function passkeyOptions(json) {
  const options = { ...json, challenge: fromBase64url(json.challenge) };
  if (json.user) options.user = { ...json.user, id: fromBase64url(json.user.id) };
  for (const list of ["excludeCredentials", "allowCredentials"]) {
    if (json[list]) options[list] = json[list].map((c) => ({ ...c, id: fromBase64url(c.id) }));
  }
  return options;
}

/** A new credential or an assertion in its JSON form. */
function credentialJSON(credential) {
  const response = credential.response;
  const json = { clientDataJSON: toBase64url(response.clientDataJSON) };
  if (response.attestationObject) {
    json.attestationObject = toBase64url(response.attestationObject);
    if (response.getTransports) json.transports = response.getTransports();
  } else {
    json.authenticatorData = toBase64url(response.authenticatorData);
    json.signature = toBase64url(response.signature);
    if (response.userHandle) json.userHandle = toBase64url(response.userHandle);
  }
  const id = toBase64url(credential.rawId);
  return { id, rawId: id, type: credential.type, response: json, clientExtensionResults: {} };
}

// The pages behind a sign-in (account, admin) have "Sign out" at the top,
// easy to find on every one of them.
const pageSignOut = document.getElementById("page-sign-out");
if (pageSignOut) {
  pageSignOut.addEventListener("click", async () => {
    await call("POST", "api/logout");
    location.replace("login");
  });
}
