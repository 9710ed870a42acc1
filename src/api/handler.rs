//! What a handler's signature promises, checked before it runs: its third
//! argument says who may call it ([`Anyone`], a signed-in caller, a
//! caller with a [`Fresh`] proof), and a fourth, if it has one, the type
//! of the request body it reads ([`Body`]). The route table holds the
//! handler wrapped in [`Call`] or [`CallWith`], which read those types, so
//! what the pipeline checks, what openapi.json says and what the handler
//! gets cannot disagree.

use serde_json::Value;

use crate::api::app::{App, Context, Reply};
use crate::api::common::signed_in;
use crate::api::error::ApiError;
use crate::api::fields::{Body, RequestBody};
use auth_core::accounts::check::SignedIn;
use auth_core::accounts::reauth;

/// What an endpoint needs of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    /// A live session (else 401 `unauthenticated`).
    Session,
    /// A live session that proved itself a moment ago (else 403
    /// `reauthentication_required`).
    FreshProof,
    /// A member of `ADMIN_GROUP` (else 403 `forbidden`) whose session was
    /// opened with a second factor (else 403 `second_factor_required`).
    Admin,
    /// An administrator, with a proof a moment ago: for what cannot be
    /// undone (deleting an account, removing an app).
    FreshAdmin,
}

impl Needs {
    pub fn session(self) -> bool {
        self != Needs::Nothing
    }

    pub fn fresh_proof(self) -> bool {
        matches!(self, Needs::FreshProof | Needs::FreshAdmin)
    }

    pub fn admin(self) -> bool {
        matches!(self, Needs::Admin | Needs::FreshAdmin)
    }
}

/// Who may call an endpoint: the type of a handler's third argument.
pub trait Caller: Sized {
    const NEEDS: Needs;
    fn check(app: &App, cx: &Context) -> Result<Self, ApiError>;
}

/// Anyone at all: the handler decides for itself (signing in, a page).
pub struct Anyone;

impl Caller for Anyone {
    const NEEDS: Needs = Needs::Nothing;
    fn check(_: &App, _: &Context) -> Result<Anyone, ApiError> {
        Ok(Anyone)
    }
}

impl Caller for SignedIn {
    const NEEDS: Needs = Needs::Session;
    fn check(app: &App, cx: &Context) -> Result<SignedIn, ApiError> {
        signed_in(app, cx)
    }
}

/// A signed-in caller who proved who they are a moment ago (a password or
/// a code, `accounts::reauth`): for what adds a credential that outlives a
/// password change (NIST SP 800-63B §6.1.2.1).
pub struct Fresh(pub SignedIn);

impl Caller for Fresh {
    const NEEDS: Needs = Needs::FreshProof;
    fn check(app: &App, cx: &Context) -> Result<Fresh, ApiError> {
        let me = signed_in(app, cx)?;
        if !reauth::is_fresh(&app.accounts, &me, cx.now) {
            return Err(ApiError::ReauthenticationRequired);
        }
        Ok(Fresh(me))
    }
}

/// An administrator: a member of `ADMIN_GROUP` whose session was opened
/// with a second factor. What an administrator can do reaches every
/// account, so the password alone is not enough (OWASP ASVS 5.0 V6.3.3:
/// multi-factor for administrative access; NIST SP 800-63B AAL2).
pub struct Admin(pub SignedIn);

impl Admin {
    /// The account the caller is signed in to.
    pub fn id(&self) -> i64 {
        self.0.user.id
    }
}

impl Caller for Admin {
    const NEEDS: Needs = Needs::Admin;
    fn check(app: &App, cx: &Context) -> Result<Admin, ApiError> {
        let me = signed_in(app, cx)?;
        if !me.user.groups.contains(&app.settings().admin_group) {
            return Err(ApiError::AdminOnly);
        }
        if !me.session.opened_with.second_factor() {
            return Err(ApiError::SecondFactorRequired);
        }
        Ok(Admin(me))
    }
}

/// An administrator who proved who they are a moment ago ("sudo mode"),
/// for what cannot be undone.
pub struct FreshAdmin(pub Admin);

impl Caller for FreshAdmin {
    const NEEDS: Needs = Needs::FreshAdmin;
    fn check(app: &App, cx: &Context) -> Result<FreshAdmin, ApiError> {
        let admin = Admin::check(app, cx)?;
        if !reauth::is_fresh(&app.accounts, &admin.0, cx.now) {
            return Err(ApiError::ReauthenticationRequired);
        }
        Ok(FreshAdmin(admin))
    }
}

/// A handler as the route table holds it.
pub trait Handler: Sync {
    fn call(&self, app: &App, cx: &Context) -> Result<Reply, ApiError>;
    fn needs(&self) -> Needs;
    /// The request body's type: its schema name and schema.
    fn request(&self) -> Option<(&'static str, Value)>;
}

/// A handler that reads no body.
pub struct Call<W>(pub fn(&App, &Context, W) -> Result<Reply, ApiError>);

/// A handler that reads a body of type `B`.
pub struct CallWith<W, B>(pub fn(&App, &Context, W, Body<B>) -> Result<Reply, ApiError>);

impl<W: Caller> Handler for Call<W> {
    fn call(&self, app: &App, cx: &Context) -> Result<Reply, ApiError> {
        (self.0)(app, cx, W::check(app, cx)?)
    }
    fn needs(&self) -> Needs {
        W::NEEDS
    }
    fn request(&self) -> Option<(&'static str, Value)> {
        None
    }
}

impl<W: Caller, B: RequestBody> Handler for CallWith<W, B> {
    fn call(&self, app: &App, cx: &Context) -> Result<Reply, ApiError> {
        let caller = W::check(app, cx)?;
        (self.0)(app, cx, caller, Body::new(&cx.request.body))
    }
    fn needs(&self) -> Needs {
        W::NEEDS
    }
    fn request(&self) -> Option<(&'static str, Value)> {
        Some((B::NAME, B::schema()))
    }
}
