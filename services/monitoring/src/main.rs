//! The monitoring service binary: settings, telemetry, build, run.

use anyhow::Context;
use crmerp_monitoring::{Application, Settings};
use crmerp_service_kit::{shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().context("Cannot load the monitoring settings")?;
    let _telemetry = telemetry::init("monitoring", &settings.telemetry)?;
    let listener = tokio::net::TcpListener::bind(&settings.monitoring.addr)
        .await
        .with_context(|| format!("Cannot bind monitoring to {}", settings.monitoring.addr))?;
    let app = Application::build(settings, listener)
        .await
        .context("Cannot start monitoring")?;
    app.run_until_stopped(shutdown::on_signal()).await?;
    Ok(())
}
