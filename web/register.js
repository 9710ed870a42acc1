// The registration page: an open sign-up, or joining with an invitation
// (`/register?invite=TOKEN`). It talks to this server's JSON API from the
// same origin; the invitation's token goes in the body, and is taken out
// of the address bar at once so it stays out of history and screenshots.

const mode = document.body.dataset.registration;
const invite = new URLSearchParams(location.search).get("invite");
if (invite) history.replaceState(null, "", location.pathname);

const fields = ["username", "email", "password"];

/** Each field's problem next to it, announced with the field. */
function showProblems(problems) {
  for (const name of fields) {
    const input = $(name);
    const message = problems[name] ? `The ${name} ${problems[name]}.` : "";
    $(`${name}-error`).textContent = message;
    if (message) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
  }
  const first = fields.find((name) => problems[name]);
  if (first) $(first).focus();
}

function start() {
  if (mode === "closed") return $("closed").classList.remove("hidden");
  if (mode === "invite" && !invite) return $("by-invitation").classList.remove("hidden");
  $("invited").classList.toggle("hidden", !invite);
  $("register").classList.remove("hidden");
  $("username").focus();
}

$("register").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = Object.fromEntries(fields.map((name) => [name, $(name).value]));
  const missing = Object.fromEntries(fields.filter((name) => !body[name]).map((name) => [name, "is required"]));
  showProblems(missing);
  if (Object.keys(missing).length) return status("Fill in every field.", "error");
  if (invite) body.invite = invite;
  $("submit").disabled = true;
  status("Creating your account…");
  const result = await call("POST", "api/register", body);
  $("submit").disabled = false;
  if (result.status === 201) {
    status("");
    $("register").classList.add("hidden");
    $("invited").classList.add("hidden");
    $("who").textContent = result.json.data.user.username;
    $("done").classList.remove("hidden");
    $("sign-in").focus();
    return;
  }
  const error = result.json.error || {};
  showProblems(error.fields || {});
  if (error.code === "username_taken") showProblems({ username: "is taken: choose another" });
  if (error.code === "email_taken") showProblems({ email: "already has an account: sign in instead" });
  status(error.message || "Something went wrong.", "error");
});

start();
