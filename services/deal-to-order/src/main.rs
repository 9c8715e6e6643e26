//! The deal-to-order service binary: telemetry, settings, build, run.

use anyhow::Context;
use crmerp_deal_to_order::{Application, Settings};
use crmerp_service_kit::{shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().context("Cannot load the deal-to-order settings")?;
    let _telemetry = telemetry::init("deal-to-order", &settings.telemetry)?;
    let admin = tokio::net::TcpListener::bind(&settings.deal_to_order.admin_addr)
        .await
        .with_context(|| {
            format!(
                "Cannot bind the admin listener to {}",
                settings.deal_to_order.admin_addr
            )
        })?;
    let app = Application::build(settings, admin).await?;
    app.run_until_stopped(shutdown::on_signal()).await?;
    Ok(())
}
