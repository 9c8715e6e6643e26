//! Bearer-token authentication with three roles.
//!
//! Tokens are configured by their SHA-256 hash, never in clear. A presented
//! token is hashed and compared with every configured hash in constant time
//! (no early exit), so timing reveals neither which token nor how much of it
//! matched. SHA-256 without salt is enough because tokens are long random
//! strings, not passwords a person chose. No token: 401; a valid token whose
//! role is too low: 403.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;
use crate::settings::TokenSetting;

/// What a token may do; each role includes the ones below it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Deserialize,
    Serialize,
    utoipa::ToSchema,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read events, dead letters, health and reports.
    Viewer,
    /// Also requeue and discard dead letters.
    Operator,
    /// Everything.
    Admin,
}

/// A configured token, ready to compare.
#[derive(Debug, Clone)]
pub struct TokenEntry {
    name: String,
    role: Role,
    hash: [u8; 32],
}

impl TokenEntry {
    /// Parses a configured token; `None` when the hash is not 64 hex characters.
    pub fn parse(setting: &TokenSetting) -> Option<Self> {
        let bytes = hex::decode(setting.sha256.trim()).ok()?;
        let hash: [u8; 32] = bytes.try_into().ok()?;
        Some(Self {
            name: setting.name.clone(),
            role: setting.role,
            hash,
        })
    }
}

/// The lower-case hex SHA-256 of a token, as the configuration stores it.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Every configured token.
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    tokens: Vec<TokenEntry>,
}

/// The caller, once authenticated.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Principal {
    /// The token's name (recorded as the actor of audited actions).
    pub name: String,
    /// The token's role.
    pub role: Role,
}

impl Principal {
    /// Operators and admins, who correct records, see customers' personal
    /// data; a viewer gets it masked (see [`crate::pii`]).
    pub fn sees_personal_data(&self) -> bool {
        self.role >= Role::Operator
    }
}

impl Authenticator {
    /// From the configured tokens (invalid ones were rejected at start-up).
    pub fn new(settings: &[TokenSetting]) -> Self {
        Self {
            tokens: settings.iter().filter_map(TokenEntry::parse).collect(),
        }
    }

    /// The principal holding `token`, if any.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found: Option<&TokenEntry> = None;
        for entry in &self.tokens {
            // Compare with every entry so the time does not depend on the match position.
            if bool::from(entry.hash.ct_eq(&presented)) {
                found = Some(entry);
            }
        }
        found.map(|entry| Principal {
            name: entry.name.clone(),
            role: entry.role,
        })
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

fn require(parts: &Parts, state: &AppState, role: Role) -> Result<Principal, ApiError> {
    let principal = bearer(parts)
        .and_then(|token| state.auth.authenticate(token))
        .ok_or(ApiError::Unauthenticated)?;
    if principal.role < role {
        return Err(ApiError::Forbidden(role));
    }
    Ok(principal)
}

/// Extractor: any valid token (viewer or above).
#[derive(Debug, Clone)]
pub struct Viewer(pub Principal);

/// Extractor: operator or admin.
#[derive(Debug, Clone)]
pub struct Operator(pub Principal);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        require(parts, state, Role::Viewer).map(Self)
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        require(parts, state, Role::Operator).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Authenticator {
        let setting = |name: &str, role, token: &str| TokenSetting {
            name: name.into(),
            role,
            sha256: token_hash(token),
        };
        Authenticator::new(&[
            setting("v", Role::Viewer, "viewer-token"),
            setting("o", Role::Operator, "operator-token"),
        ])
    }

    #[test]
    fn tokens_match_by_hash_only() {
        let auth = auth();
        let op = auth.authenticate("operator-token").expect("known token");
        assert_eq!((op.name.as_str(), op.role), ("o", Role::Operator));
        assert!(auth.authenticate("operator-toke").is_none());
        assert!(auth.authenticate("").is_none());
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
    }

    #[test]
    fn malformed_hashes_are_rejected() {
        let bad = TokenSetting {
            name: "x".into(),
            role: Role::Admin,
            sha256: "abc".into(),
        };
        assert!(TokenEntry::parse(&bad).is_none());
    }
}
