//! What the CRM connectors' fulfilment ports share: the status text written
//! onto a deal and the clipping of text to a CRM field's length.

use crmerp_proto::OrderStatus;

/// The canonical status as the text written to a deal's status field:
/// `ORDER_STATUS_PARTIALLY_DELIVERED` becomes `partially_delivered`.
pub(crate) fn status_label(status: OrderStatus) -> String {
    let name = status.as_str_name();
    name.strip_prefix("ORDER_STATUS_")
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// At most `max` characters of `text` (CRMs refuse, rather than cut, text
/// longer than a field holds).
pub(crate) fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_labels_are_the_canonical_names_in_lower_case() {
        assert_eq!(status_label(OrderStatus::Dispatched), "dispatched");
        assert_eq!(
            status_label(OrderStatus::PartiallyDelivered),
            "partially_delivered"
        );
        assert_eq!(clip("abcdef", 3), "abc");
        assert_eq!(clip("äöü", 5), "äöü");
    }
}
