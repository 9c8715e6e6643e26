//! Checking rejected requests: each must answer the expected status with an
//! RFC 9457 `application/problem+json` body carrying the expected `code`.

use serde_json::Value;

/// One rejected request: a name for messages, the request, the status and the problem code.
pub type ProblemCase<'a> = (&'a str, reqwest::RequestBuilder, u16, &'a str);

/// Sends every case and checks status, content type, `code` and `status` of the problem body.
pub async fn expect_problems(cases: Vec<ProblemCase<'_>>) -> anyhow::Result<()> {
    for (name, request, status, code) in cases {
        let response = request.send().await?;
        anyhow::ensure!(
            response.status().as_u16() == status,
            "{name}: status {}",
            response.status()
        );
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        anyhow::ensure!(
            content_type == "application/problem+json",
            "{name}: content type {content_type}"
        );
        let problem: Value = response.json().await?;
        anyhow::ensure!(problem["code"] == code, "{name}: {problem}");
        anyhow::ensure!(problem["status"] == status, "{name}: {problem}");
    }
    Ok(())
}
