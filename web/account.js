// The account page: everything a signed-in user can do, through this
// server's JSON API from the same origin (no inline script: the page's
// Content-Security-Policy allows only this file). Signed out, it sends the
// browser to the sign-in page, which brings it back here.

const mailOn = document.body.dataset.mail === "on";

function problem(result) {
  return (result.json.error && result.json.error.message) || "Something went wrong.";
}

/** Signed out (or the session ended): to the sign-in page and back. */
function signIn() {
  location.replace("login?rd=" + encodeURIComponent(location.href));
}

/** A field's error next to it, announced with the field. */
function fieldError(input, errorId, message) {
  $(errorId).textContent = message || "";
  if (message) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
}

/** "Firefox on Linux": a user agent in a few words. */
function device(agent) {
  if (!agent) return "Unknown device";
  const browser = [["Edg/", "Edge"], ["Firefox/", "Firefox"], ["Chrome/", "Chrome"], ["Safari/", "Safari"], ["curl/", "curl"]]
    .find(([mark]) => agent.includes(mark));
  const system = [["Android", "Android"], ["iPhone", "iPhone"], ["iPad", "iPad"], ["Windows", "Windows"], ["Mac OS X", "macOS"], ["Linux", "Linux"]]
    .find(([mark]) => agent.includes(mark));
  if (!browser && !system) return agent.slice(0, 40);
  return [browser && browser[1], system && `on ${system[1]}`].filter(Boolean).join(" ");
}

function when(time) {
  return new Date(time).toLocaleString();
}

let user = null;

/** A small secondary button with a spoken label that names its object. */
function smallButton(text, label) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary small";
  button.textContent = text;
  button.setAttribute("aria-label", label);
  return button;
}

async function showProfile() {
  const me = await call("GET", "api/dashboard");
  if (me.status === 401) return signIn();
  if (me.status !== 200) return status(problem(me), "error");
  user = me.json.data.user;
  $("username").textContent = user.username;
  $("email").textContent = user.email;
  $("verified").textContent = user.email_verified ? "Yes" : "Not yet";
  $("resend").classList.toggle("hidden", user.email_verified || !mailOn);
  // An account a provider made has no password: the forms that ask for
  // one give way to how to set it.
  $("no-password").classList.toggle("hidden", user.has_password);
  for (const id of ["password-form", "totp-start", "delete-form"]) $(id).classList.toggle("hidden", !user.has_password);
  $("totp-off").classList.toggle("hidden", user.totp_enabled);
  $("totp-on").classList.toggle("hidden", !user.totp_enabled);
  const left = me.json.data.two_factor && me.json.data.two_factor.recovery_codes_left;
  $("codes-left").textContent = user.totp_enabled && left !== undefined && left !== null
    ? `${left} recovery code${left === 1 ? "" : "s"} left.` : "";
}

async function showSessions() {
  const result = await call("GET", "api/sessions");
  if (result.status === 401) return signIn();
  const list = $("sessions");
  list.replaceChildren();
  for (const session of result.json.data.sessions) {
    const item = document.createElement("li");
    const what = document.createElement("span");
    what.textContent = `${device(session.user_agent)}, ${session.ip}, last seen ${when(session.last_seen_at)}`;
    item.append(what);
    if (session.current) {
      const mark = document.createElement("strong");
      mark.textContent = " (this device)";
      item.append(mark);
    } else {
      const end = smallButton("Sign out", `Sign out ${device(session.user_agent)}, ${session.ip}`);
      end.addEventListener("click", async () => {
        const ended = await call("DELETE", `api/sessions/${session.id}`);
        status(ended.status === 200 ? "That session is signed out." : problem(ended), ended.status === 200 ? "ok" : "error");
        await showSessions();
      });
      item.append(" ", end);
    }
    list.append(item);
  }
}

async function showPasskeys() {
  const result = await call("GET", "api/user/passkeys");
  if (result.status === 401) return signIn();
  const passkeys = result.json.data.passkeys;
  $("passkeys-none").classList.toggle("hidden", passkeys.length > 0);
  $("passkeys").replaceChildren(...passkeys.map(passkeyItem));
}

function passkeyItem(passkey) {
  const item = document.createElement("li");
  const what = document.createElement("span");
  const used = passkey.last_used_at ? `last used ${when(passkey.last_used_at)}` : "not used yet";
  what.textContent = `${passkey.name}: added ${when(passkey.created_at)}, ${used}${passkey.backed_up ? ", synced" : ""}`;
  const rename = smallButton("Rename", `Rename ${passkey.name}`);
  rename.addEventListener("click", () => {
    item.replaceChildren(renameForm(passkey));
    item.querySelector("input").focus();
  });
  const remove = smallButton("Remove", `Remove ${passkey.name}`);
  remove.addEventListener("click", async () => {
    const removed = await call("DELETE", `api/user/passkeys/${passkey.id}`);
    await showPasskeys();
    status(removed.status === 200 ? `${passkey.name} is removed; it no longer signs you in.` : problem(removed),
      removed.status === 200 ? "ok" : "error");
  });
  item.append(what, " ", rename, " ", remove);
  return item;
}

/** Renaming in place: a labelled field, Save and Cancel. */
function renameForm(passkey) {
  const form = document.createElement("form");
  form.className = "rename";
  form.noValidate = true;
  const field = document.createElement("div");
  field.className = "field";
  const label = document.createElement("label");
  label.htmlFor = `rename-${passkey.id}`;
  label.textContent = `New name for ${passkey.name}`;
  const input = document.createElement("input");
  input.id = label.htmlFor;
  input.type = "text";
  input.maxLength = 64;
  input.value = passkey.name;
  field.append(label, input);
  const save = document.createElement("button");
  save.type = "submit";
  save.className = "small";
  save.textContent = "Save";
  const cancel = smallButton("Cancel", `Keep the name ${passkey.name}`);
  cancel.addEventListener("click", showPasskeys);
  form.append(field, save, cancel);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const renamed = await call("PATCH", `api/user/passkeys/${passkey.id}`, { name: input.value });
    if (renamed.status !== 200) {
      input.setAttribute("aria-invalid", "true");
      return status(problem(renamed), "error");
    }
    // The list first, then the announcement, so what it says is on screen.
    await showPasskeys();
    status("Passkey renamed.", "ok");
  });
  return form;
}

/** The server wants a recent proof before a new credential: ask for the
 *  password right here, then carry on with `then`. */
let afterProof = null;
function needsProof(result, then = addPasskey) {
  if (result.status !== 403 || !result.json.error || result.json.error.code !== "reauthentication_required") return false;
  afterProof = then;
  $("reauth").classList.remove("hidden");
  $("passkey-add").classList.add("hidden");
  status(problem(result), "error");
  $("reauth-password").focus();
  return true;
}

function closeProof() {
  $("reauth").classList.add("hidden");
  $("passkey-add").classList.remove("hidden");
  $("reauth-password").value = "";
  fieldError($("reauth-password"), "reauth-password-error", "");
}

$("reauth").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("reauth-password");
  if (!input.value) return fieldError(input, "reauth-password-error", "Enter your password.");
  const result = await call("POST", "api/user/reauth", { password: input.value });
  if (result.status === 401 && result.json.error.code === "unauthenticated") return signIn();
  if (result.status !== 200) {
    fieldError(input, "reauth-password-error", problem(result));
    return input.focus();
  }
  closeProof();
  await (afterProof || addPasskey)();
});

$("reauth-cancel").addEventListener("click", () => {
  closeProof();
  status("No passkey was added.", "ok");
  $("passkey-name").focus();
});

$("passkey-add").addEventListener("submit", async (event) => {
  event.preventDefault();
  await addPasskey();
});

async function addPasskey() {
  const options = await call("POST", "api/user/passkeys/options", {});
  if (options.status === 401) return signIn();
  if (needsProof(options)) return;
  if (options.status !== 200) return status(problem(options), "error");
  let credential;
  try {
    credential = await navigator.credentials.create({ publicKey: passkeyOptions(options.json.data.publicKey) });
  } catch (error) {
    return status(error.name === "InvalidStateError" ? "This device already holds a passkey for your account."
      : "No passkey was created.", "error");
  }
  const body = { credential: credentialJSON(credential) };
  const name = $("passkey-name").value.trim();
  if (name) body.name = name;
  const result = await call("POST", "api/user/passkeys", body);
  if (needsProof(result)) return;
  if (result.status !== 201) return status(problem(result), "error");
  $("passkey-name").value = "";
  await showPasskeys();
  status(`Passkey “${result.json.data.passkey.name}” added. You can sign in with it now.`, "ok");
}

$("resend").addEventListener("click", async () => {
  const result = await call("POST", "api/email/verify/resend", { redirect: location.href });
  status(result.status < 300 ? result.json.message : problem(result), result.status < 300 ? "ok" : "error");
});

$("password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const current = $("current-password");
  const next = $("new-password");
  fieldError(current, "current-password-error", "");
  fieldError(next, "new-password-error", "");
  const result = await call("POST", "api/user/password", { current_password: current.value, new_password: next.value });
  if (result.status === 200) {
    current.value = next.value = "";
    status(result.json.message, "ok");
    return showSessions();
  }
  if (result.status === 401 && result.json.error.code === "unauthenticated") return signIn();
  const fields = result.json.error && result.json.error.fields;
  if (fields) {
    fieldError(current, "current-password-error", fields.current_password && `Current password ${fields.current_password}.`);
    fieldError(next, "new-password-error", fields.new_password && `New password ${fields.new_password}.`);
  } else if (result.json.error && result.json.error.code === "invalid_credentials") {
    fieldError(current, "current-password-error", "That is not your current password.");
  }
  status(problem(result), "error");
  (fields && fields.new_password && !fields.current_password ? next : current).focus();
});

$("totp-start").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await call("POST", "api/user/totp/setup", { password: $("totp-setup-password").value });
  if (result.status !== 200) return status(problem(result), "error");
  $("totp-setup-password").value = "";
  $("totp-start").classList.add("hidden");
  $("totp-confirm").classList.remove("hidden");
  const svg = result.json.data.qr_svg;
  $("totp-qr").classList.toggle("hidden", !svg);
  if (svg) $("totp-qr").src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg);
  $("totp-secret").textContent = result.json.data.secret;
  status("Scan the code, then type the code your app shows.");
  $("totp-code").focus();
});

$("totp-confirm").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await call("POST", "api/user/totp/enable", { code: $("totp-code").value.trim() });
  if (result.status !== 200) {
    $("totp-code").setAttribute("aria-invalid", "true");
    return status(problem(result), "error");
  }
  const codes = result.json.data.recovery_codes;
  const list = $("recovery-codes");
  list.replaceChildren(...codes.map((code) => {
    const item = document.createElement("li");
    item.textContent = code;
    return item;
  }));
  const text = `Recovery codes for ${user.username} at ${site}\n(each signs in once)\n\n${codes.join("\n")}\n`;
  $("download-codes").href = "data:text/plain;charset=utf-8," + encodeURIComponent(text);
  $("totp-off").classList.add("hidden");
  $("totp-codes").classList.remove("hidden");
  status("Two-factor login is on. Your other sessions have been signed out.", "ok");
  $("codes-saved").focus();
});

$("codes-saved").addEventListener("click", async () => {
  $("recovery-codes").replaceChildren();
  $("totp-codes").classList.add("hidden");
  status("");
  await showProfile();
  await showSessions();
});

$("totp-stop").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await call("POST", "api/user/totp/disable", {
    password: $("totp-stop-password").value, code: $("totp-stop-code").value.trim(),
  });
  if (result.status !== 200) return status(problem(result), "error");
  $("totp-stop-password").value = $("totp-stop-code").value = "";
  status("Two-factor login is off. Your other sessions have been signed out.", "ok");
  await showProfile();
  await showSessions();
});

$("everywhere").addEventListener("click", async () => {
  await call("POST", "api/logout-all");
  signIn();
});

$("delete-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await call("DELETE", "api/user", { password: $("delete-password").value });
  if (result.status !== 200) return status(problem(result), "error");
  location.replace("login");
});

/** Connected sign-ins: each provider, connect or disconnect. */
async function showUpstreams() {
  const result = await call("GET", "api/user/upstreams");
  if (result.status === 401) return signIn();
  if (result.status !== 200) return;
  const providers = result.json.data.providers;
  $("upstreams-section").classList.toggle("hidden", providers.length === 0);
  $("upstreams").replaceChildren(...providers.map(upstreamItem));
}

function upstreamItem(provider) {
  const item = document.createElement("li");
  const what = document.createElement("span");
  const name = provider.label.replace(/^Sign in with /, "");
  if (provider.connected) {
    const used = provider.last_used_at ? `last used ${when(provider.last_used_at)}` : "not used yet";
    what.textContent = `${name}: connected${provider.email ? ` as ${provider.email}` : ""}, ${used}`;
    const off = smallButton("Disconnect", `Disconnect ${name}`);
    off.addEventListener("click", async () => {
      const done = await call("DELETE", `api/user/upstreams/${provider.name}`);
      await showUpstreams();
      status(done.status === 200 ? `${name} no longer signs you in.` : problem(done), done.status === 200 ? "ok" : "error");
    });
    item.append(what, " ", off);
  } else {
    what.textContent = `${name}: not connected`;
    const on = smallButton("Connect", `Connect ${name}`);
    const connect = async () => {
      const started = await call("POST", `api/user/upstreams/${provider.name}`);
      if (started.status === 401) return signIn();
      if (needsProof(started, connect)) return;
      if (started.status !== 200) return status(problem(started), "error");
      status(`Taking you to ${name}…`);
      location.assign(started.json.data.location);
    };
    on.addEventListener("click", connect);
    item.append(what, " ", on);
  }
  return item;
}

// Back from connecting a provider: what happened.
const back = new URLSearchParams(location.search);
if (back.get("connected")) status("Connected. You can sign in with it now.", "ok");
const connectWords = {
  linked_elsewhere: "That account elsewhere is already connected to another account here.",
  not_signed_in: "You were signed out meanwhile, so nothing was connected. Please try again.",
  unavailable: "The other service could not be reached. Try again shortly.",
  cancelled: "Connecting was cancelled.",
};
if (back.get("upstream_error")) {
  status(connectWords[back.get("upstream_error")] || "Nothing was connected. Please try again.", "error");
}

showProfile()
  .then(showPasskeys)
  .then(showUpstreams)
  .then(showSessions)
  .catch(() => status("The account service cannot be reached. Try again shortly.", "error"));
