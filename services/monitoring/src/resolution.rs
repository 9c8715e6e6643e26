//! Resolution codes explained in plain words for the operator.
//!
//! Codes are `name` or `name:argument` (e.g. `create_item_in_erp:SKU-7`); the
//! argument is woven into the text.

/// What the operator should do about a dead letter with `code`.
pub fn explain(code: &str) -> String {
    let (name, arg) = code.split_once(':').unwrap_or((code, ""));
    let field = arg.replace('_', " ");
    match name {
        "add_missing_field" => format!(
            "The record has no {field}. Add the {field} in the CRM (or in the correction below) and requeue."
        ),
        "fix_address_format" => "The shipping address is incomplete: it needs a street, a city and a country code. Correct the address and requeue.".into(),
        "raise_order_value" => "The order value is below the configured minimum. Raise the deal amount or its line items, or discard the dead letter if the order should not be raised.".into(),
        "create_item_in_erp" => format!(
            "The ERP has no item with SKU {arg}. Create the item in the ERP (or fix the SKU on the line item) and requeue."
        ),
        "deduplicate_item_in_erp" => format!(
            "The ERP has more than one item with SKU {arg}. Make the SKU unique in the ERP and requeue."
        ),
        "check_erp_credentials" => "The ERP rejected our credentials. Check the ERP integration token and its permissions, then requeue.".into(),
        "check_crm_credentials" => "The CRM rejected our credentials. Check the CRM private-app token, then requeue.".into(),
        "grant_crm_scopes" => "The CRM token lacks a permission (scope) the flow needs. Grant it in the CRM app settings, then requeue.".into(),
        "discard_or_fix_producer" => "The message could not be read at all. Discard it, and have the producer that sent it fixed.".into(),
        "fix_erp_reference" => "The ERP does not know a record the order refers to (customer, item or subsidiary). Fix the reference in the ERP or the CRM mapping, then requeue.".into(),
        "fix_external_ref" => "The external reference of the order is invalid for the ERP. Check the deal id and the ERP's external-id rules, then requeue.".into(),
        "fix_crm_data" | "fix_crm_field" => {
            if arg.is_empty() {
                "The CRM record holds a value the flow cannot use. Correct it in the CRM and requeue.".into()
            } else {
                format!("The CRM field {arg} holds a value the flow cannot use. Correct it and requeue.")
            }
        }
        "fix_line_item" => format!(
            "A line item has an invalid {field}. Correct the line item and requeue."
        ),
        "" => "No resolution is recommended: read the error detail, then requeue or discard.".into(),
        other => format!(
            "Resolution \"{other}\"{}: read the error detail, correct the cause, then requeue or discard.",
            if arg.is_empty() { String::new() } else { format!(" for {arg}") }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_has_plain_words() {
        for (code, expected) in [
            ("add_missing_field:shipping_address", "no shipping address"),
            ("fix_address_format", "street, a city and a country"),
            ("raise_order_value", "below the configured minimum"),
            ("create_item_in_erp:SKU-7", "no item with SKU SKU-7"),
            ("check_erp_credentials", "rejected our credentials"),
            ("discard_or_fix_producer", "Discard it"),
            ("fix_erp_reference", "does not know a record"),
            ("fix_line_item:quantity", "invalid quantity"),
        ] {
            let text = explain(code);
            assert!(text.contains(expected), "{code}: {text}");
        }
        assert!(explain("something_new:x").contains("something_new"));
    }
}
