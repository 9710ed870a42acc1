//! What an ID token and userinfo say of the account: `sub` and the claims
//! of each granted scope.

use serde_json::{Value, json};

use crate::accounts::oidc::new_secret;
use crate::accounts::oidc::requests::Scope;
use crate::accounts::{Accounts, Trouble};
use crate::auth::sessions::OpenedWith;
use crate::storage::User;

/// RFC 8176 authentication method references for how the session opened.
/// `fed` (as Microsoft's and others' providers write it) for a sign-in
/// an upstream provider vouched for.
pub(crate) fn amr(opened_with: &OpenedWith) -> &'static str {
    match opened_with {
        OpenedWith::Password => "pwd",
        OpenedWith::PasswordTotp | OpenedWith::RecoveryCode => "pwd otp mfa",
        OpenedWith::Passkey => "hwk user mfa",
        OpenedWith::Upstream { totp: false, .. } => "fed",
        OpenedWith::Upstream { totp: true, .. } => "fed otp mfa",
    }
}

/// `sub` and the claims of each granted scope (OpenID Connect Core §5.4):
/// `profile` the username as `preferred_username` and `name`; `email` the
/// address only once verified (as forward auth); `groups` the groups.
pub fn claims(accounts: &Accounts, user: &User, scope: Scope) -> Result<Value, Trouble> {
    // Random, made at the account's first sign-in to an app and never
    // reassigned (OpenID Connect Core §8): no internal id leaks.
    let gone = || Trouble::Internal("the account vanished".into());
    let sub = match &user.oidc_subject {
        Some(sub) => sub.clone(),
        None => {
            let (fresh, _) = new_secret()?;
            accounts
                .db
                .set_oidc_subject(user.id, &fresh)?
                .ok_or_else(gone)?
        }
    };
    let mut claims = json!({ "sub": sub });
    if scope.contains("profile") {
        claims["preferred_username"] = json!(user.username);
        claims["name"] = json!(user.username);
    }
    if scope.contains("email") {
        if user.email_verified {
            claims["email"] = json!(user.email);
        }
        claims["email_verified"] = json!(user.email_verified);
    }
    if scope.contains("groups") {
        claims["groups"] = json!(user.groups);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scope_adds_its_claims_and_sub_stays() {
        let accounts = Accounts::for_tests(&[]);
        let user = accounts.user_for_tests("alice");
        let bare = claims(&accounts, &user, Scope::parse("openid")).unwrap();
        let all = claims(
            &accounts,
            &user,
            Scope::parse("openid profile email groups"),
        )
        .unwrap();
        assert_eq!(bare["sub"], all["sub"], "sub is the account's, once made");
        assert!(bare.get("preferred_username").is_none());
        assert_eq!(all["preferred_username"], "alice");
        // Not verified: no address, and says so.
        assert!(all.get("email").is_none());
        assert_eq!(all["email_verified"], false);
        assert_eq!(all["groups"], json!([]));
    }

    #[test]
    fn a_second_factor_is_in_the_method_references() {
        assert_eq!(amr(&OpenedWith::Password), "pwd");
        assert!(amr(&OpenedWith::PasswordTotp).contains("mfa"));
        assert!(amr(&OpenedWith::Passkey).contains("mfa"));
    }
}
