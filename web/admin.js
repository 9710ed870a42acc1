// The admin page: people, invitations, apps and the audit trail, through
// this server's /api/admin/ endpoints from the same origin (no inline
// script: the page's Content-Security-Policy allows only this file). The
// server decides who may use it; the page only shows what it answered:
// signed out, to the sign-in page; not an administrator, a sentence; no
// second factor yet, the step-up form; an action that cannot be undone,
// the password first.

const PAGE = 50;
let me = null;
let query = "";
let shown = 0;
// An action waiting for a fresh proof (the reauth form), run again after it.
let pending = null;

function problem(result) {
  return (result.json.error && result.json.error.message) || "Something went wrong.";
}

function errorCode(result) {
  return result.json.error && result.json.error.code;
}

function groupsOf(text) {
  return text.split(",").map((g) => g.trim()).filter(Boolean);
}

/** A field's error next to it (`id-error`), announced with the field. */
function fieldError(id, message) {
  $(`${id}-error`).textContent = message || "";
  if (message) $(id).setAttribute("aria-invalid", "true"); else $(id).removeAttribute("aria-invalid");
}

/** The server's field problems beside the form's fields (`prefix-name`). */
function fieldErrors(prefix, names, result) {
  const fields = (result && result.json.error && result.json.error.fields) || {};
  for (const name of names) fieldError(`${prefix}-${name}`, fields[name] ? `This ${fields[name]}.` : "");
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

/** A small button whose spoken description names what it acts on. */
function button(text, describedBy, className = "secondary small") {
  const node = element("button", text, className);
  node.type = "button";
  if (describedBy) node.setAttribute("aria-describedby", describedBy);
  return node;
}

function when(time) {
  return time ? new Date(time).toLocaleString() : "never";
}

/**
 * Calls the API. Signed out: to the sign-in page. A refusal that wants a
 * fresh proof: the reauth form, then `again` (the same action) once it is
 * given. Otherwise the answer.
 */
async function api(method, path, body, again) {
  const result = await call(method, path, body);
  if (result.status === 401) {
    location.replace("login?rd=" + encodeURIComponent(location.href));
    return null;
  }
  if (result.status === 403 && errorCode(result) === "reauthentication_required" && again) {
    pending = again;
    $("reauth").classList.remove("hidden");
    $("reauth-password").focus();
    status("Confirm it is you to go on.", "");
    return null;
  }
  return result;
}

/** Copies a read-only field's text (or selects it where copying is refused). */
async function copy(id) {
  const input = $(id);
  try {
    await navigator.clipboard.writeText(input.value);
    status("Copied.", "ok");
  } catch {
    input.select();
    status("Selected: press Ctrl+C (or ⌘C) to copy.", "");
  }
}

// People.

function userRow(user) {
  const li = element("li");
  const whoId = `user-${user.id}`;
  const head = element("div");
  const who = element("span", user.username, "who");
  who.id = whoId;
  head.append(who);
  if (user.disabled) head.append(element("span", "disabled", "badge off"));
  if (user.id === me.id) head.append(element("span", "you", "badge"));
  li.append(head);
  const facts = [
    user.email + (user.email_verified ? " (confirmed)" : " (not confirmed)"),
    user.groups.length ? `groups: ${user.groups.join(", ")}` : "no groups",
    user.totp_enabled ? "two-factor on" : "two-factor off",
    `${user.passkeys} passkey${user.passkeys === 1 ? "" : "s"}`,
    `last sign-in: ${when(user.last_login_at)}`,
  ];
  li.append(element("p", facts.join(" · "), "meta"));
  const actions = element("div");
  const extra = element("div");
  const self = user.id === me.id;

  if (!self) {
    const toggle = button(user.disabled ? "Enable" : "Disable", whoId);
    toggle.addEventListener("click", async () => {
      const result = await api("PATCH", `api/admin/users/${user.id}`, { disabled: !user.disabled });
      if (!result) return;
      if (result.status !== 200) return status(problem(result), "error");
      status(`${user.username} is ${user.disabled ? "enabled" : "disabled"}.`, "ok");
      loadUsers();
    });
    actions.append(toggle);
  }

  const groups = button("Groups", whoId);
  groups.addEventListener("click", () => {
    extra.replaceChildren();
    const form = element("form", undefined, "edit-groups");
    form.noValidate = true;
    const field = element("div", undefined, "field");
    const label = element("label", `Groups of ${user.username}`);
    const input = element("input");
    input.id = `groups-${user.id}`;
    label.htmlFor = input.id;
    input.value = user.groups.join(", ");
    field.append(label, input);
    const save = element("button", "Save groups", "small");
    save.type = "submit";
    form.append(field, save);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const result = await api("PATCH", `api/admin/users/${user.id}`, { groups: groupsOf(input.value) });
      if (!result) return;
      if (result.status !== 200) return status(problem(result) + " " + Object.values(result.json.error.fields || {}).join(" "), "error");
      status(`Saved the groups of ${user.username}.`, "ok");
      loadUsers();
    });
    extra.append(form);
    input.focus();
  });
  actions.append(groups);

  const reset = button("Reset link", whoId);
  reset.addEventListener("click", async () => {
    const result = await api("POST", `api/admin/users/${user.id}/reset-link`);
    if (!result) return;
    if (result.status !== 200) return status(problem(result), "error");
    extra.replaceChildren();
    const box = element("div", undefined, "handover");
    const label = element("label", `Link for ${user.username} to choose a password`);
    const input = element("input");
    input.id = `reset-${user.id}`;
    input.readOnly = true;
    input.value = result.json.data.reset_url;
    label.htmlFor = input.id;
    const copyButton = button("Copy link");
    copyButton.addEventListener("click", () => copy(input.id));
    box.append(label, input, copyButton);
    extra.append(box);
    status(`A reset link for ${user.username}: it works once.`, "ok");
    input.focus();
    input.select();
  });
  actions.append(reset);

  const unlock = button("Unlock", whoId);
  unlock.addEventListener("click", async () => {
    const result = await api("POST", `api/admin/users/${user.id}/unlock`);
    if (!result) return;
    status(result.status === 200 ? `The sign-in lockout of ${user.username} is lifted.` : problem(result), result.status === 200 ? "ok" : "error");
  });
  actions.append(unlock);

  const everywhere = button("Sign out everywhere", whoId);
  everywhere.addEventListener("click", async () => {
    const result = await api("DELETE", `api/admin/users/${user.id}/sessions`);
    if (!result) return;
    if (result.status !== 200) return status(problem(result), "error");
    if (self) return location.reload();
    status(`${user.username} is signed out everywhere.`, "ok");
  });
  actions.append(everywhere);

  if (!self) {
    const remove = button("Delete user", whoId, "small danger");
    remove.addEventListener("click", () => {
      extra.replaceChildren();
      const box = element("div", undefined, "confirm");
      box.append(element("p", `Delete ${user.username} and everything of theirs? This cannot be undone.`));
      const yes = button(`Yes, delete ${user.username}`, undefined, "small danger");
      const no = button("Cancel");
      const act = async () => {
        const result = await api("DELETE", `api/admin/users/${user.id}`, undefined, act);
        if (!result) return;
        if (result.status !== 200) return status(problem(result), "error");
        status(`${user.username} is deleted.`, "ok");
        loadUsers();
      };
      yes.addEventListener("click", act);
      no.addEventListener("click", () => { extra.replaceChildren(); remove.focus(); });
      box.append(yes, no);
      extra.append(box);
      no.focus();
    });
    actions.append(remove);
  }
  li.append(actions, extra);
  return li;
}

async function loadUsers(more) {
  const offset = more ? shown : 0;
  const params = new URLSearchParams({ query, limit: String(PAGE), offset: String(offset) });
  const result = await api("GET", `api/admin/users?${params}`);
  if (!result) return;
  if (result.status !== 200) return status(problem(result), "error");
  const { users, total } = result.json.data;
  if (!more) $("users").replaceChildren();
  $("users").append(...users.map(userRow));
  shown = offset + users.length;
  $("user-count").textContent = total === 0 ? "Nobody matches." : `${shown} of ${total} shown.`;
  $("more-users").classList.toggle("hidden", shown >= total);
}

$("search").addEventListener("submit", (event) => {
  event.preventDefault();
  query = $("search-query").value.trim();
  loadUsers();
  loadInvites();
});
$("more-users").addEventListener("click", () => loadUsers(true));

$("create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { username: $("create-username").value, email: $("create-email").value, groups: groupsOf($("create-groups").value) };
  const result = await api("POST", "api/admin/users", body);
  if (!result) return;
  fieldErrors("create", ["username", "email", "groups"], result);
  if (errorCode(result) === "username_taken") fieldError("create-username", "This username is taken.");
  if (errorCode(result) === "email_taken") fieldError("create-email", "This address already has an account.");
  if (result.status !== 201) return status(problem(result), "error");
  $("created-name").textContent = result.json.data.user.username;
  $("created-link").value = result.json.data.reset_url;
  $("created").classList.remove("hidden");
  $("create-form").reset();
  status(`${result.json.data.user.username} is made. Hand over the link.`, "ok");
  $("created-link").focus();
  $("created-link").select();
  loadUsers();
});

// Invitations.

function inviteRow(invite) {
  const li = element("li");
  const id = `invite-${invite.id}`;
  const head = element("div");
  const name = element("span", invite.email || `Invitation ${invite.id}`, "who");
  name.id = id;
  head.append(name, element("span", invite.state, invite.state === "open" ? "badge" : "badge off"));
  li.append(head);
  const facts = [invite.groups.length ? `groups: ${invite.groups.join(", ")}` : "no groups", `made ${when(invite.created_at)}`, `until ${when(invite.expires_at)}`];
  li.append(element("p", facts.join(" · "), "meta"));
  if (invite.state === "open") {
    const withdraw = button("Withdraw", id);
    withdraw.addEventListener("click", async () => {
      const result = await api("DELETE", `api/admin/invites/${invite.id}`);
      if (!result) return;
      status(result.status === 200 ? "The invitation is withdrawn: its link no longer works." : problem(result), result.status === 200 ? "ok" : "error");
      loadInvites();
    });
    li.append(withdraw);
  }
  return li;
}

async function loadInvites() {
  const result = await api("GET", "api/admin/invites");
  if (!result || result.status !== 200) return;
  $("invite-list").replaceChildren(...result.json.data.invites.map(inviteRow));
}

$("invite-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { groups: groupsOf($("invite-groups").value), expires_in_hours: Number($("invite-hours").value) || 72 };
  if ($("invite-email").value.trim()) body.email = $("invite-email").value.trim();
  const result = await api("POST", "api/admin/invites", body);
  if (!result) return;
  fieldErrors("invite", ["groups", "email"], result);
  fieldError("invite-hours", result.json.error && result.json.error.fields && result.json.error.fields.expires_in_hours ? "Between 1 and 720 hours." : "");
  if (result.status !== 201) return status(problem(result), "error");
  const data = result.json.data;
  $("invite-link").value = new URL(data.url, location.href).href;
  $("invited-note").textContent = data.mailed ? "Mailed. The link, should you want to send it yourself:" : "Send this link to the person you invite.";
  $("invited").classList.remove("hidden");
  $("invite-form").reset();
  status("Invitation made.", "ok");
  $("invite-link").focus();
  $("invite-link").select();
  loadInvites();
});

// Apps.

function appRow(app) {
  const li = element("li");
  const id = `app-${app.client_id}`;
  const name = element("div", app.name, "who");
  name.id = id;
  li.append(name);
  const facts = [`client id ${app.client_id}`, app.public ? "public (PKCE)" : "confidential", app.alg,
    app.allowed_groups.length ? `for ${app.allowed_groups.join(", ")}` : "for anyone signed in", app.redirect_uris.join(" ")];
  li.append(element("p", facts.join(" · "), "meta"));
  const remove = button("Remove", id, "small danger");
  const act = async () => {
    const result = await api("DELETE", `api/admin/oidc-clients/${encodeURIComponent(app.client_id)}`, undefined, act);
    if (!result) return;
    if (result.status !== 200) return status(problem(result), "error");
    status(`${app.name} is removed; its tokens stop working.`, "ok");
    loadApps();
  };
  remove.addEventListener("click", act);
  li.append(remove);
  return li;
}

async function loadApps() {
  const result = await api("GET", "api/admin/oidc-clients");
  if (!result || result.status !== 200) return;
  const clients = result.json.data.clients;
  $("app-list").replaceChildren(...(clients.length ? clients.map(appRow) : [element("li", "No apps yet.", "meta")]));
}

$("app-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {
    name: $("app-name").value, redirect_uris: $("app-uris").value.split("\n").map((u) => u.trim()).filter(Boolean),
    allowed_groups: groupsOf($("app-groups").value), alg: $("app-alg").value, public: $("app-public").checked,
  };
  const result = await api("POST", "api/admin/oidc-clients", body);
  if (!result) return;
  fieldErrors("app", ["name"], result);
  const fields = (result.json.error && result.json.error.fields) || {};
  fieldError("app-uris", fields.redirect_uris ? `This ${fields.redirect_uris}.` : "");
  fieldError("app-groups", fields.allowed_groups ? `This ${fields.allowed_groups}.` : "");
  if (result.status !== 201) return status(problem(result), "error");
  $("app-id").value = result.json.data.client_id;
  $("app-secret").value = result.json.data.client_secret || "(none: a public client)";
  $("app-made").classList.remove("hidden");
  $("app-form").reset();
  status("App added.", "ok");
  $("app-secret").focus();
  loadApps();
});

// The audit trail.

async function loadAudit() {
  const params = new URLSearchParams({ user: $("audit-user").value.trim(), event: $("audit-event").value.trim(), limit: "100" });
  const result = await api("GET", `api/admin/audit?${params}`);
  if (!result) return;
  if (result.status !== 200) return status(problem(result), "error");
  const rows = result.json.data.events.map((event) => {
    const tr = element("tr");
    for (const text of [when(event.at), event.event, event.user || (event.user_id ?? ""), event.actor ?? "", event.client || "", event.detail || ""]) {
      tr.append(element("td", String(text)));
    }
    return tr;
  });
  $("events").replaceChildren(...rows);
}

$("audit-form").addEventListener("submit", (event) => { event.preventDefault(); loadAudit(); });

// Proofs: a second factor for the page, a fresh one for what cannot be undone.

$("step-up").addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = $("step-up-code").value.trim();
  if (!code) return fieldError("step-up-code", "Enter the six digits your app shows.");
  const result = await api("POST", "api/auth/step-up", { code });
  if (!result) return;
  if (result.status !== 200) return fieldError("step-up-code", problem(result));
  fieldError("step-up-code", "");
  start();
});

function closeReauth() {
  pending = null;
  $("reauth").classList.add("hidden");
  $("reauth").reset();
  fieldError("reauth-code", "");
}

$("reauth").addEventListener("submit", async (event) => {
  event.preventDefault();
  const password = $("reauth-password").value;
  const code = $("reauth-code").value.trim();
  if (!password && !code) return fieldError("reauth-code", "Enter your password or a code.");
  const result = await call("POST", "api/user/reauth", password ? { password } : { code });
  if (result.status !== 200) return fieldError("reauth-code", problem(result));
  const again = pending;
  closeReauth();
  if (again) again();
});
$("reauth-cancel").addEventListener("click", () => { closeReauth(); status("Nothing was changed.", ""); });

for (const copyButton of document.querySelectorAll("button.copy")) {
  copyButton.addEventListener("click", () => copy(copyButton.dataset.copy));
}

async function start() {
  const result = await api("GET", `api/admin/users?limit=${PAGE}`);
  if (!result) return;
  const code = errorCode(result);
  $("not-admin").classList.toggle("hidden", code !== "forbidden");
  $("step-up").classList.toggle("hidden", code !== "second_factor_required");
  if (code === "second_factor_required") {
    $("passkey-again").href = "login?rd=" + encodeURIComponent(location.href);
    return $("step-up-code").focus();
  }
  if (result.status !== 200) return code === "forbidden" ? null : status(problem(result), "error");
  const who = await api("GET", "api/user");
  if (!who || who.status !== 200) return;
  me = who.json.data.user;
  $("panels").classList.remove("hidden");
  status("");
  loadUsers();
  loadInvites();
  loadApps();
  loadAudit();
}

start();
