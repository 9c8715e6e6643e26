//! Standard Webhooks signatures (symmetric `v1`): the scheme our own Flow/Apex
//! callouts use (Salesforce has no built-in webhook signature).
//!
//! Signed content: `{webhook-id}.{webhook-timestamp}.{body}`; the key is the
//! Base64 part of a `whsec_` secret (other secrets are used as raw bytes); the
//! header holds space-separated `v1,<base64>` entries, any of which may match.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub use crate::hubspot::webhook::SignatureError;

/// The message id header (also the de-duplication key).
pub const HEADER_ID: &str = "webhook-id";
/// Unix seconds of sending.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// `v1,<base64>` signatures, space-separated.
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// Accepted clock distance of the timestamp.
pub const TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// The HMAC key of `secret`.
fn key(secret: &SecretString) -> Result<Vec<u8>, SignatureError> {
    let secret = secret.expose_secret();
    if secret.trim().is_empty() {
        return Err(SignatureError::Missing("callout secret"));
    }
    match secret.strip_prefix("whsec_") {
        Some(encoded) => BASE64
            .decode(encoded)
            .map_err(|_| SignatureError::Malformed("callout secret")),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

/// `v1,<base64 HMAC-SHA256>` of one message.
pub fn sign(
    secret: &SecretString,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SignatureError> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&key(secret)?).map_err(|_| SignatureError::Mismatch)?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// Verifies the three headers against `body`, in constant time.
pub fn verify(
    secret: &SecretString,
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    let id = present(id, HEADER_ID)?;
    let timestamp = present(timestamp, HEADER_TIMESTAMP)?;
    let signature = present(signature, HEADER_SIGNATURE)?;
    let sent: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::Malformed(HEADER_TIMESTAMP))?;
    let age = now.timestamp().saturating_sub(sent);
    if age.unsigned_abs() > TOLERANCE.as_secs() {
        return Err(SignatureError::Stale {
            age_ms: age.saturating_mul(1000),
        });
    }
    let expected = sign(secret, id, sent, body)?;
    let matched = signature
        .split(' ')
        .filter(|s| s.starts_with("v1,"))
        .any(|s| bool::from(s.as_bytes().ct_eq(expected.as_bytes())));
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn present<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, SignatureError> {
    value
        .filter(|s| !s.is_empty())
        .ok_or(SignatureError::Missing(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_specification_example() {
        // The worked example of the Standard Webhooks reference libraries (svix docs).
        let secret: SecretString = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into();
        let body = br#"{"test": 2432232314}"#;
        let signature =
            sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).expect("signs");
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let now = DateTime::from_timestamp(1614265330 + 10, 0).expect("time");
        let header = format!("v1,bm9wZQ== {signature}");
        verify(
            &secret,
            Some("msg_p5jXN8AQM9LWM0D4loKWxJek"),
            Some("1614265330"),
            Some(&header),
            body,
            now,
        )
        .expect("valid");
        assert_eq!(
            verify(
                &secret,
                Some("msg_p5jXN8AQM9LWM0D4loKWxJek"),
                Some("1614265330"),
                Some(&signature),
                b"{}",
                now
            ),
            Err(SignatureError::Mismatch)
        );
        let late = DateTime::from_timestamp(1614265330 + 600, 0).expect("time");
        assert!(matches!(
            verify(
                &secret,
                Some("msg_p5jXN8AQM9LWM0D4loKWxJek"),
                Some("1614265330"),
                Some(&signature),
                body,
                late
            ),
            Err(SignatureError::Stale { .. })
        ));
        assert_eq!(
            verify(&secret, None, Some("1"), Some("v1,x"), body, now),
            Err(SignatureError::Missing(HEADER_ID))
        );
    }
}
