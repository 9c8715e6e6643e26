//! The OpenAPI 3.1 document of the ops API, generated from the handlers' own
//! parameter, body and response types, so it states exactly the limits the
//! server enforces (lengths, patterns, ranges, formats).

use utoipa::OpenApi;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr};

use super::{breakers, bulk, dead_letters, events, export, health, incidents, reports};
use crate::error::Problem;

/// The document's source: every route and schema.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "crmerp monitoring ops API",
        version = "1.0.0",
        description = "Event log search, timelines and exports, dead-letter review with correct-and-requeue and bulk actions, alert incidents, circuit breakers, health and the weekly SLA report. Every route needs `Authorization: Bearer <token>`; roles are viewer < operator < admin (requeue, discard, bulk actions and acknowledging incidents need operator). Viewers get customers' personal data masked. Errors are `application/problem+json` (RFC 9457); a 400's `detail` names the parameter. Unknown or repeated query parameters and present but empty values are 400s."
    ),
    servers((url = "http://127.0.0.1:8081")),
    paths(
        super::me,
        events::search,
        events::timeline,
        dead_letters::list,
        dead_letters::detail,
        dead_letters::requeue,
        dead_letters::discard,
        bulk::dry_run,
        bulk::apply,
        export::export_events,
        export::export_dead_letters,
        incidents::list,
        incidents::acknowledge,
        breakers::list,
        health::health,
        health::series,
        reports::sla,
    ),
    components(schemas(
        Problem,
        dead_letters::DeadLetterStatus,
        dead_letters::PatchOperation,
        reports::ReportFormat,
        export::ExportFormat,
        incidents::IncidentStatus
    )),
    modifiers(&Conventions),
)]
pub struct ApiDoc;

/// What every route shares, added once instead of on each handler: bearer
/// auth, and the problem answers any route can give.
struct Conventions;

fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            crate::error::PROBLEM_JSON,
            Content::new(Some(Ref::from_schema_name("Problem"))),
        )
        .into()
}

impl utoipa::Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations: [(HttpMethod, &mut Option<Operation>); 2] = [
                (HttpMethod::Get, &mut item.get),
                (HttpMethod::Post, &mut item.post),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem(description));
                };
                add(
                    "400",
                    "A parameter or the body is invalid; `detail` names it",
                );
                add("401", "No token, or one nobody issued");
                add(
                    "503",
                    "A dependency (Postgres, NATS, the CRM) is unavailable; retry later",
                );
                if path.contains("{id}") {
                    add("404", "No such dead letter");
                }
                if method == HttpMethod::Post {
                    add("403", "The action needs the operator role");
                    add("413", "The body is larger than 2 MB");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_states_the_limits_and_problems_the_server_enforces() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("serialises");
        let params = &doc["paths"]["/api/v1/events"]["get"]["parameters"];
        let param = |name: &str| {
            params
                .as_array()
                .and_then(|all| all.iter().find(|p| p["name"] == name))
                .map(|p| p["schema"].clone())
                .unwrap_or_default()
        };
        assert_eq!(param("crm_record_id")["minLength"], 1, "{params}");
        assert_eq!(param("crm_record_id")["maxLength"], super::super::MAX_TEXT);
        assert_eq!(param("limit")["maximum"], 500, "{params}");
        assert_eq!(param("from")["format"], "date-time", "{params}");
        let requeue = &doc["paths"]["/api/v1/dead-letters/{id}/requeue"]["post"];
        for status in [
            "202", "400", "401", "403", "404", "409", "413", "422", "503",
        ] {
            assert!(
                requeue["responses"].get(status).is_some(),
                "{status}: {requeue}"
            );
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }
}
