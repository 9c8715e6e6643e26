//! Request authentication shared by the fulfilment sources: HMACs over the
//! raw request, constant-time comparison, Basic and bearer credentials.

use axum::http::{HeaderMap, header};
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use super::secret_matches;
use crate::error::IngressError;

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // Any key length is valid for HMAC; the error case cannot occur.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// HMAC-SHA1 of the concatenated `parts` under `key` (Twilio's scheme).
pub(crate) fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        return Vec::new();
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// True when `presented` equals `expected` (compared in constant time);
/// never for an empty expectation.
pub(crate) fn bytes_match(presented: &[u8], expected: &[u8]) -> bool {
    !expected.is_empty() && bool::from(presented.ct_eq(expected))
}

/// A header's value as text.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Basic credentials or a bearer token, whichever is configured and
/// presented: `Ok` when one matches, 401 otherwise. An empty `user` disables
/// Basic, an empty `token` disables bearer.
pub(crate) fn basic_or_bearer(
    headers: &HeaderMap,
    user: &str,
    password: &str,
    token: &str,
) -> Result<(), IngressError> {
    let authorization = header(headers, header::AUTHORIZATION.as_str()).unwrap_or_default();
    if !user.is_empty()
        && let Some((given_user, given_password)) =
            crmerp_connector::pipedrive::webhook::basic_credentials(authorization)
    {
        // Both compared in full, so the timing tells nothing about which was wrong.
        let user_ok = secret_matches(&given_user, user);
        let password_ok = secret_matches(&given_password, password);
        if user_ok & password_ok {
            return Ok(());
        }
    }
    let bearer = authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("bearer "));
    if let Some(given) = bearer
        && secret_matches(given.trim(), token)
    {
        return Ok(());
    }
    Err(IngressError::InvalidCredentials)
}

/// 415 unless the `Content-Type` is `application/x-www-form-urlencoded`.
pub(crate) fn require_form(headers: &HeaderMap) -> Result<(), IngressError> {
    let raw = header(headers, header::CONTENT_TYPE.as_str()).unwrap_or_default();
    let essence = raw.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Ok(())
    } else {
        Err(IngressError::NotForm(raw.chars().take(100).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().expect("header"));
        headers
    }

    #[test]
    fn basic_or_bearer_takes_either_configured_credential() {
        let basic = format!("Basic {}", BASE64.encode("om:pw"));
        assert!(basic_or_bearer(&with_authorization(&basic), "om", "pw", "").is_ok());
        assert!(basic_or_bearer(&with_authorization(&basic), "om", "other", "tok").is_err());
        assert!(basic_or_bearer(&with_authorization("Bearer tok"), "om", "pw", "tok").is_ok());
        assert!(basic_or_bearer(&with_authorization("Bearer tok"), "om", "pw", "").is_err());
        assert!(basic_or_bearer(&HeaderMap::new(), "om", "pw", "tok").is_err());
    }

    #[test]
    fn rfc_4231_case_2_and_rfc_2202_case_2() {
        assert_eq!(
            hex::encode(hmac_sha256(
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha1(b"Jefe", &[b"what do ya want for nothing?"])),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }
}
