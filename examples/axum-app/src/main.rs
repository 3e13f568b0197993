//! Serves the example on 127.0.0.1:3000 (or `LISTEN`), with Palisade's gates configured by
//! `palisade.toml` (or the file `PALISADE_CONFIG` names) and `PALISADE_*` variables.

use axum::ServiceExt as _;
use palisade_example_axum_app::{Notes, app};
use palisade_gateway::Palisade;
use palisade_gateway::config::{Config, ConfigSource};
use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (config, _) = Config::load(&ConfigSource {
        file: Some(
            std::env::var("PALISADE_CONFIG")
                .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/palisade.toml").into())
                .into(),
        ),
        env: std::env::vars().collect(),
    })?;
    let palisade = Palisade::builder(config).build().await?;
    let service = app(&palisade, Notes::default());
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!(
        "listening on http://{listen} (Palisade's endpoints under {})",
        palisade.mount()
    );
    axum::serve(
        listener,
        service.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    palisade.shutdown().await;
    Ok(())
}
