//! Every monitoring API route against missing, unknown and too-weak tokens.

use crmerp_testkit::monitoring::{ADMIN_TOKEN, OPERATOR_TOKEN, VIEWER_TOKEN};
use crmerp_testkit::{Stack, StackOptions};
use serde_json::json;

/// `(method, path, least role)`.
const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/api/v1/me", "viewer"),
    ("GET", "/api/v1/events", "viewer"),
    ("GET", "/api/v1/timeline?crm_record_id=1", "viewer"),
    ("GET", "/api/v1/dead-letters", "viewer"),
    ("GET", "/api/v1/dead-letters/dlq:none", "viewer"),
    ("GET", "/api/v1/health", "viewer"),
    ("GET", "/api/v1/health/series", "viewer"),
    ("GET", "/api/v1/reports/sla", "viewer"),
    ("GET", "/api/v1/reports/sla?format=csv", "viewer"),
    ("POST", "/api/v1/dead-letters/dlq:none/requeue", "operator"),
    ("POST", "/api/v1/dead-letters/dlq:none/discard", "operator"),
];

#[tokio::test]
async fn every_route_answers_401_without_a_valid_token_and_403_below_its_role() -> anyhow::Result<()>
{
    // The stack's own opt-in monitoring (Postgres and one replica).
    let stack = Stack::start(StackOptions {
        with_worker: false,
        with_monitoring: true,
        ..StackOptions::default()
    })
    .await?;
    let monitoring = stack
        .monitoring
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("monitoring not started"))?;
    let body = json!({"reason": "r"});
    for (method, path, least) in ROUTES {
        for token in [None, Some("not-a-token"), Some("dev-viewer-token ")] {
            let api = monitoring.api(token)?;
            let (status, problem) = match *method {
                "GET" => api.get(path).await?,
                _ => api.post(path, &body).await?,
            };
            // A trailing space is trimmed; the exact viewer token is valid.
            if token == Some("dev-viewer-token ") {
                continue;
            }
            assert_eq!(status, 401, "{method} {path} with {token:?}: {problem}");
            assert_eq!(problem["code"], "unauthenticated");
        }
        for (token, role) in [
            (VIEWER_TOKEN, "viewer"),
            (OPERATOR_TOKEN, "operator"),
            (ADMIN_TOKEN, "admin"),
        ] {
            let api = monitoring.api(Some(token))?;
            let (status, problem) = match *method {
                "GET" => api.get(path).await?,
                _ => api.post(path, &body).await?,
            };
            let allowed = match *least {
                "viewer" => true,
                _ => role != "viewer",
            };
            if allowed {
                assert!(
                    status == 200 || status == 404,
                    "{method} {path} as {role}: {status} {problem}"
                );
            } else {
                assert_eq!(status, 403, "{method} {path} as {role}: {problem}");
                assert_eq!(problem["code"], "forbidden");
            }
        }
    }
    // The 401 carries the challenge and the problem media type.
    let response = reqwest::get(format!("{}/api/v1/events", monitoring.url(0)?)).await?;
    assert_eq!(response.status().as_u16(), 401);
    assert!(response.headers().get("www-authenticate").is_some());
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    // The OpenAPI document is public and lists every route above.
    let doc: serde_json::Value = reqwest::get(format!("{}/openapi.json", monitoring.url(0)?))
        .await?
        .json()
        .await?;
    for (_, path, _) in ROUTES {
        let template = path
            .split('?')
            .next()
            .unwrap_or_default()
            .replace("dlq:none", "{id}");
        assert!(
            doc["paths"].get(&template).is_some(),
            "{template} undocumented"
        );
    }
    // Unknown routes and malformed bodies are problems too.
    let operator = monitoring.api(Some(OPERATOR_TOKEN))?;
    let (status, problem) = operator.get("/api/v1/nope").await?;
    assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")));
    let (status, problem) = operator
        .post("/api/v1/dead-letters/x/discard", &json!("not an object"))
        .await?;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("bad_request"))
    );
    let (_, me) = monitoring
        .api(Some(OPERATOR_TOKEN))?
        .get("/api/v1/me")
        .await?;
    assert_eq!(
        (me["name"].as_str(), me["role"].as_str()),
        (Some("dev-operator"), Some("operator"))
    );
    Ok(())
}
