//! `djinn serve`: the HTTP API over the registry's plugins, until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use djinn::api::{self, AppState};
use djinn::bus::BusConfig;
use djinn::catalog::Catalog;
use djinn::config::HostConfig;
use djinn::registry::{BundledPlugin, load_registered};
use djinn::{Runtime, services};

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on (overrides `[api] listen`).
    #[arg(long)]
    listen: Option<String>,
}

pub async fn run(config: HostConfig, args: Args) -> anyhow::Result<ExitCode> {
    let host = services::open(&config).await?;
    let runtime = Arc::new(Runtime::new(config.runtime(), host.services.clone())?);
    let bundled: Vec<BundledPlugin> = djinn_plugins::serving()
        .map(|b| BundledPlugin {
            wasm: b.wasm,
            manifest: b.manifest,
        })
        .collect();
    let boot = load_registered(&runtime, &host.store.registry(), &bundled).await?;
    for (id, why) in &boot.failed {
        eprintln!("warning: plugin `{id}` not loaded: {why}");
    }
    let catalog = Arc::new(Catalog::new(
        runtime,
        host.store.registry(),
        BusConfig::default(),
        boot.loaded,
    )?);

    let mut addr: SocketAddr = args
        .listen
        .as_deref()
        .unwrap_or(&config.api.listen)
        .parse()
        .context("the listen address must be IP:PORT, e.g. 127.0.0.1:8080")?;
    if config.api.tokens.is_empty() && !addr.ip().is_loopback() {
        eprintln!(
            "warning: no API tokens are configured, so djinn listens on 127.0.0.1 only \
             (add [[api.tokens]] to listen on {})",
            addr.ip()
        );
        addr.set_ip([127, 0, 0, 1].into());
    }
    let state = AppState {
        catalog,
        store: host.store.clone(),
        tokens: Arc::new(config.api.tokens.clone()),
        llm_metrics: Some(host.llm.metrics.clone()),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let snapshot = state.catalog.snapshot();
    eprintln!(
        "djinn listening on http://{bound} ({} plugins, database {}){}",
        snapshot.plugins.len(),
        format!("{:?}", host.store.backend()).to_lowercase(),
        if state.tokens.is_empty() {
            "; no tokens configured: every local caller is an operator"
        } else {
            ""
        }
    );
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown())
        .await?;
    host.audit.flush().await;
    eprintln!("djinn stopped");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM; in-flight requests then finish before exit.
async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
}
