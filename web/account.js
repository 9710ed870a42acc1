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

async function showProfile() {
  const me = await call("GET", "api/dashboard");
  if (me.status === 401) return signIn();
  if (me.status !== 200) return status(problem(me), "error");
  user = me.json.data.user;
  $("username").textContent = user.username;
  $("email").textContent = user.email;
  $("verified").textContent = user.email_verified ? "Yes" : "Not yet";
  $("resend").classList.toggle("hidden", user.email_verified || !mailOn);
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
      const end = document.createElement("button");
      end.type = "button";
      end.className = "secondary small";
      end.textContent = "Sign out";
      end.setAttribute("aria-label", `Sign out ${device(session.user_agent)}, ${session.ip}`);
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

showProfile()
  .then(showSessions)
  .catch(() => status("The account service cannot be reached. Try again shortly.", "error"));
