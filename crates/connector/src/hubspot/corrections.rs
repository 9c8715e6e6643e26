//! The deal editor: an operator's correction of a dead-lettered deal written
//! back to the HubSpot deal, through the same field maps deal-to-order reads.

use async_trait::async_trait;
use crmerp_proto::Deal;
use serde_json::{Map, Value, json};

use super::{ENDPOINT_UPDATE_DEAL, HubSpotCrm, ShippingSource, check_id};
use crate::ports::DealEditor;
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// The canonical field of the shipping address.
const SHIPPING_ADDRESS: &str = "shippingAddress";

#[async_trait]
impl DealEditor for HubSpotCrm {
    fn editable_fields(&self) -> Vec<&'static str> {
        // Read from the company only, the deal has no address to write.
        if self.config.deal_to_order.shipping == ShippingSource::Company {
            Vec::new()
        } else {
            vec![SHIPPING_ADDRESS]
        }
    }

    async fn apply_correction(
        &self,
        deal_id: &str,
        corrected: &Deal,
        fields: &[&str],
        calls: &CallLog,
    ) -> Result<(), ConnectorError> {
        check_id(deal_id, &ENDPOINT_UPDATE_DEAL)?;
        let editable = self.editable_fields();
        let mut properties = Map::new();
        for field in fields {
            if !editable.contains(field) {
                return Err(ConnectorError::new(
                    ErrorKind::Permanent,
                    ErrorCategory::Validation,
                    super::SYSTEM,
                    ENDPOINT_UPDATE_DEAL.template(),
                    format!("the HubSpot deal's `{field}` cannot be written back"),
                ));
            }
            if *field == SHIPPING_ADDRESS {
                let p = &self.config.deal_to_order.shipping_properties;
                let a = corrected.shipping_address.clone().unwrap_or_default();
                for (name, value) in [
                    (&p.addressee, a.addressee),
                    (&p.street, a.line1),
                    (&p.street2, a.line2),
                    (&p.city, a.city),
                    (&p.state, a.region),
                    (&p.zip, a.postal_code),
                    (&p.country, a.country_code),
                ] {
                    properties.insert(name.clone(), json!(value));
                }
            }
        }
        if properties.is_empty() {
            return Ok(());
        }
        self.update_deal(calls, deal_id, Value::Object(properties))
            .await
    }
}
