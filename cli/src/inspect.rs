//! `djinn plugin inspect`: what a component is and what it needs, before loading it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use djinn::runtime::{Manifest, PluginKind};
use djinn::{Runtime, RuntimeConfig, capabilities::Services};

pub async fn run(wasm: &Path, manifest: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let runtime = Runtime::new(RuntimeConfig::default(), Services::default())?;
    let (interfaces, _) = runtime.inspect(&bytes).await?;
    let world = match interfaces.kind() {
        Some(PluginKind::Agent) => "djinn:plugin/agent-plugin",
        Some(PluginKind::Policy) => "djinn:plugin/policy-plugin",
        None => "none (exports neither djinn:plugin/agent nor djinn:plugin/policy)",
    };
    let needs: Vec<&str> = ["llm", "kv"]
        .into_iter()
        .filter(|cap| {
            interfaces
                .imports
                .iter()
                .any(|i| i.starts_with(&format!("djinn:plugin/{cap}@")))
        })
        .collect();
    let wasi: Vec<&String> = interfaces
        .imports
        .iter()
        .filter(|i| i.starts_with("wasi:"))
        .collect();

    let load = match manifest {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(match Manifest::parse(&text) {
                Ok(m) => runtime
                    .load(&bytes, m)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            })
        }
        None => None,
    };

    if json {
        let doc = serde_json::json!({
            "file": wasm.display().to_string(),
            "bytes": bytes.len(),
            "sha256": djinn::runtime::cache::sha256_hex(&bytes),
            "world": world,
            "exports": interfaces.exports,
            "imports": interfaces.imports,
            "grants_needed": needs,
            "manifest_check": load.as_ref().map(|r| match r {
                Ok(()) => serde_json::json!({"ok": true}),
                Err(e) => serde_json::json!({"ok": false, "error": e}),
            }),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("{} ({} bytes)", wasm.display(), bytes.len());
        println!("world:   {world}");
        println!("exports: {}", interfaces.exports.join(", "));
        println!("imports:");
        for i in interfaces
            .imports
            .iter()
            .filter(|i| !i.starts_with("wasi:"))
        {
            println!("  {i}");
        }
        if !wasi.is_empty() {
            println!(
                "  + {} WASI interfaces (linked with nothing granted: no files, env or sockets)",
                wasi.len()
            );
        }
        if needs.is_empty() {
            println!("grants needed: none beyond log and config");
        } else {
            println!(
                "grants needed: {}",
                needs
                    .iter()
                    .map(|n| format!("[grants.{n}]"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        match &load {
            Some(Ok(())) => println!("manifest: OK, loads and answers info()"),
            Some(Err(e)) => println!("manifest: REFUSED: {e}"),
            None => {}
        }
    }
    Ok(match load {
        Some(Err(_)) => ExitCode::from(2),
        _ => ExitCode::SUCCESS,
    })
}
