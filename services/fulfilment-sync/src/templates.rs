//! Follow-up task templates: configuration, compiled once at start-up.
//!
//! Templates are MiniJinja with strict undefined behaviour. At start-up every
//! template is rendered once against a context holding every documented
//! variable, so a template naming anything else (a typo, `deal.nmae`) stops
//! the service instead of producing a broken task months later.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

/// The kinds of problem a task can be about; `default` covers the others.
pub const TASK_KINDS: &[&str] = &[
    "default",
    "exception",
    "cancelled",
    "returned",
    "failed_attempt",
    "refused",
    "returned_to_sender",
    "carrier_exception",
];

/// One task template (`[fulfilment_sync.tasks.<kind>]`).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskTemplate {
    /// The task's title.
    pub subject: String,
    /// The task's text: what happened and a suggested message to the customer.
    pub body: String,
}

/// A template is unusable.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A kind that no event produces (a typo in the section name).
    #[error("fulfilment_sync.tasks.{0}: unknown kind (known: {known})", known = TASK_KINDS.join(", "))]
    UnknownKind(String),
    /// No `default` template.
    #[error(
        "fulfilment_sync.tasks.default: missing (it covers every kind without its own template)"
    )]
    MissingDefault,
    /// The template does not parse or names an unknown variable.
    #[error("fulfilment_sync.tasks.{kind}.{field}: {message}")]
    Invalid {
        /// The kind.
        kind: String,
        /// `subject` or `body`.
        field: &'static str,
        /// MiniJinja's explanation.
        message: String,
    },
}

/// What a template can refer to.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskContext {
    /// The CRM deal.
    pub deal: DealVars,
    /// The deal's account.
    pub account: AccountVars,
    /// The ERP order.
    pub order: OrderVars,
    /// The shipment, when there is one.
    pub carrier: CarrierVars,
    /// Why, in the ERP's or carrier's words.
    pub reason: String,
    /// The kind of problem, e.g. `exception`.
    pub kind: String,
    /// When it happened (RFC 3339).
    pub occurred_at: String,
}

/// `deal.*`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DealVars {
    /// The CRM deal id.
    pub id: String,
}

/// `account.*`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AccountVars {
    /// The CRM account id (empty when unknown).
    pub id: String,
}

/// `order.*`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OrderVars {
    /// Human-facing order number.
    pub number: String,
    /// The ERP's record id.
    pub id: String,
    /// The order's external reference.
    pub external_ref: String,
    /// The order's canonical status, e.g. `exception`.
    pub status: String,
}

/// `carrier.*`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CarrierVars {
    /// Carrier name or code.
    pub name: String,
    /// Tracking number.
    pub tracking_number: String,
    /// Public tracking page.
    pub tracking_url: String,
}

/// The compiled templates.
#[derive(Debug)]
pub struct TaskTemplates {
    env: Environment<'static>,
}

fn name(kind: &str, field: &str) -> String {
    format!("{kind}.{field}")
}

impl TaskTemplates {
    /// Compiles and checks `templates`; errors name the key.
    pub fn compile(templates: &BTreeMap<String, TaskTemplate>) -> Result<Self, TemplateError> {
        if let Some(unknown) = templates.keys().find(|k| !TASK_KINDS.contains(&k.as_str())) {
            return Err(TemplateError::UnknownKind(unknown.clone()));
        }
        if !templates.contains_key("default") {
            return Err(TemplateError::MissingDefault);
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Task text is plain text, not HTML: the CRM connector escapes it.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        for (kind, template) in templates {
            for (field, source) in [("subject", &template.subject), ("body", &template.body)] {
                env.add_template_owned(name(kind, field), source.clone())
                    .map_err(|e| TemplateError::Invalid {
                        kind: kind.clone(),
                        field,
                        message: e.to_string(),
                    })?;
            }
        }
        let compiled = Self { env };
        // Every variable present and empty: strict mode fails only on names
        // outside the documented set.
        let sample = TaskContext::default();
        for kind in templates.keys() {
            for field in ["subject", "body"] {
                compiled
                    .render_field(kind, field, &sample)
                    .map_err(|message| TemplateError::Invalid {
                        kind: kind.clone(),
                        field,
                        message,
                    })?;
            }
        }
        Ok(compiled)
    }

    fn render_field(&self, kind: &str, field: &str, ctx: &TaskContext) -> Result<String, String> {
        let template = self
            .env
            .get_template(&name(kind, field))
            .map_err(|e| e.to_string())?;
        template
            .render(ctx)
            .map(|text| text.trim().to_owned())
            .map_err(|e| e.to_string())
    }

    /// The subject and body of a task of `ctx.kind`, from its own template or `default`.
    pub fn render(&self, ctx: &TaskContext) -> Result<(String, String), String> {
        let kind = if self.env.get_template(&name(&ctx.kind, "subject")).is_ok() {
            ctx.kind.as_str()
        } else {
            "default"
        };
        Ok((
            self.render_field(kind, "subject", ctx)?,
            self.render_field(kind, "body", ctx)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates(pairs: &[(&str, &str, &str)]) -> BTreeMap<String, TaskTemplate> {
        pairs
            .iter()
            .map(|(kind, subject, body)| {
                (
                    (*kind).to_owned(),
                    TaskTemplate {
                        subject: (*subject).to_owned(),
                        body: (*body).to_owned(),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn renders_the_kinds_own_template_else_the_default() {
        let compiled = TaskTemplates::compile(&templates(&[
            ("default", "Problem: {{ kind }}", "{{ reason }}"),
            (
                "refused",
                "Refused: {{ order.number }}",
                "{{ carrier.name }} {{ carrier.tracking_number }} for deal {{ deal.id }}",
            ),
        ]))
        .expect("compiles");
        let mut ctx = TaskContext {
            kind: "refused".into(),
            reason: "Recipient refused".into(),
            ..TaskContext::default()
        };
        ctx.order.number = "SO-9".into();
        ctx.carrier.name = "UPS".into();
        ctx.carrier.tracking_number = "1Z9".into();
        ctx.deal.id = "42".into();
        assert_eq!(
            compiled.render(&ctx).expect("renders"),
            ("Refused: SO-9".to_owned(), "UPS 1Z9 for deal 42".to_owned())
        );
        ctx.kind = "exception".into();
        assert_eq!(
            compiled.render(&ctx).expect("renders"),
            (
                "Problem: exception".to_owned(),
                "Recipient refused".to_owned()
            )
        );
    }

    #[test]
    fn an_unknown_variable_or_kind_or_a_missing_default_is_refused() {
        let err = TaskTemplates::compile(&templates(&[(
            "default",
            "Order {{ order.number }}",
            "Dear {{ customer.name }}",
        )]))
        .expect_err("unknown variable");
        assert!(
            err.to_string()
                .starts_with("fulfilment_sync.tasks.default.body:"),
            "{err}"
        );
        let err = TaskTemplates::compile(&templates(&[("default", "{{ deal.nmae }}", "x")]))
            .expect_err("unknown attribute");
        assert!(err.to_string().contains("default.subject"), "{err}");
        let err =
            TaskTemplates::compile(&templates(&[("default", "{{ x", "x")])).expect_err("syntax");
        assert!(err.to_string().contains("default.subject"), "{err}");
        let err =
            TaskTemplates::compile(&templates(&[("exception", "a", "b")])).expect_err("no default");
        assert!(matches!(err, TemplateError::MissingDefault));
        let err =
            TaskTemplates::compile(&templates(&[("default", "a", "b"), ("excepton", "a", "b")]))
                .expect_err("typo kind");
        assert!(
            err.to_string().contains("fulfilment_sync.tasks.excepton"),
            "{err}"
        );
    }

    #[test]
    fn the_shipped_defaults_compile() {
        #[derive(Deserialize)]
        struct Defaults {
            fulfilment_sync: Section,
        }
        #[derive(Deserialize)]
        struct Section {
            tasks: BTreeMap<String, TaskTemplate>,
        }
        let defaults: Defaults =
            toml_like(include_str!("../defaults.toml")).expect("defaults parse");
        TaskTemplates::compile(&defaults.fulfilment_sync.tasks).expect("compile");
    }

    fn toml_like<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
        crmerp_service_kit::settings::load_settings_from(text, None, std::iter::empty())
            .map_err(|e| e.to_string())
    }
}
