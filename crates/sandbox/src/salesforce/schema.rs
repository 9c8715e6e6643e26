//! The simulated schema: sObject types, their key prefixes, fields (the
//! integration's custom fields included), required and system-computed fields,
//! and which types have an owner.

use axum::http::StatusCode;

use super::error::SfError;

/// An sObject type: key prefix, fields, required fields and system-computed fields.
pub(crate) struct ObjectSpec {
    pub(crate) name: &'static str,
    pub(crate) prefix: &'static str,
    pub(crate) fields: &'static [&'static str],
    pub(crate) required: &'static [&'static str],
    pub(crate) computed: &'static [&'static str],
}

const SYSTEM: &[&str] = &["Id", "CreatedDate", "LastModifiedDate"];
const ADDRESS: &[&str] = &[
    "BillingStreet",
    "BillingCity",
    "BillingState",
    "BillingPostalCode",
    "BillingCountry",
    "ShippingStreet",
    "ShippingCity",
    "ShippingState",
    "ShippingPostalCode",
    "ShippingCountry",
];

/// The simulated schema, custom fields of the integration included.
pub(crate) const OBJECTS: &[ObjectSpec] = &[
    ObjectSpec {
        name: "Account",
        prefix: "001",
        fields: &[
            "Name",
            "Website",
            "Phone",
            "Type",
            "Industry",
            "Description",
            "OwnerId",
        ],
        required: &["Name"],
        computed: &[],
    },
    ObjectSpec {
        name: "Opportunity",
        prefix: "006",
        fields: &[
            "Name",
            "StageName",
            "Amount",
            "CloseDate",
            "AccountId",
            "CurrencyIsoCode",
            "Description",
            "Probability",
            "ERP_Order_Number__c",
            "ERP_Sync_Status__c",
            "ERP_Sync_Error__c",
            "Fulfilment_Status__c",
            "Carrier__c",
            "Tracking_Number__c",
            "Tracking_URL__c",
            "Delivered_At__c",
            "OwnerId",
            "IsWon",
            "IsClosed",
        ],
        required: &["Name", "StageName", "CloseDate"],
        computed: &["IsWon", "IsClosed"],
    },
    ObjectSpec {
        name: "OpportunityLineItem",
        prefix: "00k",
        fields: &[
            "OpportunityId",
            "Product2Id",
            "PricebookEntryId",
            "Quantity",
            "UnitPrice",
            "SortOrder",
            "Description",
            "ProductCode",
            "Name",
            "TotalPrice",
        ],
        required: &["OpportunityId", "Quantity", "UnitPrice"],
        computed: &["ProductCode", "Name", "TotalPrice"],
    },
    ObjectSpec {
        name: "Product2",
        prefix: "01t",
        fields: &["Name", "ProductCode", "IsActive", "Family", "Description"],
        required: &["Name"],
        computed: &[],
    },
    ObjectSpec {
        name: "Task",
        prefix: "00T",
        fields: &[
            "WhatId",
            "WhoId",
            "Subject",
            "Description",
            "Status",
            "Priority",
            "ActivityDate",
            "OwnerId",
            "CrmErp_Key__c",
            "AccountId",
            "IsClosed",
            "CompletedDateTime",
        ],
        required: &[],
        computed: &["AccountId", "IsClosed", "CompletedDateTime"],
    },
    ObjectSpec {
        name: "User",
        prefix: "005",
        fields: &[
            "Username",
            "FirstName",
            "LastName",
            "Name",
            "Email",
            "IsActive",
        ],
        required: &["Username", "LastName", "Email"],
        computed: &["Name"],
    },
];

/// Types whose records have an owner (`OwnerId`, the creating user by default).
pub(crate) const OWNED: &[&str] = &["Account", "Opportunity", "Task"];

/// The sObject type `name`.
pub(crate) fn spec(name: &str) -> Result<&'static ObjectSpec, SfError> {
    OBJECTS.iter().find(|s| s.name == name).ok_or_else(|| {
        SfError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!(
                "The requested resource does not exist: sObject type '{name}' is not supported."
            ),
        )
    })
}

impl ObjectSpec {
    /// Every readable field.
    pub(crate) fn readable(&self, field: &str) -> bool {
        SYSTEM.contains(&field)
            || self.fields.contains(&field)
            || (self.name == "Account" && ADDRESS.contains(&field))
    }

    pub(crate) fn writable(&self, field: &str) -> bool {
        self.readable(field) && !SYSTEM.contains(&field) && !self.computed.contains(&field)
    }
}
