//! Fault injection and inspection on a running [`Stack`]: vendor faults through
//! the sandbox's control endpoints, and reading what landed in JetStream.

use crmerp_proto::{DeadLetter, EventEnvelope, Message as _, event_envelope::Data};
use serde_json::Value;

use crate::stack::Stack;

impl Stack {
    fn control_url(&self, vendor: &str, path: &str) -> anyhow::Result<String> {
        Ok(format!(
            "http://{}/__sandbox/{path}",
            self.sandbox.listener(vendor)?
        ))
    }

    /// Makes `vendor` fail as `spec` says (the sandbox's `FaultSpec`, e.g.
    /// `{"status":503,"rate":1.0}` or `{"status":429,"retry_after_secs":1,"count":5}`).
    pub async fn inject_fault(&self, vendor: &str, spec: Value) -> anyhow::Result<()> {
        let response = reqwest::Client::new()
            .post(self.control_url(vendor, "faults")?)
            .json(&spec)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "fault rejected: {}",
            response.status()
        );
        Ok(())
    }

    /// Lets `vendor` answer normally again.
    pub async fn clear_fault(&self, vendor: &str) -> anyhow::Result<()> {
        let response = reqwest::Client::new()
            .delete(self.control_url(vendor, "faults")?)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "fault not cleared: {}",
            response.status()
        );
        Ok(())
    }

    /// How many requests `vendor` received with `method` on paths starting with `path_prefix`.
    pub async fn vendor_requests(
        &self,
        vendor: &str,
        method: &str,
        path_prefix: &str,
    ) -> anyhow::Result<u64> {
        let response = reqwest::Client::new()
            .get(self.control_url(vendor, "requests")?)
            .query(&[("method", method), ("path_prefix", path_prefix)])
            .send()
            .await?;
        let body: Value = response.json().await?;
        body["count"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no count in {body}"))
    }

    /// Posts a v3-signed HubSpot `deal.propertyChange` to `closedwon` for
    /// `deal_id` straight to ingress, as HubSpot would; returns the status.
    pub async fn post_deal_won(
        &self,
        deal_id: &str,
        event_id: u64,
        occurred_at_ms: i64,
    ) -> anyhow::Result<u16> {
        post_deal_won(&self.ingress_url()?, deal_id, event_id, occurred_at_ms).await
    }

    /// Every deal has its order number written back and exactly one ERP order,
    /// and the ERP holds no order for any other deal: "nothing lost, nothing doubled".
    pub async fn assert_one_order_per_deal(&self, deal_ids: &[String]) -> anyhow::Result<()> {
        for deal_id in deal_ids {
            let number = self.crm.erp_order_number(deal_id).await?;
            anyhow::ensure!(
                number.is_some(),
                "deal {deal_id} has no order number written back"
            );
        }
        let counts = self.netsuite.order_count_by_external_id().await?;
        for deal_id in deal_ids {
            let external_id = self.crm.external_ref(deal_id);
            let count = counts.get(&external_id).copied().unwrap_or(0);
            anyhow::ensure!(count == 1, "deal {deal_id} has {count} orders");
        }
        anyhow::ensure!(
            counts.len() == deal_ids.len(),
            "{} external ids in the ERP for {} deals",
            counts.len(),
            deal_ids.len()
        );
        Ok(())
    }

    /// Every envelope currently stored in `stream`, in order.
    pub async fn stream_envelopes(&self, stream: &str) -> anyhow::Result<Vec<EventEnvelope>> {
        let js = self.jetstream().await?;
        let mut stream = js.get_stream(stream).await?;
        let state = stream.info().await?.state.clone();
        let mut envelopes = Vec::new();
        if state.messages == 0 {
            return Ok(envelopes);
        }
        for seq in state.first_sequence..=state.last_sequence {
            if let Ok(message) = stream.get_raw_message(seq).await {
                envelopes.push(EventEnvelope::decode(message.payload)?);
            }
        }
        Ok(envelopes)
    }

    /// Every dead letter in the `DLQ` stream.
    pub async fn dead_letters(&self) -> anyhow::Result<Vec<DeadLetter>> {
        Ok(self
            .stream_envelopes("DLQ")
            .await?
            .into_iter()
            .filter_map(|e| match e.data {
                Some(Data::DeadLetter(d)) => Some(*d),
                _ => None,
            })
            .collect())
    }
}

/// Posts a v3-signed HubSpot `deal.propertyChange` to `closedwon` for `deal_id`
/// to the ingress at `ingress_url`; returns the status (0 when nothing answered).
pub async fn post_deal_won(
    ingress_url: &str,
    deal_id: &str,
    event_id: u64,
    occurred_at_ms: i64,
) -> anyhow::Result<u16> {
    let url = format!("{ingress_url}/webhooks/hubspot");
    let body = crate::hubspot::deal_stage_webhook(event_id, deal_id, "closedwon", occurred_at_ms);
    let now = chrono::Utc::now().timestamp_millis();
    let signature = crate::hubspot::sign_v3(crate::hubspot::DEV_CLIENT_SECRET, &url, &body, now)?;
    let response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header("X-HubSpot-Signature-v3", signature)
        .header("X-HubSpot-Request-Timestamp", now.to_string())
        .body(body)
        .timeout(std::time::Duration::from_secs(15))
        .send()
        .await;
    // No answer at all (ingress restarting) counts as not accepted.
    Ok(response.map(|r| r.status().as_u16()).unwrap_or(0))
}
