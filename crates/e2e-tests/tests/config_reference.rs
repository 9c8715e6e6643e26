//! The configuration reference, `docs/configuration.md`, generated from every
//! service's settings types (their `schemars::JsonSchema`), so it cannot drift
//! from the code: the test fails when the file is out of date and rewrites it
//! when run with `CRMERP_BLESS=1`. It also fails when a setting has no doc
//! comment, and when `config/dev.toml`, a service's `defaults.toml` or a file
//! or environment variable under `deploy/` sets a key no service reads.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crmerp_connector::registry::vendor_schemas;
use crmerp_flow::ServiceSettings as _;
use crmerp_testkit::paths::workspace_root;
use schemars::generate::SchemaSettings;
use serde_json::Value;

/// A service: its name, the schema of its settings type, its compiled-in defaults.
struct Service {
    name: &'static str,
    schema: Value,
    defaults: &'static str,
}

fn services() -> Vec<Service> {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| settings.inline_subschemas = true)
        .into_generator();
    vec![
        Service {
            name: "ingress",
            schema: generator
                .root_schema_for::<crmerp_ingress::Settings>()
                .to_value(),
            defaults: crmerp_ingress::Settings::DEFAULTS,
        },
        Service {
            name: "deal-to-order",
            schema: generator
                .root_schema_for::<crmerp_deal_to_order::Settings>()
                .to_value(),
            defaults: crmerp_deal_to_order::Settings::DEFAULTS,
        },
        Service {
            name: "fulfilment-sync",
            schema: generator
                .root_schema_for::<crmerp_fulfilment_sync::Settings>()
                .to_value(),
            defaults: crmerp_fulfilment_sync::Settings::DEFAULTS,
        },
        Service {
            name: "monitoring",
            schema: generator
                .root_schema_for::<crmerp_monitoring::Settings>()
                .to_value(),
            defaults: crmerp_monitoring::Settings::DEFAULTS,
        },
    ]
}

/// One key as one service's schema describes it.
#[derive(Debug, Clone)]
struct Leaf {
    path: Vec<String>,
    schema: Value,
    required: bool,
    /// The default the types give (the field's, or its table's).
    default: Option<Value>,
    description: Option<String>,
    /// For a variant of a tagged table (`kind = "basic"`): the tag it needs.
    condition: Option<String>,
}

/// What one service's schema holds: its keys, and its tables (with their descriptions).
#[derive(Default)]
struct Walk {
    leaves: Vec<Leaf>,
    tables: BTreeMap<String, Option<String>>,
}

/// Placeholder segment of a table keyed by the user (`ingress.rate_limits.<name>`).
const ANY: &str = "<name>";
/// Segment of the items of a list of tables (`monitoring.tokens[].name`).
const ITEMS: &str = "[]";

/// A key's dotted form; list items join their list without a dot (`tokens[].name`).
fn dotted(path: &[String]) -> String {
    path.join(".").replace(".[]", "[]")
}

fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn is_table(schema: &Value) -> bool {
    schema.get("properties").is_some_and(Value::is_object)
}

/// The variants of an internally tagged enum, and the tag's name.
fn tagged_variants(schema: &Value) -> Option<(&str, &Vec<Value>)> {
    let variants = schema.get("oneOf")?.as_array()?;
    let first = variants.first()?.get("properties")?.as_object()?;
    let tag = first
        .iter()
        .find(|(_, property)| property.get("const").is_some())?
        .0;
    variants
        .iter()
        .all(|v| v.pointer(&format!("/properties/{tag}/const")).is_some())
        .then_some((tag.as_str(), variants))
}

fn description(schema: &Value) -> Option<String> {
    schema
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn walk(
    schema: &Value,
    path: &[String],
    required: bool,
    inherited: Option<&Value>,
    condition: Option<&str>,
    out: &mut Walk,
) {
    let default = schema.get("default").or(inherited);
    if is_table(schema) {
        out.tables.insert(dotted(path), description(schema));
        let required_keys: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|keys| keys.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            let mut child = path.to_vec();
            child.push(name.clone());
            walk(
                property,
                &child,
                required_keys.contains(&name.as_str()),
                default.and_then(|d| d.get(name)),
                condition,
                out,
            );
        }
        return;
    }
    if let Some((tag, variants)) = tagged_variants(schema) {
        out.tables.insert(dotted(path), description(schema));
        let mut tag_path = path.to_vec();
        tag_path.push(tag.to_owned());
        let values: Vec<Value> = variants
            .iter()
            .map(|v| v["properties"][tag]["const"].clone())
            .collect();
        let mut text = description(schema).unwrap_or_default();
        for variant in variants {
            let _ = write!(
                text,
                " `{}`: {}",
                plain(&variant["properties"][tag]["const"]),
                description(variant).unwrap_or_default()
            );
        }
        out.leaves.push(Leaf {
            path: tag_path,
            schema: serde_json::json!({"enum": values}),
            required,
            default: None,
            description: Some(text.trim().to_owned()),
            condition: condition.map(str::to_owned),
        });
        for variant in variants {
            let when = format!(
                "{tag} = \"{}\"",
                plain(&variant["properties"][tag]["const"])
            );
            let mut fields = variant.clone();
            if let Some(properties) = fields["properties"].as_object_mut() {
                properties.remove(tag);
            }
            fields["description"] = Value::from(description(schema).unwrap_or_default());
            walk(&fields, path, required, None, Some(&when), out);
        }
        return;
    }
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    if let Some(entry) = additional.filter(|a| is_table(a)) {
        out.tables.insert(dotted(path), description(schema));
        let mut child = path.to_vec();
        child.push(ANY.to_owned());
        walk(entry, &child, false, None, condition, out);
        return;
    }
    out.leaves.push(Leaf {
        path: path.to_vec(),
        schema: schema.clone(),
        required,
        default: default.cloned(),
        description: description(schema),
        condition: condition.map(str::to_owned),
    });
    if let Some(items) = schema.get("items").filter(|i| is_table(i)) {
        let mut child = path.to_vec();
        child.push(ITEMS.to_owned());
        walk(items, &child, false, None, condition, out);
    }
}

/// A JSON value as TOML would spell it, without quotes around a lone string.
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => toml_value(other),
    }
}

fn toml_value(value: &Value) -> String {
    match value {
        Value::Null => "unset".to_owned(),
        Value::String(text) => format!("{text:?}"),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(toml_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(table) => format!(
            "{{ {} }}",
            table
                .iter()
                .map(|(k, v)| format!("{k} = {}", toml_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

fn is_secret(schema: &Value) -> bool {
    schema.get("writeOnly") == Some(&Value::Bool(true))
}

fn type_name(schema: &Value) -> String {
    if is_secret(schema) {
        return "secret string".to_owned();
    }
    let choices: Option<Vec<String>> = schema
        .get("enum")
        .and_then(Value::as_array)
        .map(|values| values.iter().map(plain).collect())
        .or_else(|| {
            schema.get("oneOf").and_then(Value::as_array).and_then(|v| {
                v.iter()
                    .map(|variant| variant.get("const").map(plain))
                    .collect()
            })
        });
    if let Some(choices) = choices {
        let quoted: Vec<String> = choices.iter().map(|c| format!("`{c}`")).collect();
        return format!("one of {}", quoted.join(", "));
    }
    let kinds: Vec<&str> = types(schema).into_iter().filter(|t| *t != "null").collect();
    match kinds.as_slice() {
        ["string", "number"] | ["number", "string"] => "decimal".to_owned(),
        ["string"] if schema.get("format") == Some(&Value::from("humantime")) => {
            "duration".to_owned()
        }
        ["array"] => match schema.get("items") {
            Some(items) if is_table(items) => "list of tables".to_owned(),
            Some(items) => format!("list of {}", type_name(items)),
            None => "list".to_owned(),
        },
        ["object"] => match schema.get("additionalProperties").filter(|a| a.is_object()) {
            Some(entry) => format!("table of {}", type_name(entry)),
            None => "table".to_owned(),
        },
        [one] => (*one).to_owned(),
        _ => "any".to_owned(),
    }
}

/// One row of the reference: a key as every service that reads it sees it.
#[derive(Default)]
struct Row {
    type_name: String,
    secret: bool,
    optional: bool,
    required: bool,
    /// Default by service (types, then the service's compiled-in defaults).
    defaults: BTreeMap<&'static str, Value>,
    services: Vec<&'static str>,
    descriptions: Vec<String>,
    conditions: BTreeSet<String>,
}

/// Every key in a TOML document, dotted; a list of tables also gives its items' keys.
fn toml_keys(value: &toml::Value, path: &mut Vec<String>, out: &mut BTreeMap<String, Value>) {
    match value {
        toml::Value::Table(table) => {
            for (name, item) in table {
                path.push(name.clone());
                toml_keys(item, path, out);
                path.pop();
            }
        }
        toml::Value::Array(items)
            if items.iter().all(toml::Value::is_table) && !items.is_empty() =>
        {
            out.insert(dotted(path), toml_to_json(value));
            path.push(ITEMS.to_owned());
            for item in items {
                toml_keys(item, path, out);
            }
            path.pop();
        }
        other => {
            out.insert(dotted(path), toml_to_json(other));
        }
    }
}

fn toml_to_json(value: &toml::Value) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn parse_toml(text: &str, origin: &str) -> BTreeMap<String, Value> {
    let document: toml::Value = toml::from_str(text).unwrap_or_else(|e| panic!("{origin}: {e}"));
    let mut keys = BTreeMap::new();
    toml_keys(&document, &mut Vec::new(), &mut keys);
    keys
}

/// The whole reference: rows by key, and table descriptions by table and service.
struct Reference {
    rows: BTreeMap<String, Row>,
    tables: BTreeMap<String, Vec<(&'static str, Option<String>)>>,
}

fn reference() -> Reference {
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut tables: BTreeMap<String, Vec<(&'static str, Option<String>)>> = BTreeMap::new();
    for service in services() {
        let mut out = Walk::default();
        walk(&service.schema, &[], true, None, None, &mut out);
        let compiled = parse_toml(service.defaults, service.name);
        for (table, text) in out.tables {
            tables.entry(table).or_default().push((service.name, text));
        }
        for leaf in out.leaves {
            let key = dotted(&leaf.path);
            let row = rows.entry(key.clone()).or_default();
            let optional = types(&leaf.schema).contains(&"null");
            if row.services.is_empty() {
                row.type_name = type_name(&leaf.schema);
                row.secret = is_secret(&leaf.schema);
                row.optional = optional;
                row.required = leaf.required;
            }
            if !row.services.contains(&service.name) {
                row.services.push(service.name);
            }
            row.required &= leaf.required;
            if let Some(text) = leaf.description
                && !row.descriptions.contains(&text)
            {
                row.descriptions.push(text);
            }
            if let Some(condition) = leaf.condition {
                row.conditions.insert(condition);
            }
            if let Some(value) = compiled.get(&key).or(leaf.default.as_ref()) {
                row.defaults.insert(service.name, value.clone());
            } else if optional {
                row.defaults.insert(service.name, Value::Null);
            }
        }
    }
    Reference { rows, tables }
}

/// The tables that get a section of their own: the top-level ones, every
/// vendor's (`[crm.<kind>]`, `[deal_to_order.erp.<kind>]`) and the alerts.
fn section_of(key: &str, vendor_sections: &[String]) -> String {
    let longest = vendor_sections
        .iter()
        .filter(|section| key.starts_with(&format!("{section}.")))
        .max_by_key(|section| section.len());
    match longest {
        Some(section) => section.clone(),
        None => key.split('.').next().unwrap_or(key).to_owned(),
    }
}

fn sections() -> Vec<String> {
    let mut sections = vec!["monitoring.alerts".to_owned()];
    for vendor in vendor_schemas() {
        let role = vendor.role.as_str();
        sections.push(format!("{role}.{}", vendor.kind));
        if vendor.deal_to_order.is_some() {
            sections.push(format!("deal_to_order.{role}.{}", vendor.kind));
        }
        if vendor.fulfilment_sync.is_some() {
            sections.push(format!("fulfilment_sync.{role}.{}", vendor.kind));
        }
    }
    sections
}

/// The order sections are listed in; any other table follows, alphabetically.
const TOP_LEVEL: &[&str] = &[
    "nats",
    "telemetry",
    "flow",
    "ingress",
    "deal_to_order",
    "fulfilment_sync",
    "monitoring",
    "crm",
    "erp",
];

fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // Intra-doc links (`[`DEFAULT_SCOPE`]`) read as plain code here.
    joined
        .replace("[`", "`")
        .replace("`]", "`")
        .replace('|', "\\|")
}

fn first_paragraph(text: &str) -> String {
    one_line(text.split("\n\n").next().unwrap_or(text))
}

fn default_cell(row: &Row) -> String {
    if row.secret {
        // Never a secret's value, not even a compiled-in development one.
        return if row.required && row.defaults.is_empty() {
            "required".to_owned()
        } else if row.optional {
            "unset".to_owned()
        } else if row.defaults.is_empty() {
            "`\"\"`".to_owned()
        } else {
            "set, not shown (secret)".to_owned()
        };
    }
    let distinct: BTreeSet<String> = row.defaults.values().map(toml_value).collect();
    match distinct.len() {
        0 if row.required => "required".to_owned(),
        // Caught by `every_setting_has_a_description_and_a_shown_default`.
        0 => "not shown".to_owned(),
        1 => distinct
            .into_iter()
            .map(|v| if v == "unset" { v } else { format!("`{v}`") })
            .collect(),
        _ => row
            .defaults
            .iter()
            .map(|(service, v)| format!("`{}` ({service})", toml_value(v)))
            .collect::<Vec<_>>()
            .join(", "),
    }
    .replace('|', "\\|")
}

fn render(reference: &Reference) -> String {
    let vendor_sections = sections();
    let mut by_section: BTreeMap<String, Vec<(&String, &Row)>> = BTreeMap::new();
    for (key, row) in &reference.rows {
        by_section
            .entry(section_of(key, &vendor_sections))
            .or_default()
            .push((key, row));
    }
    let rank = |section: &str| {
        let top = section.split('.').next().unwrap_or(section);
        let position = TOP_LEVEL
            .iter()
            .position(|t| *t == top)
            .unwrap_or(TOP_LEVEL.len());
        let vendor = vendor_sections
            .iter()
            .position(|s| s == section)
            .map_or(0, |p| p + 1);
        (position, top.to_owned(), vendor, section.to_owned())
    };
    let mut order: Vec<&String> = by_section.keys().collect();
    order.sort_by_key(|section| rank(section));

    let mut doc = String::from(
        "# Configuration reference\n\n\
<!-- Generated by crates/e2e-tests/tests/config_reference.rs from the services' settings types; \
do not edit. Rewrite it with: CRMERP_BLESS=1 cargo test -p crmerp-e2e-tests --test config_reference -->\n\n\
Every key any service reads, generated from the settings types the services \
deserialise (so a key the code reads cannot be missing here). How the layers \
combine is in the README's \"Configuration\" section: each service's compiled-in \
`defaults.toml`, then the files named by `CRMERP_CONFIG` (comma-separated, a later \
one wins), then environment variables.\n\n\
**Environment form.** Key `a.b.c` is variable `CRMERP__A__B__C` (upper case, levels \
joined by a double underscore), e.g. `erp.netsuite.account_id` is \
`CRMERP__ERP__NETSUITE__ACCOUNT_ID`. A string stays a string whatever it looks like; \
a number or boolean is parsed; a list is comma-separated (`30s,2m`) or JSON; a table \
or a list of tables is JSON (`CRMERP__MONITORING__TOKENS=[{\"name\":\"ops\",...}]`). \
A key inside a list of tables (`monitoring.tokens[].name`) is set with its list.\n\n\
**Columns.** *Default* is what applies when no file or variable sets the key: the \
types' default, or the service's compiled-in `defaults.toml`; \"required\" means the \
service does not start without it (inside an optional table: when the table is \
present); \"unset\" means the feature is off or derived, as described. Secrets never \
show a value. *Read by* lists the services that read the key. `<name>` stands for a \
name you choose (e.g. a webhook source). Connector sections (`[crm.<kind>]`, \
`[erp.<kind>]`) are read only for the selected `kind` by deal-to-order and monitoring; \
ingress reads the webhook keys of every configured CRM.\n",
    );
    for section in order {
        let _ = write!(doc, "\n## `[{section}]`\n\n");
        let intros: Vec<(&str, String)> = reference
            .tables
            .get(section.as_str())
            .into_iter()
            .flatten()
            .filter_map(|(service, text)| text.as_deref().map(|t| (*service, first_paragraph(t))))
            .collect();
        let distinct: BTreeSet<&String> = intros.iter().map(|(_, t)| t).collect();
        if distinct.len() == 1 {
            let _ = writeln!(doc, "{}\n", intros[0].1);
        } else {
            for (service, text) in &intros {
                let _ = writeln!(doc, "- {service}: {text}");
            }
            if !intros.is_empty() {
                doc.push('\n');
            }
        }
        doc.push_str("| key | type | default | read by | description |\n|---|---|---|---|---|\n");
        for (key, row) in &by_section[section] {
            let mut text = String::new();
            if !row.conditions.is_empty() {
                let when: Vec<String> = row.conditions.iter().map(|c| format!("`{c}`")).collect();
                let _ = write!(text, "(when {}) ", when.join(" or "));
            }
            text.push_str(
                &row.descriptions
                    .iter()
                    .map(|d| one_line(d))
                    .collect::<Vec<_>>()
                    .join(" / "),
            );
            let _ = writeln!(
                doc,
                "| `{key}` | {} | {} | {} | {} |",
                row.type_name,
                default_cell(row),
                row.services.join(", "),
                text
            );
        }
    }
    doc
}

fn path(relative: &str) -> PathBuf {
    workspace_root().join(relative)
}

#[test]
fn docs_configuration_md_is_generated_from_the_settings_types() {
    let expected = render(&reference());
    let file = path("docs/configuration.md");
    let current = std::fs::read_to_string(&file).unwrap_or_default();
    if current != expected {
        if std::env::var_os("CRMERP_BLESS").is_some() {
            std::fs::write(&file, &expected).expect("docs/configuration.md written");
        } else {
            panic!(
                "docs/configuration.md is out of date: rerun with CRMERP_BLESS=1 to rewrite it \
                 (cargo test -p crmerp-e2e-tests --test config_reference)"
            );
        }
    }
}

/// Optional keys whose default the reference cannot show (its type is not
/// `Serialize`, or is not a plain value).
fn hidden_defaults(reference: &Reference) -> Vec<String> {
    reference
        .rows
        .iter()
        .filter(|(_, row)| !row.secret && !row.required && row.defaults.is_empty())
        .map(|(key, _)| key.clone())
        .collect()
}

#[test]
fn every_setting_has_a_description_and_a_shown_default() {
    let reference = reference();
    let hidden = hidden_defaults(&reference);
    assert!(
        hidden.is_empty(),
        "optional settings whose default the reference cannot show (derive Serialize on their type): {hidden:?}"
    );
    let mut missing: Vec<String> = reference
        .rows
        .iter()
        .filter(|(_, row)| row.descriptions.iter().all(|d| d.trim().is_empty()))
        .map(|(key, _)| key.clone())
        .collect();
    missing.extend(
        reference
            .tables
            .iter()
            .filter(|(table, _)| !table.is_empty())
            .filter(|(_, by_service)| by_service.iter().all(|(_, text)| text.is_none()))
            .map(|(table, _)| format!("[{table}]")),
    );
    assert!(
        missing.is_empty(),
        "settings without a doc comment (the reference's description): {missing:?}"
    );
}

/// `key` (dotted, with `[]` for list items) is a key of the reference, or a
/// table holding some (a table set whole, e.g. by one JSON variable).
fn is_known(key: &str, reference: &Reference) -> bool {
    let matches = |pattern: &str| {
        let pattern: Vec<&str> = pattern.split('.').collect();
        let key: Vec<&str> = key.split('.').collect();
        pattern.len() == key.len()
            && pattern
                .iter()
                .zip(&key)
                .all(|(p, k)| p == k || (*p == ANY && !k.ends_with(ITEMS)))
    };
    reference.rows.keys().any(|k| matches(k)) || reference.tables.keys().any(|t| matches(t))
}

fn files_under(dir: &Path, extension: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, extension, out);
        } else if path.extension().is_some_and(|e| e == extension) {
            out.push(path);
        }
    }
}

/// The `CRMERP__` variables a manifest sets (`name: CRMERP__X`, also inside a
/// flow mapping such as a kustomize patch's `{ name: CRMERP__X, value: "3" }`),
/// without the prefix; comments mentioning the syntax are not settings.
fn env_names(manifest: &str) -> Vec<&str> {
    let mut names = Vec::new();
    for line in manifest.lines() {
        let line = line.split(" #").next().unwrap_or(line);
        for (at, _) in line.match_indices("CRMERP__") {
            let before = line[..at]
                .trim_end()
                .trim_end_matches(['"', '\''])
                .trim_end();
            if !before.ends_with("name:") {
                continue;
            }
            let rest = &line[at + "CRMERP__".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(rest.len());
            names.push(&rest[..end]);
        }
    }
    names
}

#[test]
fn env_names_are_read_from_block_and_flow_mappings() {
    let manifest = "env:\n  - name: CRMERP__NATS__URL\n    value: x\n\
        patch: { name: \"CRMERP__NATS__REPLICAS\", value: \"3\" }\n\
        # set CRMERP__SECTION__KEY from a Secret\n";
    assert_eq!(env_names(manifest), ["NATS__URL", "NATS__REPLICAS"]);
}

#[test]
fn every_key_the_shipped_configuration_sets_is_read_by_a_service() {
    let reference = reference();
    let root = workspace_root();
    let mut tomls = vec![
        path("config/dev.toml"),
        path("services/ingress/defaults.toml"),
        path("services/deal-to-order/defaults.toml"),
        path("services/fulfilment-sync/defaults.toml"),
        path("services/monitoring/defaults.toml"),
    ];
    files_under(&path("deploy"), "toml", &mut tomls);
    assert!(tomls.len() > 5, "found the deploy files: {tomls:?}");
    let read = |file: &PathBuf| {
        let name = file.strip_prefix(&root).unwrap_or(file).display();
        let text = std::fs::read_to_string(file).expect("readable");
        (name.to_string(), text)
    };
    let mut unknown = Vec::new();
    for (name, text) in tomls.iter().map(read) {
        for key in parse_toml(&text, &name).into_keys() {
            if !is_known(&key, &reference) {
                unknown.push(format!("{name}: {key}"));
            }
        }
    }
    let mut manifests = Vec::new();
    files_under(&path("deploy"), "yaml", &mut manifests);
    for (name, text) in manifests.iter().map(read) {
        for variable in env_names(&text) {
            let key = variable.to_ascii_lowercase().replace("__", ".");
            if !is_known(&key, &reference) {
                unknown.push(format!("{name}: CRMERP__{variable}"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "keys set in shipped configuration that no service reads: {unknown:#?}"
    );
}
