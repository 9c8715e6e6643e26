//! OAuth 1.0a request signing as NetSuite token-based authentication (TBA) wants
//! it: HMAC-SHA256 over the RFC 5849 signature base string. Pure functions: the
//! nonce and timestamp are inputs, so signing is testable.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use url::Url;

use crate::http_client::RFC3986_RESERVED;

/// The only signature method NetSuite still accepts (HMAC-SHA1 ended in 2023.1).
pub const SIGNATURE_METHOD: &str = "HMAC-SHA256";
/// OAuth protocol version.
pub const VERSION: &str = "1.0";
/// Length of generated nonces (NetSuite accepts 6-64 characters).
const NONCE_LEN: usize = 32;

/// The four TBA credentials and the realm (account id, e.g. `1234567_SB1`).
#[derive(Debug, Clone, Copy)]
pub struct TbaCredentials<'a> {
    /// Account id in realm form.
    pub realm: &'a str,
    /// Integration consumer key.
    pub consumer_key: &'a str,
    /// Integration consumer secret.
    pub consumer_secret: &'a SecretString,
    /// Access token id.
    pub token_id: &'a str,
    /// Access token secret.
    pub token_secret: &'a SecretString,
}

/// RFC 3986 percent-encoding (RFC 5849 §3.6): everything but `A-Za-z0-9-._~`.
pub fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, RFC3986_RESERVED).to_string()
}

/// The base string URI (RFC 5849 §3.4.1.2): scheme and host lower-case, default
/// port dropped, no query or fragment.
pub fn base_string_uri(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{host}{port}{}", url.scheme(), url.path())
}

/// The signature base string (RFC 5849 §3.4.1): `METHOD&enc(uri)&enc(params)`,
/// where params are `extra` (the `oauth_*` protocol parameters, and form-body
/// parameters if any) plus the URL's decoded query parameters, each encoded,
/// sorted by name then value, joined as `k=v` with `&`. `realm` and
/// `oauth_signature` must not be in `extra`.
pub fn signature_base_string(method: &str, url: &Url, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (encode(&k), encode(&v)))
        .chain(extra.iter().map(|(k, v)| (encode(k), encode(v))))
        .collect();
    params.sort();
    let normalized = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(&base_string_uri(url)),
        encode(&normalized)
    )
}

/// Base64(HMAC-SHA256(`enc(consumer secret)&enc(token secret)`, base string)).
pub fn sign(
    base_string: &str,
    consumer_secret: &SecretString,
    token_secret: &SecretString,
) -> String {
    let key = format!(
        "{}&{}",
        encode(consumer_secret.expose_secret()),
        encode(token_secret.expose_secret())
    );
    // HMAC takes keys of any length; the error branch is unreachable.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(base_string.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// The `Authorization: OAuth …` value for one request to `url` (query included).
pub fn authorization_header(
    credentials: &TbaCredentials<'_>,
    method: &str,
    url: &Url,
    nonce: &str,
    timestamp: u64,
) -> String {
    let timestamp = timestamp.to_string();
    let protocol = [
        ("oauth_consumer_key", credentials.consumer_key),
        ("oauth_token", credentials.token_id),
        ("oauth_signature_method", SIGNATURE_METHOD),
        ("oauth_timestamp", timestamp.as_str()),
        ("oauth_nonce", nonce),
        ("oauth_version", VERSION),
    ];
    let base = signature_base_string(method, url, &protocol);
    let signature = sign(&base, credentials.consumer_secret, credentials.token_secret);
    let mut header = format!("OAuth realm=\"{}\"", encode(credentials.realm));
    for (name, value) in protocol
        .iter()
        .chain([("oauth_signature", signature.as_str())].iter())
    {
        header.push_str(&format!(", {name}=\"{}\"", encode(value)));
    }
    header
}

/// A fresh random alphanumeric nonce.
pub fn generate_nonce() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(NONCE_LEN)
        .map(char::from)
        .collect()
}

/// Seconds since the Unix epoch, now.
pub fn unix_timestamp() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
