// The built-in sign-in page. It talks to this server's JSON API from the
// same origin (no CORS, no inline script: the page's Content-Security-Policy
// allows only this file). After signing in it goes to `rd` only when the
// server approved it (data.redirect), never to a URL it did not check.
// API paths are relative ("api/login"), so the page works at /login and
// under a proxy's prefix such as /auth/login alike.

// Where "home" is without an rd: HOME_URL, else PUBLIC_URL's origin.
const home = document.body.dataset.home;
const params = new URLSearchParams(location.search);
const wanted = params.get("rd");
const page = location.pathname.split("/").pop();
const linkToken = new URLSearchParams(location.hash.slice(1)).get("token");
let pendingLogin = null;
let approved = null;
// The browser's passkey autofill (conditional mediation), waiting in the
// username field; a click on the passkey button cancels it and asks outright.
let autofill = null;

/** The heading and the tab's title, which name the site. */
function title(text) {
  $("title").textContent = text;
  document.title = text;
}

function showOnly(id) {
  for (const section of ["sign-in", "forgot", "reset", "step-up", "upstream-code", "signed-in"]) {
    $(section).classList.toggle("hidden", section !== id);
  }
}

/** The server's message for a failed call, with the fields it names. */
function problem(result) {
  const error = result.json.error || {};
  const fields = error.fields ? " " + Object.entries(error.fields).map(([f, p]) => `${f.replace("_", " ")} ${p}.`).join(" ") : "";
  return (error.message || "Something went wrong.") + fields;
}

function busy(form, on) {
  for (const button of form.querySelectorAll("button")) button.disabled = on;
}

async function showSignedIn(user) {
  $("who").textContent = user.username;
  showOnly("signed-in");
  title(`Signed in to ${site}`);
  let access = null;
  if (wanted) {
    // Ask the server whether `rd` may be followed (the same check a login
    // makes) and what the access rules say about this user there.
    const check = await call("POST", "api/auth/redirect", { redirect: wanted });
    approved = check.status === 200 ? check.json.data.redirect : null;
    access = check.status === 200 ? check.json.data.access : null;
    if (access === "forbidden") {
      const groups = check.json.data.groups;
      const forWhom = groups && groups.length ? `this app is for ${groups.join(" or ")}` : "this app is not open to you";
      status(`You are signed in as ${user.username}, but ${forWhom}.`, "error");
      approved = null;
    } else if (access === "step_up") {
      showOnly("step-up");
      title(`Confirm it is you`);
      status(user.totp_enabled ? "This app asks for a code from your authenticator app." :
        "This app asks for two-factor login, which is not on for your account yet.", user.totp_enabled ? "" : "error");
      if (user.totp_enabled) { $("step-up-code").focus(); return; }
      showOnly("signed-in");
      approved = null;
    }
  }
  $("continue").classList.toggle("hidden", !approved);
  // Without a way back, a way home.
  if (home) $("home").href = home;
  $("home").classList.toggle("hidden", Boolean(approved) || !home);
}

/** A sign-in answered 200 (password or passkey): on to `rd` if approved. */
async function signedIn(result) {
  pendingLogin = null;
  if (autofill) autofill.abort();
  const next = result.json.data.redirect;
  if (next) {
    status("Signed in. Taking you back…", "ok");
    location.assign(next);
    return;
  }
  status(wanted ? "Signed in. That address is not one this server sends people to." : "Signed in.", wanted ? "error" : "ok");
  await showSignedIn(result.json.data.user);
}

async function signIn(body) {
  const form = $("sign-in");
  busy(form, true);
  const result = await call("POST", "api/login", body);
  busy(form, false);
  if (result.status === 200) {
    await signedIn(result);
  } else if (result.json.error && result.json.error.code === "totp_required") {
    pendingLogin = body;
    $("code-field").classList.remove("hidden");
    $("code").required = true;
    $("code").focus();
    status("Enter the code from your authenticator app.");
  } else {
    status(problem(result), "error");
    const field = result.json.error && result.json.error.code === "invalid_totp" ? $("code") : $("password");
    field.setAttribute("aria-invalid", "true");
    field.focus();
  }
}

/** Signs in with a passkey: `mediation` "conditional" waits for the
 *  person to pick one from the username field's suggestions. */
async function passkeySignIn(mediation) {
  if (autofill) autofill.abort();
  const controller = new AbortController();
  if (mediation === "conditional") autofill = controller;
  const options = await call("POST", "api/login/passkey/options", {});
  if (options.status !== 200) {
    if (mediation !== "conditional") status(problem(options), "error");
    return;
  }
  let credential;
  try {
    credential = await navigator.credentials.get({
      publicKey: passkeyOptions(options.json.data.publicKey), mediation, signal: controller.signal,
    });
  } catch (error) {
    if (error.name !== "AbortError" && mediation !== "conditional") {
      status("No passkey was used. Try again, or sign in with your password.", "error");
    }
    return;
  }
  if (autofill === controller) autofill = null;
  const body = { credential: credentialJSON(credential), remember: $("remember").checked };
  if (wanted) body.redirect = wanted;
  busy($("sign-in"), true);
  const result = await call("POST", "api/login/passkey", body);
  busy($("sign-in"), false);
  if (result.status === 200) await signedIn(result);
  else status(problem(result), "error");
}

$("passkey").addEventListener("click", () => passkeySignIn("required").catch(() =>
  status("The sign-in service cannot be reached. Try again shortly.", "error")));

// A passkey session is a second factor of its own: signing in again with
// one answers a rule that wants two.
$("step-up-passkey").addEventListener("click", () => passkeySignIn("required").catch(() =>
  status("The sign-in service cannot be reached. Try again shortly.", "error")));

$("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  for (const input of event.target.querySelectorAll("input")) input.removeAttribute("aria-invalid");
  const identifier = $("identifier").value.trim();
  const password = $("password").value;
  if (!identifier || !password) {
    status("Enter your username or email and your password.", "error");
    (identifier ? $("password") : $("identifier")).focus();
    return;
  }
  const body = pendingLogin ? { ...pendingLogin } : { username: identifier, password, remember: $("remember").checked };
  if (wanted) body.redirect = wanted;
  if (pendingLogin) {
    const code = $("code").value.trim();
    if (/^[0-9]{6}$/.test(code)) body.totp_code = code; else body.recovery_code = code;
  }
  await signIn(body);
});

$("show-forgot").addEventListener("click", (event) => {
  event.preventDefault();
  showOnly("forgot");
  title(`Reset your ${site} password`);
  status("");
  $("forgot-email").focus();
});

$("back-to-sign-in").addEventListener("click", (event) => {
  event.preventDefault();
  showOnly("sign-in");
  title(`Sign in to ${site}`);
  status("");
});

$("forgot").addEventListener("submit", async (event) => {
  event.preventDefault();
  // rd rides along: the mailed link brings the browser back to this page
  // with it, and after the reset and sign-in, on to where it was going.
  const body = { email: $("forgot-email").value.trim() };
  if (wanted) body.redirect = wanted;
  const result = await call("POST", "api/password/forgot", body);
  status(result.status === 202 ? result.json.message : problem(result), result.status === 202 ? "ok" : "error");
});

$("reset").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await call("POST", "api/password/reset", { token: linkToken, new_password: $("new-password").value });
  if (result.status === 200) {
    history.replaceState(null, "", "login" + location.search);
    showOnly("sign-in");
    title(`Sign in to ${site}`);
    status("Your password is changed. Sign in with the new one.", "ok");
    $("identifier").focus();
  } else {
    status(problem(result), "error");
    $("new-password").setAttribute("aria-invalid", "true");
  }
});

$("step-up").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await call("POST", "api/auth/step-up", { code: $("step-up-code").value.trim() });
  if (result.status === 200 && approved) {
    status("Thank you. Taking you back…", "ok");
    location.assign(approved);
  } else if (result.status === 200) {
    status("Thank you.", "ok");
    showOnly("signed-in");
  } else {
    status(problem(result), "error");
    $("step-up-code").setAttribute("aria-invalid", "true");
    $("step-up-code").focus();
  }
});

$("continue").addEventListener("click", () => { if (approved) location.assign(approved); });

$("sign-out").addEventListener("click", async () => {
  await call("POST", "api/logout");
  if (autofill) autofill.abort();
  showOnly("sign-in");
  title(`Sign in to ${site}`);
  status("You are signed out.", "ok");
  $("identifier").focus();
});

// Signing in through another service (an upstream OpenID provider): what
// the server's upstream_error codes mean, in words a person can act on.
const upstreamWords = {
  unknown_provider: "That way of signing in is not available. Sign in another way.",
  unavailable: "The other service could not be reached. Try again shortly, or sign in another way.",
  state: "That sign-in took too long, or began in another browser. Please try again.",
  cancelled: "The sign-in at the other service was cancelled.",
  rejected: "The other service's answer could not be trusted, so you are not signed in. Please try again.",
  no_account: "No account here is connected to that sign-in. Sign in with your password, then connect it on your account page.",
  email_unverified: "That service has not confirmed your email address, so it cannot be matched to an account here.",
  domain: "Accounts with that email domain cannot sign in here.",
  registration_closed: "There is no account here for you yet, and new accounts need an invitation.",
  email_taken: "An account with that email address exists. Sign in to it, then connect this sign-in on your account page.",
  disabled: "This account is disabled.",
  email_not_verified: "Confirm your email address first: look for our message.",
};

/** One button (a link: it navigates) per provider, carrying rd along. */
async function showUpstreams() {
  const result = await call("GET", "api/upstreams");
  if (result.status !== 200) return;
  const links = result.json.data.providers.map((provider) => {
    const link = document.createElement("a");
    link.className = "button secondary";
    link.textContent = provider.label;
    link.href = wanted ? `${provider.url}?rd=${encodeURIComponent(wanted)}` : provider.url;
    return link;
  });
  $("upstreams").replaceChildren(...links);
  $("upstreams").classList.toggle("hidden", links.length === 0);
}

$("upstream-code").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("upstream-code-input");
  const result = await call("POST", "api/login/upstream", { code: input.value.trim() });
  if (result.status === 200) return signedIn(result);
  if (result.status === 401) {
    showOnly("sign-in");
    title(`Sign in to ${site}`);
    return status("That sign-in has expired. Please start again.", "error");
  }
  status(problem(result), "error");
  input.setAttribute("aria-invalid", "true");
  input.focus();
});

async function start() {
  showUpstreams().catch(() => {});
  const failed = params.get("upstream_error");
  if (failed) status(upstreamWords[failed] || "You could not be signed in that way.", "error");
  if (params.get("upstream_code")) {
    showOnly("upstream-code");
    title("Enter your code");
    status("One more step: your account has two-factor login.");
    $("upstream-code-input").focus();
    return;
  }
  if (page === "reset-password" && linkToken) {
    showOnly("reset");
    title(`Choose a new ${site} password`);
    $("new-password").focus();
    return;
  }
  if (page === "verify-email" && linkToken) {
    const result = await call("POST", "api/email/verify", { token: linkToken });
    history.replaceState(null, "", "login" + location.search);
    status(result.status === 200 ? "Your email address is confirmed." : problem(result), result.status === 200 ? "ok" : "error");
  }
  const me = await call("GET", "api/user");
  // An app asked for a new sign-in (OpenID Connect prompt=login, or a
  // sign-in older than it accepts): the form, even to a signed-in browser.
  if (me.status === 200 && params.get("prompt") === "login") {
    $("identifier").value = me.json.data.user.username;
    status("The app asks you to sign in again.", "");
    $("password").focus();
    return;
  }
  if (me.status === 200) return showSignedIn(me.json.data.user);
  $("identifier").focus();
  if (passkeysAvailable && PublicKeyCredential.isConditionalMediationAvailable &&
      await PublicKeyCredential.isConditionalMediationAvailable()) {
    passkeySignIn("conditional").catch(() => {});
  }
}

start().catch(() => status("The sign-in service cannot be reached. Try again shortly.", "error"));
