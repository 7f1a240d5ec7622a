//! `djinn audit verify` and `djinn audit tail`: the hash-chained log, from the CLI.

use std::process::ExitCode;

use djinn::config::HostConfig;
use djinn_store::Store;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Walk the whole chain; exit 1 and name the first broken record if any.
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// Print the most recent records.
    Tail {
        /// How many records.
        #[arg(short = 'n', long, default_value_t = 20)]
        count: u32,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: &HostConfig, command: Command) -> anyhow::Result<ExitCode> {
    let store = Store::open(&config.database_url()).await?;
    let log = store.audit();
    match command {
        Command::Verify { json } => {
            let report = log.verify().await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "intact": report.is_intact(),
                        "checked": report.checked,
                        "head_seq": report.head_seq,
                        "head_hash": report.head_hash,
                        "first_break": report.first_break.as_ref().map(|b| format!("{b}")),
                    }))?
                );
            } else if let Some(b) = &report.first_break {
                println!("BROKEN after checking {} records: {b}", report.checked);
            } else {
                println!(
                    "intact: {} records, head seq {} hash {}",
                    report.checked, report.head_seq, report.head_hash
                );
            }
            Ok(if report.is_intact() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Tail { count, json } => {
            let records = log.tail(count).await?;
            for r in records {
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    println!(
                        "{:>6} {} {:<16} actor={} plugin={} corr={} {}",
                        r.seq,
                        djinn_store::audit::format_time(&r.time),
                        r.kind.as_str(),
                        r.actor,
                        r.plugin.as_deref().unwrap_or("-"),
                        r.correlation.as_deref().unwrap_or("-"),
                        r.detail
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
