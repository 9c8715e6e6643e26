//! Creating business partners, products and sales orders with the checks SAP
//! applies: known properties only, mandatory organisational data, existing
//! materials and sold-to parties in the sales area. Deep inserts are atomic.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::error::SapError;
use super::store::{Entity, S4Data, now_offset, text, today};

/// Writable `A_SalesOrder` properties the simulator honours.
const ORDER_FIELDS: &[&str] = &[
    "SalesOrderType",
    "SalesOrganization",
    "DistributionChannel",
    "OrganizationDivision",
    "SalesGroup",
    "SalesOffice",
    "SoldToParty",
    "PurchaseOrderByCustomer",
    "PurchaseOrderByShipToParty",
    "ExternalDocumentID",
    "CustomerPurchaseOrderType",
    "SalesOrderDate",
    "TransactionCurrency",
    "RequestedDeliveryDate",
    "ShippingCondition",
    "CompleteDeliveryIsDefined",
    "IncotermsClassification",
    "IncotermsLocation1",
    "CustomerPaymentTerms",
    "PricingDate",
    "HeaderBillingBlockReason",
    "DeliveryBlockReason",
    "to_Item",
    "to_Partner",
];
/// Writable `A_SalesOrderItem` properties.
const ITEM_FIELDS: &[&str] = &[
    "SalesOrderItem",
    "Material",
    "SalesOrderItemText",
    "RequestedQuantity",
    "RequestedQuantityUnit",
    "MaterialByCustomer",
    "PurchaseOrderByCustomer",
    "ProductionPlant",
    "to_PricingElement",
];
/// Writable `A_SalesOrderItemPrElement` properties.
const PRICE_FIELDS: &[&str] = &[
    "ConditionType",
    "ConditionRateValue",
    "ConditionCurrency",
    "ConditionQuantity",
    "ConditionQuantityUnit",
];
/// Writable `A_SalesOrderHeaderPartner` properties (the shared metadata's,
/// plus `to_Address` of the releases that have `A_SalesOrderPartnerAddress`).
const ORDER_PARTNER_FIELDS: &[&str] = &[
    "PartnerFunction",
    "Customer",
    "Supplier",
    "Personnel",
    "ContactPerson",
    "to_Address",
];
/// Writable `A_SalesOrderPartnerAddress` properties the simulator honours.
const ORDER_PARTNER_ADDRESS_FIELDS: &[&str] = &[
    "AddresseeFullName",
    "OrganizationName1",
    "OrganizationName2",
    "OrganizationName3",
    "OrganizationName4",
    "StreetName",
    "StreetPrefixName1",
    "StreetPrefixName2",
    "StreetSuffixName1",
    "StreetSuffixName2",
    "HouseNumber",
    "CityName",
    "DistrictName",
    "PostalCode",
    "Country",
    "Region",
    "CorrespondenceLanguage",
    "EmailAddress",
    "PhoneNumber",
];
/// Partner functions (SAP's internal codes) taking a customer number: sold-to,
/// ship-to, bill-to, payer.
const CUSTOMER_FUNCTIONS: &[&str] = &["AG", "WE", "RE", "RG"];

/// Writable `A_BusinessPartner` properties.
const PARTNER_FIELDS: &[&str] = &[
    "BusinessPartnerCategory",
    "BusinessPartnerGrouping",
    "OrganizationBPName1",
    "OrganizationBPName2",
    "OrganizationBPName3",
    "OrganizationBPName4",
    "FirstName",
    "LastName",
    "SearchTerm1",
    "SearchTerm2",
    "BusinessPartnerIDByExtSystem",
    "CorrespondenceLanguage",
    "Language",
    "to_BusinessPartnerAddress",
    "to_BusinessPartnerRole",
    "to_Customer",
];
const ADDRESS_FIELDS: &[&str] = &[
    "Country",
    "CityName",
    "PostalCode",
    "StreetName",
    "HouseNumber",
    "Region",
    "Language",
    "to_EmailAddress",
    "to_PhoneNumber",
];
const CUSTOMER_ROLES: &[&str] = &["FLCU00", "FLCU01"];

fn check_fields(body: &Map<String, Value>, allowed: &[&str], entity: &str) -> Result<(), SapError> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(SapError::bad_request(
            "/IWBEP/CM_MGW_RT/022",
            format!("Property '{key}' is invalid or not supported for creation of {entity}"),
        )),
        None => Ok(()),
    }
}

/// `{"results":[…]}` of a deep-insert navigation property (absent: empty).
fn results<'a>(
    body: &'a Map<String, Value>,
    key: &str,
) -> Result<Vec<&'a Map<String, Value>>, SapError> {
    match body.get(key) {
        None => Ok(Vec::new()),
        Some(value) => value
            .get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                SapError::bad_request(
                    "/IWBEP/CM_MGW_RT/021",
                    format!("Navigation property '{key}' must be {{\"results\":[...]}}"),
                )
            })?
            .iter()
            .map(|v| {
                v.as_object().ok_or_else(|| {
                    SapError::bad_request(
                        "/IWBEP/CM_MGW_RT/021",
                        format!("Entries of '{key}' must be objects"),
                    )
                })
            })
            .collect(),
    }
}

fn decimal(value: Option<&Value>, property: &str) -> Result<Decimal, SapError> {
    value
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Decimal>().ok())
        .ok_or_else(|| {
            SapError::bad_request(
                "/IWBEP/CM_MGW_RT/004",
                format!("Invalid value for property '{property}': Edm.Decimal values are strings such as \"2.000\""),
            )
        })
}

fn required<'a>(body: &'a Map<String, Value>, key: &str, code: &str) -> Result<&'a str, SapError> {
    text(body, key)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| SapError::bad_request(code, format!("Enter a value for field {key}")))
}

/// `POST A_BusinessPartner` (deep insert of address, roles and customer sales areas).
pub(super) fn create_partner(
    data: &mut S4Data,
    body: &Map<String, Value>,
) -> Result<Entity, SapError> {
    check_fields(body, PARTNER_FIELDS, "A_BusinessPartner")?;
    let category = required(body, "BusinessPartnerCategory", "R11/401")?;
    if category == "2" {
        required(body, "OrganizationBPName1", "R11/401")?;
    } else if category != "1" {
        return Err(SapError::bad_request(
            "R11/005",
            format!("Business partner category {category} is not defined"),
        ));
    }
    for address in results(body, "to_BusinessPartnerAddress")? {
        check_fields(address, ADDRESS_FIELDS, "A_BusinessPartnerAddress")?;
        required(address, "Country", "AM/216")?;
    }
    let roles: Vec<String> = results(body, "to_BusinessPartnerRole")?
        .iter()
        .map(|r| required(r, "BusinessPartnerRole", "R11/401").map(str::to_owned))
        .collect::<Result<_, _>>()?;
    let mut areas = Vec::new();
    if let Some(customer) = body.get("to_Customer") {
        let customer = customer.as_object().ok_or_else(|| {
            SapError::bad_request("/IWBEP/CM_MGW_RT/021", "to_Customer must be an object")
        })?;
        for area in results(customer, "to_CustomerSalesArea")? {
            areas.push((
                required(area, "SalesOrganization", "R11/401")?.to_owned(),
                required(area, "DistributionChannel", "R11/401")?.to_owned(),
                required(area, "Division", "R11/401")?.to_owned(),
            ));
        }
    }
    let number = data.next_partner();
    let is_customer = roles.iter().any(|r| CUSTOMER_ROLES.contains(&r.as_str()));
    let name = [
        text(body, "OrganizationBPName1"),
        text(body, "OrganizationBPName2"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let mut bp = Map::new();
    bp.insert("BusinessPartner".into(), json!(number));
    bp.insert(
        "Customer".into(),
        json!(if is_customer {
            number.clone()
        } else {
            String::new()
        }),
    );
    bp.insert("Supplier".into(), json!(""));
    bp.insert("BusinessPartnerCategory".into(), json!(category));
    bp.insert("BusinessPartnerFullName".into(), json!(name));
    bp.insert("BusinessPartnerName".into(), json!(name));
    bp.insert(
        "BusinessPartnerGrouping".into(),
        json!(text(body, "BusinessPartnerGrouping").unwrap_or("BP02")),
    );
    bp.insert(
        "BusinessPartnerUUID".into(),
        json!(uuid::Uuid::new_v4().to_string()),
    );
    for key in [
        "OrganizationBPName1",
        "OrganizationBPName2",
        "OrganizationBPName3",
        "OrganizationBPName4",
        "FirstName",
        "LastName",
        "SearchTerm1",
        "SearchTerm2",
        "BusinessPartnerIDByExtSystem",
    ] {
        bp.insert(key.into(), json!(text(body, key).unwrap_or_default()));
    }
    bp.insert(
        "CorrespondenceLanguage".into(),
        json!(text(body, "CorrespondenceLanguage").unwrap_or("EN")),
    );
    bp.insert("CreatedByUser".into(), json!("CC0000000001"));
    bp.insert("CreationDate".into(), today());
    bp.insert(
        "CreationTime".into(),
        json!(chrono::Utc::now().format("PT%HH%MM%SS").to_string()),
    );
    bp.insert("LastChangeDate".into(), Value::Null);
    bp.insert("BusinessPartnerIsBlocked".into(), json!(false));
    bp.insert("IsMarkedForArchiving".into(), json!(false));
    for (org, channel, division) in areas {
        data.sales_areas
            .push((number.clone(), org, channel, division));
    }
    data.business_partners.push(bp.clone());
    Ok(bp)
}

/// `POST A_Product` (API_PRODUCT_SRV): the material master the simulator checks items against.
pub(super) fn create_product(
    data: &mut S4Data,
    body: &Map<String, Value>,
) -> Result<Entity, SapError> {
    check_fields(
        body,
        &[
            "Product",
            "ProductType",
            "BaseUnit",
            "ProductGroup",
            "to_Description",
        ],
        "A_Product",
    )?;
    let product = required(body, "Product", "M3/193")?.to_uppercase();
    if S4Data::find(&data.products, "Product", &product).is_some() {
        return Err(SapError::bad_request(
            "M3/040",
            format!("Material {product} already exists"),
        ));
    }
    let description = results(body, "to_Description")?
        .first()
        .and_then(|d| text(d, "ProductDescription"))
        .unwrap_or_default()
        .to_owned();
    let mut entity = Map::new();
    entity.insert("Product".into(), json!(product));
    entity.insert(
        "ProductType".into(),
        json!(text(body, "ProductType").unwrap_or("FERT")),
    );
    entity.insert(
        "BaseUnit".into(),
        json!(text(body, "BaseUnit").unwrap_or("PC")),
    );
    entity.insert(
        "ProductGroup".into(),
        json!(text(body, "ProductGroup").unwrap_or("L001")),
    );
    entity.insert("ProductDescription".into(), json!(description));
    entity.insert("CreationDate".into(), today());
    data.products.push(entity.clone());
    Ok(entity)
}

/// The order's partners: those sent in `to_Partner` (with a document address
/// where given), then SAP's partner determination fills sold-to, ship-to,
/// bill-to and payer from the sold-to party for every function not sent.
fn order_partners(
    data: &S4Data,
    body: &Map<String, Value>,
    number: &str,
    sold_to: &str,
) -> Result<(Vec<Entity>, Vec<Entity>), SapError> {
    let mut partners: Vec<Entity> = Vec::new();
    let mut addresses = Vec::new();
    for partner in results(body, "to_Partner")? {
        check_fields(partner, ORDER_PARTNER_FIELDS, "A_SalesOrderHeaderPartner")?;
        let function = required(partner, "PartnerFunction", "VP/112")?;
        if partners
            .iter()
            .any(|p| text(p, "PartnerFunction") == Some(function))
        {
            return Err(SapError::bad_request(
                "VP/203",
                format!("Partner function {function} is entered more than once"),
            ));
        }
        if !CUSTOMER_FUNCTIONS.contains(&function) {
            return Err(SapError::bad_request(
                "VP/112",
                format!(
                    "Partner function {function} is not allowed in the partner determination procedure"
                ),
            ));
        }
        let customer = required(partner, "Customer", "VP/112")?;
        if S4Data::find(&data.business_partners, "Customer", customer).is_none() {
            return Err(SapError::bad_request(
                "VP/102",
                format!("Partner {customer} does not exist"),
            ));
        }
        let mut stored = Map::new();
        stored.insert("SalesOrder".into(), json!(number));
        stored.insert("PartnerFunction".into(), json!(function));
        stored.insert("Customer".into(), json!(customer));
        for key in ["Supplier", "Personnel", "ContactPerson"] {
            stored.insert(key.into(), json!(text(partner, key).unwrap_or_default()));
        }
        let sent = results(partner, "to_Address")?;
        if sent.len() > 1 {
            return Err(SapError::bad_request(
                "V1/889",
                format!("Partner {function} can have only one address"),
            ));
        }
        if let Some(address) = sent.first() {
            check_fields(
                address,
                ORDER_PARTNER_ADDRESS_FIELDS,
                "A_SalesOrderPartnerAddress",
            )?;
            required(address, "Country", "AM/216")?;
            let mut stored_address = Map::new();
            stored_address.insert("SalesOrder".into(), json!(number));
            stored_address.insert("PartnerFunction".into(), json!(function));
            stored_address.insert("AddressRepresentationCode".into(), json!(""));
            for key in ORDER_PARTNER_ADDRESS_FIELDS {
                stored_address.insert((*key).into(), json!(text(address, key).unwrap_or_default()));
            }
            addresses.push(stored_address);
        }
        partners.push(stored);
    }
    for function in CUSTOMER_FUNCTIONS {
        if !partners
            .iter()
            .any(|p| text(p, "PartnerFunction") == Some(*function))
        {
            let mut stored = Map::new();
            stored.insert("SalesOrder".into(), json!(number));
            stored.insert("PartnerFunction".into(), json!(function));
            stored.insert("Customer".into(), json!(sold_to));
            for key in ["Supplier", "Personnel", "ContactPerson"] {
                stored.insert(key.into(), json!(""));
            }
            partners.push(stored);
        }
    }
    Ok((partners, addresses))
}

/// `POST A_SalesOrder` with `to_Item` (and item `to_PricingElement`) and `to_Partner`.
pub(super) fn create_order(
    data: &mut S4Data,
    body: &Map<String, Value>,
    manual_conditions: &[String],
) -> Result<Entity, SapError> {
    check_fields(body, ORDER_FIELDS, "A_SalesOrder")?;
    let order_type = required(body, "SalesOrderType", "V1/012")?;
    let org = required(body, "SalesOrganization", "V1/012")?;
    let channel = required(body, "DistributionChannel", "V1/012")?;
    let division = required(body, "OrganizationDivision", "V1/012")?;
    let sold_to = required(body, "SoldToParty", "V1/012")?;
    let partner = S4Data::find(&data.business_partners, "Customer", sold_to).ok_or_else(|| {
        SapError::bad_request("VP/102", format!("Sold-to party {sold_to} does not exist"))
    })?;
    if !data.in_sales_area(sold_to, org, channel, division) {
        return Err(SapError::bad_request(
            "VP/199",
            format!(
                "Sold-to party {sold_to} not maintained for sales area {org} {channel} {division}"
            ),
        ));
    }
    let partner_name = text(partner, "BusinessPartnerFullName")
        .unwrap_or_default()
        .to_owned();
    let items = results(body, "to_Item")?;
    if items.is_empty() {
        return Err(SapError::bad_request(
            "V1/555",
            "The sales document is not yet complete: enter at least one item",
        ));
    }
    let currency = text(body, "TransactionCurrency")
        .filter(|c| !c.is_empty())
        .unwrap_or("USD")
        .to_owned();
    let number = data.next_order();
    let (partners, partner_addresses) = order_partners(data, body, &number, sold_to)?;
    let mut built = Vec::with_capacity(items.len());
    let mut elements = Vec::new();
    let mut total = Decimal::ZERO;
    for (n, item) in (1u32..).zip(items) {
        check_fields(item, ITEM_FIELDS, "A_SalesOrderItem")?;
        let material = required(item, "Material", "V1/320")?.to_uppercase();
        let product = S4Data::find(&data.products, "Product", &material).ok_or_else(|| {
            SapError::bad_request(
                "M3/305",
                format!("The material {material} does not exist or is not activated"),
            )
        })?;
        let quantity = decimal(item.get("RequestedQuantity"), "RequestedQuantity")?;
        if quantity <= Decimal::ZERO {
            return Err(SapError::bad_request(
                "V1/311",
                "Enter a quantity greater than zero",
            ));
        }
        let item_number = text(item, "SalesOrderItem")
            .map(str::to_owned)
            .unwrap_or_else(|| (n * 10).to_string());
        // Without a manual price the simulator has no condition records: the item is priced 0.
        let mut net = Decimal::ZERO;
        for (counter, element) in (1u32..).zip(results(item, "to_PricingElement")?) {
            check_fields(element, PRICE_FIELDS, "A_SalesOrderItemPrElement")?;
            let condition = required(element, "ConditionType", "V1/250")?;
            if !manual_conditions.iter().any(|c| c == condition) {
                return Err(SapError::bad_request(
                    "V1/250",
                    format!("Condition type {condition} cannot be entered manually"),
                ));
            }
            let rate = decimal(element.get("ConditionRateValue"), "ConditionRateValue")?;
            let per = match element.get("ConditionQuantity") {
                None => Decimal::ONE,
                Some(value) => decimal(Some(value), "ConditionQuantity")?,
            };
            if per <= Decimal::ZERO {
                return Err(SapError::bad_request(
                    "V1/251",
                    "The pricing unit of a condition must be greater than zero",
                ));
            }
            net = (quantity * rate / per).round_dp(2);
            let mut stored = Map::new();
            stored.insert("SalesOrder".into(), json!(number));
            stored.insert("SalesOrderItem".into(), json!(item_number));
            stored.insert("PricingProcedureStep".into(), json!("10"));
            stored.insert("PricingProcedureCounter".into(), json!(counter.to_string()));
            stored.insert("ConditionType".into(), json!(condition));
            stored.insert("ConditionRateValue".into(), json!(rate.to_string()));
            stored.insert(
                "ConditionCurrency".into(),
                json!(text(element, "ConditionCurrency").unwrap_or(&currency)),
            );
            stored.insert("ConditionQuantity".into(), json!(per.to_string()));
            stored.insert(
                "ConditionQuantityUnit".into(),
                json!(text(element, "ConditionQuantityUnit").unwrap_or_default()),
            );
            stored.insert("ConditionAmount".into(), json!(net.to_string()));
            stored.insert("TransactionCurrency".into(), json!(currency));
            stored.insert("ConditionIsManuallyChanged".into(), json!(true));
            elements.push(stored);
        }
        total += net;
        let mut entity = Map::new();
        entity.insert("SalesOrder".into(), json!(number));
        entity.insert("SalesOrderItem".into(), json!(item_number));
        entity.insert("HigherLevelItem".into(), json!("0"));
        entity.insert("SalesOrderItemCategory".into(), json!("TAN"));
        entity.insert(
            "SalesOrderItemText".into(),
            json!(
                text(item, "SalesOrderItemText")
                    .or(text(product, "ProductDescription"))
                    .unwrap_or_default()
            ),
        );
        entity.insert(
            "PurchaseOrderByCustomer".into(),
            json!(text(body, "PurchaseOrderByCustomer").unwrap_or_default()),
        );
        entity.insert("Material".into(), json!(material));
        entity.insert("MaterialByCustomer".into(), json!(""));
        entity.insert("PricingDate".into(), today());
        entity.insert(
            "RequestedQuantity".into(),
            json!(quantity.round_dp(3).to_string()),
        );
        entity.insert(
            "RequestedQuantityUnit".into(),
            json!(
                text(item, "RequestedQuantityUnit")
                    .or(text(product, "BaseUnit"))
                    .unwrap_or("PC")
            ),
        );
        entity.insert("TransactionCurrency".into(), json!(currency));
        entity.insert("NetAmount".into(), json!(net.to_string()));
        entity.insert(
            "MaterialGroup".into(),
            json!(text(product, "ProductGroup").unwrap_or_default()),
        );
        entity.insert("ProductionPlant".into(), json!("1010"));
        entity.insert("SDProcessStatus".into(), json!("A"));
        entity.insert("DeliveryStatus".into(), json!("A"));
        entity.insert("OrderRelatedBillingStatus".into(), json!(""));
        built.push(entity);
    }
    let mut order = Map::new();
    order.insert("SalesOrder".into(), json!(number));
    for key in [
        "SalesOrderType",
        "SalesOrganization",
        "DistributionChannel",
        "OrganizationDivision",
    ] {
        order.insert(key.into(), body[key].clone());
    }
    order.insert("SalesOrderType".into(), json!(order_type));
    for key in [
        "SalesGroup",
        "SalesOffice",
        "PurchaseOrderByCustomer",
        "PurchaseOrderByShipToParty",
        "ExternalDocumentID",
        "CustomerPurchaseOrderType",
        "ShippingCondition",
        "IncotermsClassification",
        "CustomerPaymentTerms",
        "HeaderBillingBlockReason",
        "DeliveryBlockReason",
    ] {
        order.insert(key.into(), json!(text(body, key).unwrap_or_default()));
    }
    order.insert("SoldToParty".into(), json!(sold_to));
    order.insert("CreationDate".into(), today());
    order.insert("CreatedByUser".into(), json!("CC0000000001"));
    order.insert("LastChangeDate".into(), Value::Null);
    order.insert("LastChangeDateTime".into(), now_offset());
    order.insert(
        "SalesOrderDate".into(),
        body.get("SalesOrderDate").cloned().unwrap_or_else(today),
    );
    order.insert("PricingDate".into(), today());
    order.insert("RequestedDeliveryDate".into(), today());
    order.insert("TotalNetAmount".into(), json!(total.to_string()));
    order.insert("TransactionCurrency".into(), json!(currency));
    order.insert("CompleteDeliveryIsDefined".into(), json!(false));
    order.insert("OverallSDProcessStatus".into(), json!("A"));
    order.insert("TotalCreditCheckStatus".into(), json!(""));
    order.insert("OverallTotalDeliveryStatus".into(), json!("A"));
    order.insert("OverallSDDocumentRejectionSts".into(), json!("A"));
    tracing::debug!(order = %number, customer = %partner_name, "Sales order created.");
    data.sales_orders.push(order.clone());
    data.items.extend(built);
    data.partners.extend(partners);
    data.partner_addresses.extend(partner_addresses);
    data.pricing_elements.extend(elements);
    Ok(order)
}
