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
