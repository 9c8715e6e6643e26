//! SAP Gateway error bodies refined into [`ConnectorError`].

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::SYSTEM;
use crate::http_client::{VendorResponse, classify_status};
use crate::{ConnectorError, ErrorCategory, ErrorKind};

/// The longest vendor text kept in [`ConnectorError::message`]; the body is in `detail`.
const MAX_MESSAGE_CHARS: usize = 300;

/// `{"error":{"code":"V1/320","message":{"lang":"en","value":"…"},"innererror":{…}}}`.
#[derive(Debug, Deserialize)]
struct Envelope {
    error: Body,
}

#[derive(Debug, Deserialize)]
struct Body {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: Message,
    #[serde(default)]
    innererror: Option<Inner>,
}

#[derive(Debug, Default, Deserialize)]
struct Message {
    #[serde(default)]
    value: String,
}

#[derive(Debug, Deserialize)]
struct Inner {
    #[serde(default)]
    errordetails: Vec<Detail>,
}

#[derive(Debug, Deserialize)]
struct Detail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// True for the 403 SAP answers when the CSRF token is missing or stale.
pub(crate) fn csrf_required(response: &VendorResponse) -> bool {
    response.status.as_u16() == 403
        && response
            .header("x-csrf-token")
            .is_some_and(|v| v.eq_ignore_ascii_case("required"))
}

/// Classifies a non-2xx SAP answer: status first, then the message class/number.
pub(crate) fn classify(
    endpoint: &str,
    response: &VendorResponse,
    now: DateTime<Utc>,
) -> ConnectorError {
    use ErrorCategory as C;
    use ErrorKind as K;
    let mut err = classify_status(SYSTEM, endpoint, response, now);
    if csrf_required(response) {
        // The token was refetched once already; a session problem, not the credentials.
        err.kind = K::Transient;
        err.category = C::Unavailable;
        err.message = "CSRF token validation failed after a refetch".to_owned();
        return err;
    }
    if matches!(response.status.as_u16(), 401 | 403) {
        err.resolution = Some("check_erp_credentials".to_owned());
    }
    let Ok(Envelope { error: body }) = serde_json::from_slice::<Envelope>(&response.body) else {
        return err;
    };
    let details = body.innererror.map(|i| i.errordetails).unwrap_or_default();
    let messages = std::iter::once((body.code.as_str(), body.message.value.as_str())).chain(
        details
            .iter()
            .map(|d| (d.code.as_str(), d.message.as_str())),
    );
    let mut missing_material = None;
    let mut no_partner_address = false;
    for (code, message) in messages {
        // Releases without `A_SalesOrderPartnerAddress` refuse the navigation by name.
        if message.contains("'to_Address'") {
            no_partner_address = true;
        }
        let lower = message.to_ascii_lowercase();
        if code.starts_with("M3/")
            || (lower.contains("material") && lower.contains("does not exist"))
        {
            missing_material = Some(material_in(message).unwrap_or_default().to_owned());
            break;
        }
    }
    if response.status.is_client_error()
        && let Some(sku) = missing_material
    {
        err.kind = K::Permanent;
        err.category = C::UnknownItem;
        err.resolution = Some(format!("create_item_in_erp:{sku}"));
    } else if response.status.is_client_error() && no_partner_address {
        err.kind = K::Permanent;
        err.category = C::Validation;
        err.resolution = Some("ship_to_address_unsupported".to_owned());
    }
    let vendor: String = format!("{}: {}", body.code, body.message.value)
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect();
    err.message = format!("{}: {vendor}", err.message);
    err
}

/// The material number in `The material SKU-9 does not exist …` or `Material SKU-9 …`.
fn material_in(message: &str) -> Option<&str> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("material ")? + "material ".len();
    message[at..].split_whitespace().next()
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
    fn recorded_sap_errors_are_classified() {
        let body = r#"{"error":{"code":"M3/305","message":{"lang":"en","value":"The material SKU-9 does not exist or is not activated"},
            "innererror":{"application":{"component_id":"SD-SLS-API","service_namespace":"/SAP/","service_id":"API_SALES_ORDER_SRV","service_version":"0001"},
            "transactionid":"3B2D5F0E6C1F0010E0063E7A0B4F8D1C","timestamp":"20261126120000.1234560",
            "errordetails":[{"code":"M3/305","message":"The material SKU-9 does not exist or is not activated","propertyref":"","severity":"error","target":""}]}}}"#;
        let err = classify("POST x", &response(400, body), Utc::now());
        assert_eq!(err.category, ErrorCategory::UnknownItem);
        assert_eq!(err.resolution.as_deref(), Some("create_item_in_erp:SKU-9"));

        let mut csrf = response(403, "CSRF token validation failed");
        csrf.headers
            .insert("x-csrf-token", "Required".parse().expect("header"));
        assert!(csrf_required(&csrf));
        assert!(classify("POST x", &csrf, Utc::now()).is_transient());

        let denied = response(401, "<html><body>Logon failed</body></html>");
        let err = classify("GET x", &denied, Utc::now());
        assert_eq!(err.kind, ErrorKind::Auth);

        let old_release = response(
            400,
            r#"{"error":{"code":"/IWBEP/CM_MGW_RT/022","message":{"lang":"en","value":"Property 'to_Address' is invalid"}}}"#,
        );
        let err = classify("POST x", &old_release, Utc::now());
        assert_eq!(err.category, ErrorCategory::Validation);
        assert_eq!(
            err.resolution.as_deref(),
            Some("ship_to_address_unsupported")
        );

        let busy = response(
            503,
            r#"{"error":{"code":"/IWFND/CM_BEC/026","message":{"lang":"en","value":"Backend system not reachable"}}}"#,
        );
        assert!(classify("GET x", &busy, Utc::now()).is_transient());
    }
}
