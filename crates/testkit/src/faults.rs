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
        let body = self.request_log(vendor, method, path_prefix).await?;
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

    /// The sandbox's request-log answer (`count`, `requests`) for `vendor`.
    async fn request_log(
        &self,
        vendor: &str,
        method: &str,
        path_prefix: &str,
    ) -> anyhow::Result<Value> {
        let response = reqwest::Client::new()
            .get(self.control_url(vendor, "requests")?)
            .query(&[("method", method), ("path_prefix", path_prefix)])
            .send()
            .await?;
        Ok(response.json().await?)
    }

    /// Posts every `(deal_id, event_id, occurred_at_ms)` won notice to ingress
    /// at once, as a CRM's concurrent re-sends arrive, and fails unless every
    /// one was accepted (200).
    pub async fn post_deals_won_at_once(
        &self,
        notices: &[(String, u64, i64)],
    ) -> anyhow::Result<()> {
        let sends = notices.iter().map(|(deal_id, event_id, occurred_at)| {
            self.post_deal_won(deal_id, *event_id, *occurred_at)
        });
        let statuses = futures::future::join_all(sends).await;
        anyhow::ensure!(
            statuses.iter().all(|s| matches!(s, Ok(200))),
            "not every notice was accepted: {statuses:?}"
        );
        Ok(())
    }

    /// Every request `vendor` answered with `method` on paths starting with
    /// `path_prefix`, as the sandbox logged them (`path`, `status`, `time`, ...).
    pub async fn vendor_request_log(
        &self,
        vendor: &str,
        method: &str,
        path_prefix: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let body = self.request_log(vendor, method, path_prefix).await?;
        body["requests"]
            .as_array()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no requests in {body}"))
    }

    /// How many order creates the ERP answered with success: every effective
    /// create, including any the ERP would store twice for one reference.
    /// `None` for a real ERP (Tryton), where only its records can be counted.
    pub async fn effective_order_creates(&self) -> anyhow::Result<Option<usize>> {
        let Some(path) = self.erp.order_create_path() else {
            return Ok(None);
        };
        let log = self
            .vendor_request_log(crate::vendors::listener(self.erp_kind()), "POST", &path)
            .await?;
        Ok(Some(
            log.iter()
                .filter(|r| r["path"].as_str() == Some(path.as_str()))
                .filter(|r| {
                    r["status"]
                        .as_u64()
                        .is_some_and(|s| (200..300).contains(&s))
                })
                .count(),
        ))
    }

    /// "Nothing lost, nothing doubled" for `deal_ids`, which must be every deal
    /// the test won: each deal has exactly one order in the ERP, the number
    /// written back on the deal is that order's number, and the ERP answered
    /// exactly one successful create per deal (so a duplicate the ERP refused,
    /// or one it would store, both show).
    pub async fn assert_one_order_per_deal(&self, deal_ids: &[String]) -> anyhow::Result<()> {
        for deal_id in deal_ids {
            let written_back = self.crm.erp_order_number(deal_id).await?;
            let Some(written_back) = written_back else {
                anyhow::bail!("deal {deal_id} has no order number written back");
            };
            let external_ref = self.crm.external_ref(deal_id);
            let orders = self.erp.orders_for(&external_ref).await?;
            anyhow::ensure!(
                orders.len() == 1,
                "deal {deal_id} ({external_ref}) has {} orders in {}: {:?}",
                orders.len(),
                self.erp_kind(),
                orders
                    .iter()
                    .map(|o| self.erp.order_number(o))
                    .collect::<Vec<_>>()
            );
            let number = self.erp.order_number(&orders[0]);
            anyhow::ensure!(
                number.as_deref() == Some(written_back.as_str()),
                "deal {deal_id}: written back {written_back}, but the ERP's order is {number:?}"
            );
        }
        if let Some(creates) = self.effective_order_creates().await? {
            anyhow::ensure!(
                creates == deal_ids.len(),
                "{} answered {creates} successful order creates for {} deals",
                self.erp_kind(),
                deal_ids.len()
            );
        }
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

/// How many requests of a sandbox request `log` hit exactly `path` and were answered 2xx.
pub fn successful_requests_on(log: &[Value], path: &str) -> usize {
    log.iter()
        .filter(|r| r["path"].as_str() == Some(path))
        .filter(|r| {
            r["status"]
                .as_u64()
                .is_some_and(|s| (200..300).contains(&s))
        })
        .count()
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
