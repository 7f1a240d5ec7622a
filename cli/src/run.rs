//! `djinn run`: one call to one plugin, with the outcome, fuel and time.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use djinn::runtime::{CallReport, GateContext, Manifest, Message, PluginKind, RiskLevel, Stage};
use djinn::{Runtime, RuntimeConfig, capabilities::Services};
use serde::Deserialize;

#[derive(clap::Args)]
pub struct Args {
    /// A bundled plugin id (`echo`), a plugin folder (with djinn.toml), or a .wasm file.
    target: String,
    /// The message as JSON: {"topic": "...", "payload": <JSON or text>, "metadata": {"k": "v"}}.
    #[arg(long)]
    message: String,
    /// The manifest, when TARGET is a .wasm file not next to its djinn.toml.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// For policies: the stage to judge at.
    #[arg(long, value_enum, default_value = "inbound")]
    stage: StageArg,
    /// For policies: the receiving agent on a hop.
    #[arg(long)]
    recipient: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StageArg {
    Inbound,
    Hop,
    Outbound,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageArg {
    topic: String,
    #[serde(default)]
    payload: serde_json::Value,
    #[serde(default)]
    metadata: std::collections::BTreeMap<String, String>,
}

/// Finds the component and manifest for TARGET.
fn resolve(target: &str, manifest: Option<&Path>) -> anyhow::Result<(Vec<u8>, String)> {
    let read_manifest = |p: &Path| {
        std::fs::read_to_string(p).with_context(|| format!("reading manifest {}", p.display()))
    };
    let path = Path::new(target);
    if path.is_file() {
        let wasm = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let manifest_path = match manifest {
            Some(m) => m.to_path_buf(),
            None => path.with_file_name("djinn.toml"),
        };
        return Ok((wasm, read_manifest(&manifest_path)?));
    }
    if path.is_dir() {
        let dir = path.canonicalize()?;
        if let Some(b) = djinn_plugins::BUNDLED
            .iter()
            .find(|b| Path::new(b.dir).canonicalize().ok().as_deref() == Some(dir.as_path()))
        {
            return Ok((b.wasm.to_vec(), b.manifest.to_owned()));
        }
        let cargo = std::fs::read_to_string(dir.join("Cargo.toml"))
            .with_context(|| format!("{} has no Cargo.toml", dir.display()))?;
        let name = cargo
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = "))
            .map(|n| n.trim_matches('"').replace('-', "_"))
            .context("Cargo.toml has no package name")?;
        let wasm_path = dir.join(format!("target/wasm32-wasip2/release/{name}.wasm"));
        let wasm = std::fs::read(&wasm_path).with_context(|| {
            format!(
                "reading {}; build it first with `cargo build --release --target wasm32-wasip2`",
                wasm_path.display()
            )
        })?;
        return Ok((wasm, read_manifest(&dir.join("djinn.toml"))?));
    }
    for b in djinn_plugins::serving().chain(djinn_plugins::BUNDLED.iter()) {
        if Manifest::parse(b.manifest).is_ok_and(|m| m.id.as_str() == target) {
            return Ok((b.wasm.to_vec(), b.manifest.to_owned()));
        }
    }
    bail!("`{target}` is not a file, a plugin folder or a bundled plugin id")
}

fn print_report<T: std::fmt::Debug>(
    report: &CallReport<T>,
    json: bool,
    value: impl Fn(&T) -> serde_json::Value,
) -> ExitCode {
    let (ok, outcome) = match &report.outcome {
        Ok(v) => (true, value(v)),
        Err(fault) => (false, serde_json::to_value(fault).unwrap_or_default()),
    };
    if json {
        let doc = serde_json::json!({
            "outcome": report.outcome_kind(),
            "result": outcome,
            "fuel_consumed": report.fuel_consumed,
            "duration_us": report.duration.as_micros() as u64,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        println!("outcome: {}", report.outcome_kind());
        println!("fuel:    {}", report.fuel_consumed);
        println!("time:    {:.3} ms", report.duration.as_secs_f64() * 1000.0);
        match &report.outcome {
            Ok(_) => println!(
                "{}",
                serde_json::to_string_pretty(&outcome).unwrap_or_default()
            ),
            Err(fault) => println!("fault:   {fault}"),
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}

fn message_json(m: &Message) -> serde_json::Value {
    serde_json::json!({
        "topic": m.topic,
        "recipient": m.recipient,
        "payload": serde_json::from_str::<serde_json::Value>(&m.payload)
            .unwrap_or_else(|_| serde_json::Value::String(m.payload.clone())),
        "metadata": m.metadata.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
    })
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let arg: MessageArg = serde_json::from_str(&args.message)
        .context("--message must be JSON like {\"topic\": \"echo\", \"payload\": {...}}")?;
    let (wasm, manifest_text) = resolve(&args.target, args.manifest.as_deref())?;
    let manifest = Manifest::parse(&manifest_text)?;
    let runtime = Runtime::new(RuntimeConfig::default(), Services::default())?;
    let plugin = runtime.load(&wasm, manifest).await?;
    let msg = Message {
        id: "run-1".into(),
        correlation_id: "run".into(),
        topic: arg.topic,
        sender: "cli".into(),
        recipient: None,
        payload: match arg.payload {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        },
        metadata: arg.metadata.into_iter().collect(),
    };
    Ok(match plugin.kind() {
        PluginKind::Agent => {
            let report = plugin.handle(&msg).await;
            print_report(&report, args.json, |msgs| {
                serde_json::Value::Array(msgs.iter().map(message_json).collect())
            })
        }
        PluginKind::Policy => {
            let ctx = GateContext {
                stage: match args.stage {
                    StageArg::Inbound => Stage::Inbound,
                    StageArg::Hop => Stage::Hop,
                    StageArg::Outbound => Stage::Outbound,
                },
                recipient: args.recipient,
                recipient_risk: Some(RiskLevel::Low),
            };
            let report = plugin.evaluate(&msg, &ctx).await;
            print_report(&report, args.json, |v| match v {
                djinn::runtime::Verdict::Allow => serde_json::json!({"verdict": "allow"}),
                djinn::runtime::Verdict::Deny(r) => {
                    serde_json::json!({"verdict": "deny", "reason": r})
                }
                djinn::runtime::Verdict::Redact(m) => {
                    serde_json::json!({"verdict": "redact", "message": message_json(m)})
                }
            })
        }
    })
}
