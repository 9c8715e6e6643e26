//! Measures JetStream's write ceiling on this machine in both durability modes
//! (`sync_interval: always` vs the default interval flush), one publish at a
//! time and with 64 PubAcks in flight, for the README's reliability figures.
//!
//! Usage: `crmerp-jetstream-bench [messages]` (default 5000).

use std::time::Instant;

use async_nats::jetstream;
use futures::future::join_all;

use crmerp_testkit::NatsServer;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let messages: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(5000);
    println!("mode,in_flight,messages,writes_per_second");
    for (mode, always) in [("sync_always", true), ("interval_flush", false)] {
        let dir = tempfile::tempdir()?;
        let server = if always {
            NatsServer::start(dir.path()).await?
        } else {
            NatsServer::start_with_interval_flush(dir.path()).await?
        };
        let js = jetstream::new(server.client().await?);
        js.create_stream(jetstream::stream::Config {
            name: "BENCH".into(),
            subjects: vec!["bench.>".into()],
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await?;
        let payload = bytes::Bytes::from(vec![b'x'; 300]);
        for in_flight in [1usize, 64] {
            let started = Instant::now();
            for chunk in (0..messages).collect::<Vec<_>>().chunks(in_flight) {
                let acks = join_all(chunk.iter().map(|_| {
                    let js = js.clone();
                    let payload = payload.clone();
                    async move {
                        js.publish("bench.x", payload)
                            .await?
                            .await
                            .map(drop)
                            .map_err(anyhow::Error::from)
                    }
                }))
                .await;
                for ack in acks {
                    ack?;
                }
            }
            let rate = messages as f64 / started.elapsed().as_secs_f64();
            println!("{mode},{in_flight},{messages},{rate:.0}");
        }
    }
    Ok(())
}
