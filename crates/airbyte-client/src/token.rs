//! Bearer tokens that cannot leak by accident.
//!
//! [`BearerToken`] wraps the secret in `secrecy::SecretString`: `Debug` and `Display` print a
//! redaction, and the only way to the text is the explicit [`BearerToken::expose`]. The JWT payload is
//! read (never verified: the server verifies) for the two facts the operator needs without an extra
//! call: when the token expires and which workspace it is scoped to.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The JWT claim that names the workspace a scoped token may act on.
pub const WORKSPACE_SCOPE_CLAIM: &str = "io.airbyte.auth.workspace_scope";

/// A bearer token. Cloning is cheap enough (tokens are small); the text is zeroized on drop.
#[derive(Clone)]
pub struct BearerToken(SecretString);

impl BearerToken {
    pub fn new(token: impl Into<String>) -> Self {
        BearerToken(SecretString::from(token.into()))
    }

    /// The token text, for an `Authorization` header or a Secret's data. Never log the result.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The claims the operator reads from a JWT, or `None` when the token is not a readable JWT.
    pub fn claims(&self) -> Option<JwtClaims> {
        let payload = self.expose().split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Expiry from the JWT `exp` claim.
    pub fn expires_at(&self) -> Option<SystemTime> {
        let exp = self.claims()?.exp?;
        u64::try_from(exp)
            .ok()
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
    }

    pub fn ct_eq(&self, other: &BearerToken) -> bool {
        let (a, b) = (self.expose().as_bytes(), other.expose().as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken([REDACTED])")
    }
}

impl fmt::Display for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// The subset of JWT claims the operator uses. Unknown claims are ignored.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct JwtClaims {
    #[serde(default)]
    pub exp: Option<i64>,
    #[serde(default)]
    pub iat: Option<i64>,
    #[serde(default, rename = "io.airbyte.auth.workspace_scope")]
    pub workspace_scope: Option<WorkspaceScope>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct WorkspaceScope {
    #[serde(rename = "workspaceId", alias = "workspace_id")]
    pub workspace_id: String,
}

/// A scoped token together with what the operator learnt about it.
#[derive(Clone, Debug)]
pub struct ScopedToken {
    pub token: BearerToken,
    pub workspace_id: String,
    pub organization_id: String,
    pub expires_at: SystemTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: serde_json::Value) -> String {
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            enc.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
            enc.encode(payload.to_string())
        )
    }

    #[test]
    fn debug_and_display_never_show_the_token() {
        let token = BearerToken::new("super-secret-value");
        assert!(!format!("{token:?}").contains("super-secret"));
        assert!(!format!("{token}").contains("super-secret"));
        assert_eq!(token.expose(), "super-secret-value");
    }

    #[test]
    fn reads_expiry_and_workspace_scope_from_a_jwt() {
        let token = BearerToken::new(jwt(serde_json::json!({
            "exp": 2_000_000_000,
            "io.airbyte.auth.workspace_scope": {"workspaceId": "ws-1"}
        })));
        assert_eq!(
            token.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(2_000_000_000))
        );
        assert_eq!(
            token
                .claims()
                .unwrap()
                .workspace_scope
                .unwrap()
                .workspace_id,
            "ws-1"
        );
    }

    #[test]
    fn a_token_that_is_not_a_jwt_has_no_claims() {
        for text in ["", "opaque", "a.b.c", "a.!!!.c"] {
            assert!(BearerToken::new(text).claims().is_none(), "{text}");
        }
    }

    #[test]
    fn constant_time_comparison() {
        assert!(BearerToken::new("abc").ct_eq(&BearerToken::new("abc")));
        assert!(!BearerToken::new("abc").ct_eq(&BearerToken::new("abd")));
        assert!(!BearerToken::new("abc").ct_eq(&BearerToken::new("abcd")));
    }
}
