//! The ingress service binary: telemetry, settings, build, run.

use anyhow::Context;
use crmerp_ingress::{Application, Settings};
use crmerp_service_kit::{shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().context("Cannot load the ingress settings")?;
    let _telemetry = telemetry::init("ingress", &settings.telemetry)?;
    let listener = tokio::net::TcpListener::bind(&settings.ingress.addr)
        .await
        .with_context(|| format!("Cannot bind ingress to {}", settings.ingress.addr))?;
    let app = Application::build(settings, listener).await?;
    app.run_until_stopped(shutdown::on_signal()).await?;
    Ok(())
}
