//! HubSpot-defined association types between the supported object types.

use super::schema::ObjectType;

/// A HubSpot-defined association type from one object type to another.
#[derive(Debug)]
pub(crate) struct AssociationDef {
    pub(crate) from: ObjectType,
    pub(crate) to: ObjectType,
    pub(crate) type_id: u32,
    pub(crate) inverse_type_id: u32,
    /// `Some("Primary")` for labelled types, `None` for the unlabelled default.
    pub(crate) label: Option<&'static str>,
    /// The `type` string of v3 association results.
    pub(crate) v3_name: &'static str,
}

const fn assoc(
    from: ObjectType,
    to: ObjectType,
    type_id: u32,
    inverse_type_id: u32,
    label: Option<&'static str>,
    v3_name: &'static str,
) -> AssociationDef {
    AssociationDef {
        from,
        to,
        type_id,
        inverse_type_id,
        label,
        v3_name,
    }
}

use ObjectType::{Companies, Contacts, Deals, LineItems, Notes, Tasks};

const PRIMARY: Option<&str> = Some("Primary");

/// Every association type the sandbox knows (all `HUBSPOT_DEFINED`).
pub(crate) const ASSOCIATIONS: &[AssociationDef] = &[
    assoc(Deals, LineItems, 19, 20, None, "deal_to_line_item"),
    assoc(LineItems, Deals, 20, 19, None, "line_item_to_deal"),
    assoc(
        Deals,
        Companies,
        341,
        342,
        None,
        "deal_to_company_unlabeled",
    ),
    assoc(
        Companies,
        Deals,
        342,
        341,
        None,
        "company_to_deal_unlabeled",
    ),
    assoc(Deals, Companies, 5, 6, PRIMARY, "deal_to_company"),
    assoc(Companies, Deals, 6, 5, PRIMARY, "company_to_deal"),
    assoc(Deals, Contacts, 3, 4, None, "deal_to_contact"),
    assoc(Contacts, Deals, 4, 3, None, "contact_to_deal"),
    assoc(
        Contacts,
        Companies,
        279,
        280,
        None,
        "contact_to_company_unlabeled",
    ),
    assoc(
        Companies,
        Contacts,
        280,
        279,
        None,
        "company_to_contact_unlabeled",
    ),
    assoc(Contacts, Companies, 1, 2, PRIMARY, "contact_to_company"),
    assoc(Companies, Contacts, 2, 1, PRIMARY, "company_to_contact"),
    assoc(Notes, Deals, 214, 213, None, "note_to_deal"),
    assoc(Deals, Notes, 213, 214, None, "deal_to_note"),
    assoc(Notes, Contacts, 202, 201, None, "note_to_contact"),
    assoc(Contacts, Notes, 201, 202, None, "contact_to_note"),
    assoc(Notes, Companies, 190, 189, None, "note_to_company"),
    assoc(Companies, Notes, 189, 190, None, "company_to_note"),
    assoc(Tasks, Deals, 216, 215, None, "task_to_deal"),
    assoc(Deals, Tasks, 215, 216, None, "deal_to_task"),
    assoc(Tasks, Contacts, 204, 203, None, "task_to_contact"),
    assoc(Contacts, Tasks, 203, 204, None, "contact_to_task"),
    assoc(Tasks, Companies, 192, 191, None, "task_to_company"),
    assoc(Companies, Tasks, 191, 192, None, "company_to_task"),
];

/// The association category every known type belongs to.
pub(crate) const HUBSPOT_DEFINED: &str = "HUBSPOT_DEFINED";

/// The association type `type_id` from `from`, which also tells the target object type.
pub(crate) fn association_from(from: ObjectType, type_id: u32) -> Option<&'static AssociationDef> {
    ASSOCIATIONS
        .iter()
        .find(|def| def.from == from && def.type_id == type_id)
}

/// The association type `type_id` between `from` and `to`.
pub(crate) fn association_between(
    from: ObjectType,
    to: ObjectType,
    type_id: u32,
) -> Option<&'static AssociationDef> {
    association_from(from, type_id).filter(|def| def.to == to)
}

/// The unlabelled default association type between two object types.
pub(crate) fn default_association(
    from: ObjectType,
    to: ObjectType,
) -> Option<&'static AssociationDef> {
    ASSOCIATIONS
        .iter()
        .find(|def| def.from == from && def.to == to && def.label.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_association_has_its_inverse() {
        for def in ASSOCIATIONS {
            let inverse = association_between(def.to, def.from, def.inverse_type_id);
            assert!(
                inverse.is_some_and(|inv| inv.inverse_type_id == def.type_id),
                "{def:?}"
            );
            assert!(default_association(def.from, def.to).is_some(), "{def:?}");
        }
    }
}
