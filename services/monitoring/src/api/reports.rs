//! `GET /api/v1/reports/sla?week=2026-W48[&format=csv]`: the weekly SLA report.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::store::stats::{self, CategoryVolume, Resolution};

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/reports/sla", get(sla))
}

/// Report parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SlaQuery {
    /// ISO week from `0001-W01` to `9999-W52`, e.g. `2026-W48`; default: the current week.
    #[param(
        pattern = r"^(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-W(0[1-9]|[1-4][0-9]|5[0-3])$"
    )]
    week: Option<String>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<ReportFormat>)]
    format: Option<String>,
}

/// The report's format, as the OpenAPI document lists it.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ReportFormat {
    /// [`SlaReport`] as JSON.
    Json,
    /// One row per figure: `week,section,flow,key,value`.
    Csv,
}

/// Success rate of one flow in the week.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FlowSuccess {
    flow: String,
    events: i64,
    successes: i64,
    failures: i64,
    success_rate: Option<f64>,
}

/// The weekly SLA report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SlaReport {
    /// ISO week.
    week: String,
    /// Monday 00:00 UTC.
    from: DateTime<Utc>,
    /// The next Monday 00:00 UTC.
    to: DateTime<Utc>,
    /// Success rate per flow.
    flows: Vec<FlowSuccess>,
    /// Dead letters per flow and category.
    dead_letters: Vec<CategoryVolume>,
    /// Time to resolution of dead letters resolved in the week.
    resolution: Vec<Resolution>,
}

/// Parses `YYYY-Www` (a four-digit year from 0001, a two-digit week that
/// exists in that year) into the week's bounds. Anything else is `None`, never
/// a panic: the end is computed with checked arithmetic.
pub fn week_bounds(week: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (year, number) = week.split_once("-W")?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(year, 4) || !digits(number, 2) {
        return None;
    }
    let year: i32 = year.parse().ok().filter(|y| *y >= 1)?;
    let monday = NaiveDate::from_isoywd_opt(year, number.parse().ok()?, Weekday::Mon)?;
    let from = monday.and_hms_opt(0, 0, 0)?.and_utc();
    Some((from, from.checked_add_signed(Duration::days(7))?))
}

fn current_week() -> String {
    let week = Utc::now().iso_week();
    format!("{}-W{:02}", week.year(), week.week())
}

/// Weekly SLA report: success rate per flow, DLQ volume per category, mean
/// and p95 time to resolution.
#[utoipa::path(
    get,
    path = "/api/v1/reports/sla",
    tag = "reports",
    params(SlaQuery),
    responses((
        status = 200,
        description = "The report",
        content(
            (SlaReport = "application/json"),
            (String = "text/csv"),
        ),
    )),
)]
async fn sla(
    Viewer(_): Viewer,
    State(state): State<AppState>,
    Query(query): Query<SlaQuery>,
) -> Result<Response, ApiError> {
    let week = query.week.unwrap_or_else(current_week);
    let (from, to) = week_bounds(&week).ok_or_else(|| {
        ApiError::BadRequest(
            "week must be an ISO week from 0001-W01 to 9999-W52, e.g. 2026-W48".into(),
        )
    })?;
    let report = build(&state.pool, week, from, to).await?;
    match query.format.as_deref() {
        None | Some("json") => Ok(Json(report).into_response()),
        Some("csv") => {
            let filename = format!("attachment; filename=\"sla-{}.csv\"", report.week);
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (header::CONTENT_DISPOSITION, filename),
                ],
                to_csv(&report),
            )
                .into_response())
        }
        Some(_) => Err(ApiError::BadRequest("format must be json or csv".into())),
    }
}

/// The report of `week` (bounds `from`..`to`, see [`week_bounds`]).
pub async fn build(
    pool: &sqlx::PgPool,
    week: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<SlaReport, sqlx::Error> {
    let flows = stats::flow_stats(pool, from, to)
        .await?
        .into_iter()
        .map(|s| {
            let finished = s.successes + s.failures;
            FlowSuccess {
                success_rate: (finished > 0).then(|| s.successes as f64 / finished as f64),
                flow: s.flow,
                events: s.events,
                successes: s.successes,
                failures: s.failures,
            }
        })
        .collect();
    Ok(SlaReport {
        dead_letters: stats::dlq_volume(pool, from, to).await?,
        resolution: stats::resolution_times(pool, from, to).await?,
        week,
        from,
        to,
        flows,
    })
}

impl SlaReport {
    /// The ISO week reported.
    pub fn week(&self) -> &str {
        &self.week
    }

    /// The report as plain text, for email and Slack.
    pub fn to_text(&self) -> String {
        let day = |t: DateTime<Utc>| t.format("%Y-%m-%d").to_string();
        let mut out = format!(
            "Week {} ({} to {}, UTC)\n\nSuccess rate per flow:\n",
            self.week,
            day(self.from),
            day(self.to - Duration::days(1))
        );
        if self.flows.is_empty() {
            out.push_str("  no events\n");
        }
        for f in &self.flows {
            let rate = f
                .success_rate
                .map_or("n/a".to_owned(), |r| format!("{:.2}%", r * 100.0));
            out.push_str(&format!(
                "  {}: {rate} ({} events, {} succeeded, {} failed)\n",
                f.flow, f.events, f.successes, f.failures
            ));
        }
        out.push_str("\nDead letters per category:\n");
        if self.dead_letters.is_empty() {
            out.push_str("  none\n");
        }
        for d in &self.dead_letters {
            out.push_str(&format!(
                "  {} / {}: {}\n",
                d.flow, d.category, d.dead_letters
            ));
        }
        out.push_str("\nTime to resolution:\n");
        if self.resolution.is_empty() {
            out.push_str("  nothing resolved\n");
        }
        for r in &self.resolution {
            let minutes = |m: Option<f64>| m.map_or("n/a".to_owned(), |m| format!("{m:.1} min"));
            out.push_str(&format!(
                "  {}: {} resolved, mean {}, p95 {}\n",
                r.flow,
                r.resolved,
                minutes(r.mean_minutes),
                minutes(r.p95_minutes)
            ));
        }
        out
    }
}

fn number(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.4}")).unwrap_or_default()
}

fn field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// One row per figure: `week,section,flow,key,value`.
pub fn to_csv(report: &SlaReport) -> String {
    let mut out = String::from("week,section,flow,key,value\n");
    let mut row = |section: &str, flow: &str, key: &str, value: String| {
        out.push_str(&format!(
            "{},{section},{},{},{value}\n",
            report.week,
            field(flow),
            field(key)
        ));
    };
    for f in &report.flows {
        row("success", &f.flow, "events", f.events.to_string());
        row("success", &f.flow, "successes", f.successes.to_string());
        row("success", &f.flow, "failures", f.failures.to_string());
        row("success", &f.flow, "success_rate", number(f.success_rate));
    }
    for d in &report.dead_letters {
        row(
            "dead_letters",
            &d.flow,
            &d.category,
            d.dead_letters.to_string(),
        );
    }
    for r in &report.resolution {
        row("resolution", &r.flow, "resolved", r.resolved.to_string());
        row(
            "resolution",
            &r.flow,
            "mean_minutes",
            number(r.mean_minutes),
        );
        row("resolution", &r.flow, "p95_minutes", number(r.p95_minutes));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_weeks_start_on_monday() {
        let (from, to) = week_bounds("2026-W01").expect("valid");
        assert_eq!(from.to_rfc3339(), "2025-12-29T00:00:00+00:00");
        assert_eq!(to - from, Duration::days(7));
        assert!(week_bounds("2026-W54").is_none());
        assert!(week_bounds("last week").is_none());
        // Far past and future weeks, and non-canonical numbers, are refused, not overflowed.
        for week in [
            "262143-W52",
            "-262143-W01",
            "0000-W01",
            "+2026-W01",
            "2026-W1",
            "",
        ] {
            assert!(week_bounds(week).is_none(), "{week}");
        }
        assert!(week_bounds("9999-W52").is_some());
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("plain"), "plain");
    }
}
