//! `djinn ask`: one question through every bundled agent and policy, in this
//! process, with the mock LLM. Prints what each agent said, every verdict, the
//! failed branches, the judge's score and the answer.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use djinn::audit::MemoryAudit;
use djinn::bus::{AskResult, AskStatus, BackgroundReport, Bus, BusConfig};
use djinn::capabilities::Services;
use djinn::runtime::Manifest;
use djinn::{Runtime, RuntimeConfig};
use serde_json::{Value, json};

/// How long `djinn ask` waits for the judge after the answer.
const JUDGE_WAIT: Duration = Duration::from_secs(20);

#[derive(clap::Args)]
pub struct Args {
    /// The question.
    question: String,
    /// A bank statement CSV (header `date,description,amount,type[,category]`).
    #[arg(long)]
    statement: Option<PathBuf>,
    /// Context as a JSON object: `{"task": "loan", "params": {...}, "metadata": {...}}`.
    /// `metadata` overrides the defaults user_id=cli, user_roles=user,
    /// classification=internal, region=in.
    #[arg(long)]
    context: Option<String>,
    /// Print the whole result (and the judge's report) as JSON.
    #[arg(long)]
    json: bool,
}

/// Builds the bus context: the statement, the caller's context and the default metadata.
fn context(args: &Args) -> anyhow::Result<Value> {
    let mut ctx = match &args.context {
        Some(text) => {
            let v: Value = serde_json::from_str(text).context("--context is not valid JSON")?;
            if !v.is_object() {
                bail!(
                    "--context must be a JSON object, like {{\"task\": \"loan\", \"params\": {{}}}}"
                );
            }
            v
        }
        None => json!({}),
    };
    let mut metadata = json!({
        "user_id": "cli",
        "user_roles": "user",
        "classification": "internal",
        "region": "in",
    });
    if let Some(given) = ctx.get("metadata") {
        let given = given
            .as_object()
            .context("--context `metadata` must be an object of strings")?;
        for (k, v) in given {
            metadata[k] = v.clone();
        }
    }
    ctx["metadata"] = metadata;
    if let Some(path) = &args.statement {
        let csv = std::fs::read_to_string(path)
            .with_context(|| format!("reading the statement {}", path.display()))?;
        ctx["statement"] = json!({ "csv": csv });
    }
    Ok(ctx)
}

/// Loads every bundled agent and policy into a bus.
async fn bus() -> anyhow::Result<Bus> {
    let config = RuntimeConfig {
        cache_dir: Some(std::env::temp_dir().join("djinn-ask-cache")),
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::new(config, Services::default())?;
    let bus_config = BusConfig {
        policy_order: Some(
            djinn::bus::DEFAULT_POLICY_ORDER
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        ),
        ..BusConfig::default()
    };
    let mut builder = Bus::builder(bus_config).audit(Arc::new(MemoryAudit::new()));
    for b in djinn_plugins::serving() {
        let manifest = Manifest::parse(b.manifest)
            .with_context(|| format!("bundled manifest of `{}`", b.crate_name))?;
        let plugin = runtime
            .load(b.wasm, manifest)
            .await
            .with_context(|| format!("loading bundled plugin `{}`", b.crate_name))?;
        builder = builder.plugin(plugin)?;
    }
    Ok(builder.build()?)
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ctx = context(&args)?;
    let bus = bus().await?;
    let mut result = bus.ask(&args.question, ctx).await;
    let judge = match result.background.take() {
        Some(handle) => match tokio::time::timeout(JUDGE_WAIT, handle).await {
            Ok(Ok(report)) => Some(report),
            Ok(Err(e)) => {
                eprintln!("warning: the judge's task failed: {e}");
                None
            }
            Err(_) => {
                eprintln!("warning: no judge score within {} s", JUDGE_WAIT.as_secs());
                None
            }
        },
        None => None,
    };
    if args.json {
        let mut doc = serde_json::to_value(&result)?;
        doc["judge"] = serde_json::to_value(&judge)?;
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_text(&result, judge.as_ref());
    }
    Ok(match &result.status {
        AskStatus::Answered => ExitCode::SUCCESS,
        AskStatus::Denied {
            policy,
            stage,
            reason,
        } => {
            eprintln!("denied by policy `{policy}` ({stage}): {reason}");
            ExitCode::from(2)
        }
        other => {
            eprintln!("no answer: {other:?}");
            ExitCode::FAILURE
        }
    })
}

/// A one-line preview of a JSON payload.
fn preview(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let text = text.replace('\n', " ");
    match text.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

fn print_text(r: &AskResult, judge: Option<&BackgroundReport>) {
    println!(
        "question {}: {:?} in {:.1} ms ({} messages)",
        r.correlation_id, r.status, r.elapsed_ms, r.messages
    );
    println!("\nagents:");
    let calls = r
        .calls
        .iter()
        .chain(judge.into_iter().flat_map(|j| &j.calls));
    for c in calls {
        println!(
            "  {:<17} {:<24} -> {:<24} {:<12} fuel {:>10}  {:>8.1} ms",
            c.agent,
            c.topic_in,
            c.topics_out.join(","),
            c.outcome,
            c.fuel,
            c.duration_ms
        );
        if let Some(f) = &c.fault {
            println!("      fault: {f}");
        }
        for o in &c.outputs {
            println!("      {}: {}", o.topic, preview(&o.payload.value()));
        }
    }
    for s in &r.stages {
        println!(
            "\ngather {} -> {}: started at {:.1} ms, wall {:.1} ms",
            s.origin_topic, s.gather_topic, s.started_ms, s.wall_ms
        );
        for b in &s.branches {
            println!(
                "  {:<17} {:<8} {:>8.1} ms",
                b.agent, b.outcome, b.duration_ms
            );
        }
    }
    // Every verdict, one line per message when all policies allowed it.
    println!("\nverdicts:");
    let verdicts: Vec<_> = r
        .verdicts
        .iter()
        .chain(judge.into_iter().flat_map(|j| &j.verdicts))
        .collect();
    for group in verdicts
        .chunk_by(|a, b| (&a.stage, &a.topic, &a.recipient) == (&b.stage, &b.topic, &b.recipient))
    {
        let v = group[0];
        let place = format!(
            "{:<8} {:<24} -> {:<17}",
            v.stage,
            v.topic,
            v.recipient.as_deref().unwrap_or("(bus)")
        );
        if group.iter().all(|v| v.verdict == "allow") {
            println!("  {place} allow ({} policies)", group.len());
            continue;
        }
        for v in group {
            println!(
                "  {place} {:<18} {}{}",
                v.policy,
                v.verdict,
                v.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
        }
    }
    let failed: Vec<_> = r
        .failed
        .iter()
        .chain(judge.into_iter().flat_map(|j| &j.failed))
        .collect();
    println!(
        "\nfailed branches: {}",
        if failed.is_empty() { "none" } else { "" }
    );
    for f in failed {
        println!("  {} on `{}`: {}", f.agent, f.topic, f.reason);
    }
    for u in &r.undelivered {
        println!(
            "undelivered: `{}` from `{}`: {}",
            u.topic, u.sender, u.reason
        );
    }
    match judge.and_then(|j| j.outputs.iter().find(|o| o.topic == "judge.score")) {
        Some(score) => {
            let score = score.payload.value();
            println!(
                "\njudge: score {} (groundedness {}, completeness {}): {}",
                score["score"],
                score["groundedness"],
                score["completeness"],
                score["reasoning"].as_str().unwrap_or("")
            )
        }
        None => println!("\njudge: no score"),
    }
    match r.answer_text() {
        Some(text) => println!("\n===== answer =====\n{text}"),
        None => {
            if let Some(a) = &r.answer {
                println!("\n===== answer =====\n{a}");
            }
        }
    }
}
