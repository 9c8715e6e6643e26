//! Salesforce inbound notifications: Outbound Messages (SOAP 1.1, checked by
//! organisation id, acknowledged with `<Ack>true</Ack>`) and JSON callouts from
//! a Flow or Apex trigger (signed with Standard Webhooks, see
//! [`crate::standard_webhooks`]).

use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::events::Event;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

/// The inbound half of `[crm.salesforce]`: what ingress needs to check
/// Outbound Messages and Flow/Apex callouts. Flattened into
/// [`SalesforceConfig`](super::SalesforceConfig), so the keys sit in the
/// vendor section beside the API settings.
///
/// `Debug` is safe to log: the secret prints as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct WebhookSettings {
    /// The org id Outbound Messages must carry (15 or 18 characters). Empty:
    /// Outbound Messages are not accepted.
    pub organization_id: String,
    /// Secret of the Standard Webhooks HMAC on Flow/Apex callouts
    /// (`whsec_<base64>` or raw). Empty: callouts are not accepted.
    #[schemars(with = "crate::config::Secret")]
    pub callout_secret: SecretString,
    /// Opportunity stages that count as won (default `["Closed Won"]`).
    pub won_stages: Vec<String>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            organization_id: String::new(),
            callout_secret: SecretString::default(),
            won_stages: vec!["Closed Won".into()],
        }
    }
}

impl WebhookSettings {
    /// The org Outbound Messages must come from, when configured.
    pub fn organization_id(&self) -> Option<&str> {
        Some(self.organization_id.as_str()).filter(|id| !id.is_empty())
    }

    /// The callout signing secret, when configured.
    pub fn callout_secret(&self) -> Option<&SecretString> {
        Some(&self.callout_secret).filter(|secret| !secret.expose_secret().is_empty())
    }
}

/// The answer Salesforce needs to stop re-sending an Outbound Message.
pub const ACK_RESPONSE: &str = r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"#;

/// An Outbound Message body that is not the documented SOAP shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Salesforce outbound message: {0}")]
pub struct OutboundMessageError(String);

/// One `<Notification>`: the record and the fields the message definition selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The notification id; Salesforce keeps it across re-sends of one notification.
    pub id: String,
    /// The sObject type, from `xsi:type="sf:Opportunity"`.
    pub object_type: String,
    /// Field values by API name (`Id`, `StageName`, ...).
    pub fields: HashMap<String, String>,
}

/// A parsed `<notifications>` element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutboundMessage {
    /// The sending org (18 characters).
    pub organization_id: String,
    /// The outbound message definition.
    pub action_id: String,
    /// 1 to 100 notifications.
    pub notifications: Vec<Notification>,
}

/// True when `a` and `b` name the same org: ids compare on their case-sensitive
/// 15-character form (the 18-character form only adds a case checksum).
pub fn same_org(a: &str, b: &str) -> bool {
    let short = |s: &str| s.get(..15).map(str::to_owned);
    matches!(a.len(), 15 | 18) && matches!(b.len(), 15 | 18) && short(a) == short(b)
}

/// Parses an Outbound Message envelope.
pub fn parse_outbound_message(body: &[u8]) -> Result<OutboundMessage, OutboundMessageError> {
    let bad = |why: String| OutboundMessageError(why);
    let mut reader = Reader::from_reader(body);
    let mut path: Vec<String> = Vec::new();
    let mut message = OutboundMessage::default();
    let mut current: Option<Notification> = None;
    let mut text = String::new();
    let mut saw_envelope = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| bad(format!("XML error at {}: {e}", reader.buffer_position())))?;
        match event {
            Event::Start(start) => {
                let name = local(start.local_name().as_ref());
                if path.is_empty() {
                    saw_envelope = name == "Envelope";
                }
                if name == "Notification" && parent(&path) == Some("notifications") {
                    current = Some(Notification {
                        id: String::new(),
                        object_type: String::new(),
                        fields: HashMap::new(),
                    });
                }
                if name == "sObject"
                    && let Some(n) = current.as_mut()
                {
                    for attr in start.attributes().flatten() {
                        if local(attr.key.local_name().as_ref()) == "type" {
                            let value = String::from_utf8_lossy(&attr.value).into_owned();
                            n.object_type = value.rsplit(':').next().unwrap_or_default().to_owned();
                        }
                    }
                }
                path.push(name);
                text.clear();
            }
            Event::Text(t) => {
                text.push_str(&t.xml_content().map_err(|e| bad(e.to_string()))?);
            }
            Event::GeneralRef(r) => {
                let name = String::from_utf8_lossy(&r).into_owned();
                match r.resolve_char_ref().map_err(|e| bad(e.to_string()))? {
                    Some(ch) => text.push(ch),
                    None => text.push_str(match name.as_str() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        other => return Err(bad(format!("unknown entity &{other};"))),
                    }),
                }
            }
            Event::CData(c) => text.push_str(&String::from_utf8_lossy(&c)),
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                // Trimmed here, not by the reader, which would also trim around entities.
                let value = std::mem::take(&mut text).trim().to_owned();
                match (parent(&path), name.as_str()) {
                    (Some("notifications"), "OrganizationId") => message.organization_id = value,
                    (Some("notifications"), "ActionId") => message.action_id = value,
                    (Some("notifications"), "Notification") => {
                        if let Some(n) = current.take() {
                            message.notifications.push(n);
                        }
                    }
                    (Some("Notification"), "Id") => {
                        if let Some(n) = current.as_mut() {
                            n.id = value;
                        }
                    }
                    (Some("sObject"), field) => {
                        if let Some(n) = current.as_mut() {
                            n.fields.insert(field.to_owned(), value);
                        }
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_envelope {
        return Err(bad("the root is not a SOAP Envelope".into()));
    }
    if message.organization_id.is_empty() {
        return Err(bad("no OrganizationId".into()));
    }
    if message.notifications.is_empty() {
        return Err(bad("no Notification".into()));
    }
    if let Some(n) = message
        .notifications
        .iter()
        .find(|n| n.id.is_empty() || n.fields.get("Id").is_none_or(String::is_empty))
    {
        return Err(bad(format!(
            "a notification without Id or sObject Id ({:?})",
            n.id
        )));
    }
    Ok(message)
}

fn local(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

fn parent(path: &[String]) -> Option<&str> {
    path.last().map(String::as_str)
}

/// True when an Outbound Message notification reports a won opportunity: by
/// `IsWon` or `StageName` when the message definition selected them; with
/// neither, the workflow rule's criteria (which should be `IsWon = true`) decide.
pub fn notification_is_won(notification: &Notification, won_stages: &[String]) -> bool {
    if notification.object_type != "Opportunity" {
        return false;
    }
    if let Some(won) = notification.fields.get("IsWon") {
        return won == "true";
    }
    match notification.fields.get("StageName") {
        Some(stage) => won_stages.iter().any(|s| s == stage),
        None => true,
    }
}

/// The JSON body of a Flow/Apex callout (our contract; see the README).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Callout {
    /// The sending org.
    pub organization_id: String,
    /// The opportunity id.
    pub opportunity_id: String,
    /// Its stage after the change.
    pub stage_name: String,
    /// When the opportunity changed (ISO 8601), if sent.
    #[serde(default)]
    pub last_modified_date: Option<String>,
}

/// Parses a callout body.
pub fn parse_callout(body: &[u8]) -> Result<Callout, serde_json::Error> {
    serde_json::from_slice(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample from the Outbound Messaging documentation ("Understanding the
    /// outbound message"), with StageName selected.
    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00Dxx0000001gERWEA</OrganizationId>
   <ActionId>04kxx0000000007EAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/62.0/00Dxx0000001gER</EnterpriseUrl>
   <PartnerUrl>https://example.my.salesforce.com/services/Soap/u/62.0/00Dxx0000001gER</PartnerUrl>
   <Notification>
    <Id>04lxx0000000JKLAA2</Id>
    <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>006xx000001a2b3AAA</sf:Id>
     <sf:Name>Acme &amp; Co &#8211; 200</sf:Name>
     <sf:StageName>Closed Won</sf:StageName>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"#;

    #[test]
    fn parses_the_documented_sample() {
        let message = parse_outbound_message(SAMPLE.as_bytes()).expect("parses");
        assert_eq!(message.organization_id, "00Dxx0000001gERWEA");
        assert_eq!(message.action_id, "04kxx0000000007EAA");
        let n = &message.notifications[0];
        assert_eq!(n.id, "04lxx0000000JKLAA2");
        assert_eq!(n.object_type, "Opportunity");
        assert_eq!(n.fields["Id"], "006xx000001a2b3AAA");
        assert_eq!(n.fields["Name"], "Acme & Co \u{2013} 200");
        assert!(notification_is_won(n, &["Closed Won".into()]));
        assert!(!notification_is_won(n, &["Won".into()]));
        assert!(same_org("00Dxx0000001gER", &message.organization_id));
        assert!(!same_org("00Dxx0000001gEX", &message.organization_id));
    }

    #[test]
    fn rejects_what_is_not_an_outbound_message() {
        assert!(parse_outbound_message(b"{\"json\":true}").is_err());
        assert!(parse_outbound_message(b"<a><b>").is_err());
        let no_notifications = SAMPLE
            .replace("<Notification>", "<X>")
            .replace("</Notification>", "</X>");
        assert!(parse_outbound_message(no_notifications.as_bytes()).is_err());
    }

    #[test]
    fn parses_a_callout() {
        let callout = parse_callout(br#"{"organizationId":"00Dxx0000001gER","opportunityId":"006xx000001a2b3AAA","stageName":"Closed Won"}"#)
            .expect("parses");
        assert_eq!(callout.stage_name, "Closed Won");
        assert!(parse_callout(b"[]").is_err());
    }
}
