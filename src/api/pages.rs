//! The built-in sign-in page: `GET /login` (also `/reset-password` and
//! `/verify-email`, which open mailed links), `/login.css`, `/login.js`.
//!
//! Three files of their own, built into the binary, with no inline script
//! and nothing from elsewhere, under a Content-Security-Policy that allows
//! only them and calls to this origin (OWASP Content Security Policy Cheat
//! Sheet): an injected script has nowhere to come from and nowhere to send
//! what it reads.

use crate::api::app::{App, Context, Document, Reply};
use crate::api::doc::{Answer, Doc};
use crate::api::error::ApiError;
use crate::api::handler::Anyone;
use auth_core::support::config::Registration;
use auth_core::support::text::html_escape;
use serde_json::{Value, json};

const HTML: &str = include_str!("../../web/login.html");
const CSS: &str = include_str!("../../web/login.css");
/// Each page's script is the shared part (`web/common.js`) and its own, as
/// one file: one request, and what they share is written once.
const SIGN_IN_JS: &str = concat!(
    include_str!("../../web/common.js"),
    include_str!("../../web/login.js")
);
const ACCOUNT_HTML: &str = include_str!("../../web/account.html");
/// The sign-in page's styles, then the account page's own: one file, so
/// what the two share is written once.
const ACCOUNT_CSS: &str = concat!(
    include_str!("../../web/login.css"),
    include_str!("../../web/account.css")
);
const ACCOUNT_JS: &str = concat!(
    include_str!("../../web/common.js"),
    include_str!("../../web/account.js")
);
const REGISTER_HTML: &str = include_str!("../../web/register.html");
const REGISTER_JS: &str = concat!(
    include_str!("../../web/common.js"),
    include_str!("../../web/register.js")
);
const ADMIN_HTML: &str = include_str!("../../web/admin.html");
/// The account page's styles, then the admin page's own.
const ADMIN_CSS: &str = concat!(
    include_str!("../../web/login.css"),
    include_str!("../../web/account.css"),
    include_str!("../../web/admin.css")
);
const ADMIN_JS: &str = concat!(
    include_str!("../../web/common.js"),
    include_str!("../../web/admin.js")
);

/// The pages' policy: their own script and style, calls to this origin,
/// images only inline (the QR code), no forms elsewhere, no framing, and no
/// `<base>` (an injected one would repoint every relative URL; CSP Level 3,
/// `base-uri`, which `default-src` does not cover).
pub const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A page's HTML with what it is told about the server, each escaped for
/// HTML: the site's name, whether mail is on (for the "forgot your
/// password?" link), where "home" is, and the origins passkeys work from
/// (`PASSKEY_ORIGINS`: the page offers them only when it is at one).
fn fill(page: &str, app: &App) -> String {
    let settings = app.settings();
    page.replace("SITE_NAME", &html_escape(&settings.site_name))
        .replace(
            "MAIL_FLAG",
            if app.accounts.mailer().enabled() {
                "on"
            } else {
                "off"
            },
        )
        .replace(
            "HOME_URL",
            &html_escape(settings.home_url.as_deref().unwrap_or("")),
        )
        .replace(
            "PASSKEY_ORIGINS",
            &html_escape(&settings.passkey_origins.join(" ")),
        )
        .replace(
            "REGISTRATION_MODE",
            match settings.registration {
                Registration::Open => "open",
                Registration::Invite => "invite",
                Registration::Closed => "closed",
            },
        )
}

fn file(content_type: &'static str, body: &[u8]) -> Reply {
    Reply::document(Document {
        content_type,
        body: body.to_vec(),
        content_security_policy: Some(PAGE_POLICY),
    })
}

/// A page or one of its files (`answers`: which), under the page's policy.
const fn page(id: &'static str, summary: &'static str, answers: &'static [Answer]) -> Doc {
    Doc {
        id,
        tag: "sign-in page",
        summary,
        answers,
        ..Doc::PLAIN
    }
}

const fn file_answer(media: &'static str) -> Answer {
    Answer::Other {
        status: 200,
        says: "The file, under the page's Content-Security-Policy.",
        content: Some((media, text)),
        headers: &[],
    }
}

fn text() -> Value {
    json!({ "type": "string" })
}

const HTML_TYPE: &[Answer] = &[file_answer("text/html; charset=utf-8")];
const CSS_TYPE: &[Answer] = &[file_answer("text/css; charset=utf-8")];
const SCRIPT_TYPE: &[Answer] = &[file_answer("text/javascript; charset=utf-8")];

pub const SIGN_IN: Doc = page("signInPage", "The built-in sign-in page", HTML_TYPE);
pub const RESET_PASSWORD: Doc = page(
    "resetPasswordPage",
    "The sign-in page, opening a mailed reset link (token in the fragment)",
    HTML_TYPE,
);
pub const VERIFY_EMAIL: Doc = page(
    "verifyEmailPage",
    "The sign-in page, opening a mailed verification link (token in the fragment)",
    HTML_TYPE,
);
pub const STYLE: Doc = page("signInStyle", "The sign-in page's style sheet", CSS_TYPE);
pub const SCRIPT: Doc = page("signInScript", "The sign-in page's script", SCRIPT_TYPE);
pub const ACCOUNT: Doc = page(
    "accountPage",
    "The account page (HTML): profile, password, two-factor login, sessions, deletion",
    HTML_TYPE,
);
pub const ACCOUNT_STYLE: Doc = page("accountStyle", "The account page's stylesheet", CSS_TYPE);
pub const ACCOUNT_SCRIPT: Doc = page("accountScript", "The account page's script", SCRIPT_TYPE);
pub const REGISTER: Doc = page(
    "registerPage",
    "The registration page (HTML): an open sign-up, or joining with an invitation (?invite=TOKEN)",
    HTML_TYPE,
);
pub const REGISTER_SCRIPT: Doc = page(
    "registerScript",
    "The registration page's script",
    SCRIPT_TYPE,
);
pub const ADMIN: Doc = page(
    "adminPage",
    "The admin page (HTML): people, invitations, apps, the audit trail",
    HTML_TYPE,
);
pub const ADMIN_STYLE: Doc = page("adminStyle", "The admin page's stylesheet", CSS_TYPE);
pub const ADMIN_SCRIPT: Doc = page("adminScript", "The admin page's script", SCRIPT_TYPE);

pub fn sign_in(app: &App, _: &Context, _: Anyone) -> Result<Reply, ApiError> {
    Ok(file("text/html; charset=utf-8", fill(HTML, app).as_bytes()))
}

/// `GET /account`: the page; it asks the API who is signed in and sends a
/// signed-out browser to the sign-in page with `rd` back to itself.
pub fn account(app: &App, _: &Context, _: Anyone) -> Result<Reply, ApiError> {
    Ok(file(
        "text/html; charset=utf-8",
        fill(ACCOUNT_HTML, app).as_bytes(),
    ))
}

pub fn account_style(_: &App, _: &Context, _: Anyone) -> Result<Reply, ApiError> {
    Ok(file("text/css; charset=utf-8", ACCOUNT_CSS.as_bytes()))
}

pub fn account_script(_: &App, _: &Context, _: Anyone) -> Result<Reply, ApiError> {
    Ok(file(
        "text/javascript; charset=utf-8",
        ACCOUNT_JS.as_bytes(),
    ))
}

pub fn style(_: &App, _: &Context, _: Anyone) -> Result<Reply, ApiError> {
    Ok(file("text/css; charset=utf-8", CSS.as_bytes()))
}

pub fn script(_: &App, _: &Context, _: Anyone) -> Result<Reply, ApiError> {
    Ok(file(
        "text/javascript; charset=utf-8",
        SIGN_IN_JS.as_bytes(),
    ))
}

/// `GET /register`: the page; what it offers follows `REGISTRATION`, and
/// the server decides again when the form is sent.
pub fn register(app: &App, _: &Context, _: Anyone) -> Result<Reply, ApiError> {
    Ok(file(
        "text/html; charset=utf-8",
        fill(REGISTER_HTML, app).as_bytes(),
    ))
}

pub fn register_script(_: &App, _: &Context, _: Anyone) -> Result<Reply, ApiError> {
    Ok(file(
        "text/javascript; charset=utf-8",
        REGISTER_JS.as_bytes(),
    ))
}

/// `GET /admin`: the page, for anyone; its script asks the API, which
/// answers only an administrator with a second factor.
pub fn admin(app: &App, _: &Context, _: Anyone) -> Result<Reply, ApiError> {
    Ok(file(
        "text/html; charset=utf-8",
        fill(ADMIN_HTML, app).as_bytes(),
    ))
}

pub fn admin_style(_: &App, _: &Context, _: Anyone) -> Result<Reply, ApiError> {
    Ok(file("text/css; charset=utf-8", ADMIN_CSS.as_bytes()))
}

pub fn admin_script(_: &App, _: &Context, _: Anyone) -> Result<Reply, ApiError> {
    Ok(file("text/javascript; charset=utf-8", ADMIN_JS.as_bytes()))
}
