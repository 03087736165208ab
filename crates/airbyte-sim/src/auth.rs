//! Tokens of the simulated API: real HS256 JWTs with `iat`, `exp`, the organization and, for scoped
//! tokens, the workspace scope claim, signed with a key made when the simulator starts.
//! "Revoke all tokens" bumps a generation number that every token carries.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub const APPLICATION_TOKEN_TYPE: &str = "io.airbyte.auth.application_v1";
pub const SCOPED_TOKEN_TYPE: &str = "io.airbyte.auth.embedded_v1";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
    pub typ: String,
    #[serde(rename = "io.airbyte.auth.organization_id")]
    pub organization_id: String,
    #[serde(
        rename = "io.airbyte.auth.workspace_scope",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub workspace_scope: Option<WorkspaceScope>,
    /// Revocation generation: a token of an older generation is refused.
    #[serde(rename = "sim_gen")]
    pub generation: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkspaceScope {
    #[serde(rename = "workspaceId")]
    pub workspace_id: String,
}

/// Who a verified request acts as.
#[derive(Clone, Debug)]
pub enum Principal {
    Organization,
    Workspace { workspace_id: String },
}

pub struct Signer {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Signer {
    pub fn random() -> Signer {
        let key: [u8; 32] = rand::random();
        Signer {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
        }
    }

    pub fn issue(
        &self,
        organization_id: &str,
        workspace_id: Option<&str>,
        lifetime: Duration,
        generation: u64,
        now: u64,
    ) -> String {
        let claims = Claims {
            iss: "https://cloud.airbyte.com".into(),
            aud: "airbyte-server".into(),
            sub: workspace_id.unwrap_or(organization_id).to_string(),
            iat: now,
            exp: now + lifetime.as_secs().max(1),
            jti: uuid::Uuid::new_v4().to_string(),
            typ: if workspace_id.is_some() {
                SCOPED_TOKEN_TYPE
            } else {
                APPLICATION_TOKEN_TYPE
            }
            .into(),
            organization_id: organization_id.to_string(),
            workspace_scope: workspace_id.map(|id| WorkspaceScope {
                workspace_id: id.to_string(),
            }),
            generation,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with an in-memory key cannot fail")
    }

    /// The organization a token of this signer names (signature checked, nothing else): which
    /// organization's rules then decide about it.
    pub fn peek_organization(&self, token: &str) -> Option<String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        validation.set_audience(&["airbyte-server"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()
            .map(|data| data.claims.organization_id)
    }

    /// Verifies signature, expiry against the simulator's clock `now` (no leeway: an expired token
    /// is refused), organization and generation.
    pub fn verify(
        &self,
        token: &str,
        organization_id: &str,
        generation: u64,
        now: u64,
    ) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        validation.set_audience(&["airbyte-server"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok()?;
        let claims = data.claims;
        if claims.exp <= now
            || claims.organization_id != organization_id
            || claims.generation != generation
        {
            return None;
        }
        Some(claims)
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_carry_the_scope() {
        let signer = Signer::random();
        let now = unix_now();
        let token = signer.issue("org", Some("ws"), Duration::from_secs(60), 0, now);
        let claims = signer.verify(&token, "org", 0, now).unwrap();
        assert_eq!(claims.workspace_scope.unwrap().workspace_id, "ws");
        assert_eq!(claims.typ, SCOPED_TOKEN_TYPE);
    }

    #[test]
    fn revoked_foreign_and_tampered_tokens_are_refused() {
        let signer = Signer::random();
        let now = unix_now();
        let token = signer.issue("org", None, Duration::from_secs(60), 0, now);
        assert!(signer.verify(&token, "org", 0, now + 59).is_some());
        assert!(
            signer.verify(&token, "org", 0, now + 60).is_none(),
            "expired"
        );
        assert!(
            signer.verify(&token, "org", 1, now).is_none(),
            "older generation"
        );
        assert!(
            signer.verify(&token, "other-org", 0, now).is_none(),
            "other org"
        );
        assert!(
            Signer::random().verify(&token, "org", 0, now).is_none(),
            "other key"
        );
        let mut tampered = token.clone();
        tampered.push('x');
        assert!(
            signer.verify(&tampered, "org", 0, now).is_none(),
            "bad signature"
        );
    }

    #[test]
    fn bearer_header_is_parsed() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }
}
