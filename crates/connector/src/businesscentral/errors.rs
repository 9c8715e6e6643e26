//! Business Central's OData error bodies refined into [`ConnectorError`].

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::SYSTEM;
use crate::http_client::{VendorResponse, classify_status};
use crate::{ConnectorError, ErrorCategory, ErrorKind};

/// The longest vendor text kept in [`ConnectorError::message`]; the body is in `detail`.
const MAX_MESSAGE_CHARS: usize = 300;

/// `{"error":{"code":"BadRequest_…","message":"… CorrelationId: …"}}`.
#[derive(Debug, Deserialize)]
struct Envelope {
    error: Body,
}

#[derive(Debug, Deserialize)]
struct Body {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The marker of BC's "related record missing" validation message, e.g.
/// `The field No. of table Sales Line contains a value (SKU-9) that cannot be found
/// in the related table (Item).`
const RELATED_ITEM_MISSING: &str = "cannot be found in the related table (Item)";

/// Classifies a non-2xx Business Central response: status first, then the
/// error code family (`BadRequest_*`, `Authentication_*`, `Authorization_*`,
/// `Internal_*`, `Application_*`).
pub(crate) fn classify(
    endpoint: &str,
    response: &VendorResponse,
    now: DateTime<Utc>,
) -> ConnectorError {
    use ErrorCategory as C;
    use ErrorKind as K;
    let mut err = classify_status(SYSTEM, endpoint, response, now);
    let Ok(Envelope { error: body }) = serde_json::from_slice::<Envelope>(&response.body) else {
        return err;
    };
    let status = response.status.as_u16();
    let code = body.code.as_str();
    let refined = if status == 429 || status >= 500 || status == 408 {
        None
    } else if code.starts_with("Authentication_") || code.starts_with("Authorization_") {
        Some((
            K::Auth,
            C::Unauthorized,
            Some("check_erp_credentials".to_owned()),
        ))
    } else if code.contains("EntityWithSameKeyExists") {
        Some((K::Permanent, C::Duplicate, None))
    } else if body.message.contains(RELATED_ITEM_MISSING) {
        let sku = related_value(&body.message).unwrap_or_default();
        Some((
            K::Permanent,
            C::UnknownItem,
            Some(format!("create_item_in_erp:{sku}")),
        ))
    } else if code.ends_with("RecordNotFound") || code.ends_with("NotFound") {
        Some((K::Permanent, C::NotFound, None))
    } else {
        None
    };
    if let Some((kind, category, resolution)) = refined {
        err.kind = kind;
        err.category = category;
        if resolution.is_some() {
            err.resolution = resolution;
        }
    }
    let vendor: String = format!("{code}: {}", body.message)
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect();
    err.message = format!("{}: {vendor}", err.message);
    err
}

/// The value in `contains a value (X) that cannot be found`.
fn related_value(message: &str) -> Option<&str> {
    let start = message.find("contains a value (")? + "contains a value (".len();
    let rest = &message[start..];
    let end = rest.find(") that cannot be found")?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    use super::*;

    fn response(status: u16, body: &str) -> VendorResponse {
        VendorResponse {
            status: StatusCode::from_u16(status).expect("status"),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
            truncated: false,
        }
    }

    #[test]
    fn recorded_error_bodies_are_classified() {
        // Shapes as documented on learn.microsoft.com (dynamics-error-codes).
        let unauthorized = response(
            401,
            r#"{"error":{"code":"Authentication_InvalidCredentials","message":"The server has rejected the client credentials.  CorrelationId:  4a1f7c1e-1111-2222-3333-444455556666."}}"#,
        );
        let err = classify("GET x", &unauthorized, Utc::now());
        assert_eq!(err.kind, ErrorKind::Auth);
        assert!(err.message.contains("Authentication_InvalidCredentials"));

        let duplicate = response(
            400,
            r#"{"error":{"code":"Internal_EntityWithSameKeyExists","message":"The record in table Customer already exists. Identification fields and values: No.='HUBSPOT-42'  CorrelationId:  x."}}"#,
        );
        assert_eq!(
            classify("POST x", &duplicate, Utc::now()).category,
            ErrorCategory::Duplicate
        );

        let item = response(
            400,
            r#"{"error":{"code":"Application_DialogException","message":"The field No. of table Sales Line contains a value (SKU-9) that cannot be found in the related table (Item).  CorrelationId:  x."}}"#,
        );
        let err = classify("POST x", &item, Utc::now());
        assert_eq!(err.category, ErrorCategory::UnknownItem);
        assert_eq!(err.resolution.as_deref(), Some("create_item_in_erp:SKU-9"));
        assert!(!err.is_transient());

        let missing = response(
            404,
            r#"{"error":{"code":"BadRequest_ResourceNotFound","message":"Resource not found for the segment 'companies'.  CorrelationId:  x."}}"#,
        );
        assert_eq!(
            classify("GET x", &missing, Utc::now()).category,
            ErrorCategory::NotFound
        );

        let busy = response(
            429,
            r#"{"error":{"code":"Application_TooManyRequests","message":"Too many requests reached.  Actual (101). Maximum (100)."}}"#,
        );
        let mut busy = busy;
        busy.headers
            .insert("retry-after", "7".parse().expect("header"));
        let err = classify("GET x", &busy, Utc::now());
        assert!(err.is_transient());
        assert_eq!(err.retry_after, Some(std::time::Duration::from_secs(7)));

        let html = response(502, "<html>Bad gateway</html>");
        assert!(classify("GET x", &html, Utc::now()).is_transient());
    }
}
