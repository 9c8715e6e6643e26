//! HubSpot request signatures (v1, v2, v3), compared in constant time.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Header carrying the v3 signature (Base64 HMAC-SHA256).
pub const HEADER_SIGNATURE_V3: &str = "X-HubSpot-Signature-v3";
/// Header carrying the v3 request timestamp, in epoch milliseconds.
pub const HEADER_REQUEST_TIMESTAMP: &str = "X-HubSpot-Request-Timestamp";
/// Header carrying the v1 or v2 signature (hex SHA-256).
pub const HEADER_SIGNATURE: &str = "X-HubSpot-Signature";
/// Header naming the version of [`HEADER_SIGNATURE`]: `v1` or `v2`.
pub const HEADER_SIGNATURE_VERSION: &str = "X-HubSpot-Signature-Version";
/// Oldest (and furthest in the future) a v3 timestamp may be: HubSpot's 5 minutes.
pub const MAX_TIMESTAMP_SKEW: Duration = Duration::from_secs(5 * 60);

/// Length of a SHA-256 digest / HMAC-SHA256 tag.
const DIGEST_LEN: usize = 32;

/// Why a webhook request was not accepted as coming from HubSpot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A required header (or the client secret) is absent or empty.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A header is present but cannot be decoded.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The v3 timestamp is outside the accepted window (a replay, or a bad clock).
    #[error("request timestamp is {age_ms} ms from now, outside the accepted window")]
    Stale {
        /// Milliseconds between the timestamp and now; negative when in the future.
        age_ms: i64,
    },
    /// The signature does not match the request.
    #[error("signature does not match the request")]
    Mismatch,
}

/// Verifies `X-HubSpot-Signature-v3`: Base64(HMAC-SHA256(client secret,
/// method + uri + body + timestamp)). `uri` is the full URL HubSpot called
/// (scheme, host, path, query); the escapes HubSpot documents are decoded first.
pub fn verify_v3(
    client_secret: &SecretString,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    let secret = secret_bytes(client_secret)?;
    let signature = present(signature_header, HEADER_SIGNATURE_V3)?;
    let timestamp = present(timestamp_header, HEADER_REQUEST_TIMESTAMP)?;
    let sent_ms: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::Malformed(HEADER_REQUEST_TIMESTAMP))?;
    let age_ms = now.timestamp_millis().saturating_sub(sent_ms);
    let window_ms = i64::try_from(MAX_TIMESTAMP_SKEW.as_millis()).unwrap_or(i64::MAX);
    if age_ms.saturating_abs() > window_ms {
        return Err(SignatureError::Stale { age_ms });
    }
    let expected = BASE64
        .decode(signature)
        .map_err(|_| SignatureError::Malformed(HEADER_SIGNATURE_V3))?;
    if expected.len() != DIGEST_LEN {
        return Err(SignatureError::Malformed(HEADER_SIGNATURE_V3));
    }
    // HMAC accepts keys of any length, so this cannot fail in practice.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(method.as_bytes());
    mac.update(decode_uri(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// Verifies a v1 `X-HubSpot-Signature`: hex SHA-256(client secret + body).
/// CRM webhook-API events are still signed this way.
pub fn verify_v1(
    client_secret: &SecretString,
    body: &[u8],
    signature_header: Option<&str>,
) -> Result<(), SignatureError> {
    let secret = secret_bytes(client_secret)?;
    let expected = decode_hex(signature_header)?;
    let mut digest = Sha256::new();
    digest.update(secret);
    digest.update(body);
    compare(&digest.finalize(), &expected)
}

/// Verifies a v2 `X-HubSpot-Signature`: hex SHA-256(client secret + method +
/// uri + body), with `uri` exactly as HubSpot called it.
pub fn verify_v2(
    client_secret: &SecretString,
    method: &str,
    uri: &str,
    body: &[u8],
    signature_header: Option<&str>,
) -> Result<(), SignatureError> {
    let secret = secret_bytes(client_secret)?;
    let expected = decode_hex(signature_header)?;
    let mut digest = Sha256::new();
    digest.update(secret);
    digest.update(method.as_bytes());
    digest.update(uri.as_bytes());
    digest.update(body);
    compare(&digest.finalize(), &expected)
}

/// An empty secret would make every signature forgeable: fail closed.
fn secret_bytes(secret: &SecretString) -> Result<&[u8], SignatureError> {
    let secret = secret.expose_secret().as_bytes();
    if secret.is_empty() {
        Err(SignatureError::Missing("client secret"))
    } else {
        Ok(secret)
    }
}

fn present<'a>(value: Option<&'a str>, header: &'static str) -> Result<&'a str, SignatureError> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(SignatureError::Missing(header))
}

fn decode_hex(signature_header: Option<&str>) -> Result<Vec<u8>, SignatureError> {
    let signature = present(signature_header, HEADER_SIGNATURE)?;
    let bytes = hex::decode(signature).map_err(|_| SignatureError::Malformed(HEADER_SIGNATURE))?;
    if bytes.len() != DIGEST_LEN {
        return Err(SignatureError::Malformed(HEADER_SIGNATURE));
    }
    Ok(bytes)
}

fn compare(actual: &[u8], expected: &[u8]) -> Result<(), SignatureError> {
    if bool::from(actual.ct_eq(expected)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Decodes exactly the escapes HubSpot's v3 docs list (`%3A %2F %3F %40 %21 %24
/// %27 %28 %29 %2A %2C %3B`, either hex case); every other escape stays as sent.
pub(super) fn decode_uri(uri: &str) -> String {
    const DECODED: &[u8] = b":/?@!$'()*,;";
    let bytes = uri.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let decoded = hex_value(bytes[i + 1])
                .zip(hex_value(bytes[i + 2]))
                .map(|(hi, lo)| hi << 4 | lo)
                .filter(|b| DECODED.contains(b));
            if let Some(b) = decoded {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    // Only ASCII escapes were replaced by ASCII bytes, so the text stays UTF-8.
    String::from_utf8(out).unwrap_or_else(|_| uri.to_owned())
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}
