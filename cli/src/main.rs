//! The `djinn` command. This file only parses arguments and dispatches.

mod ask;
mod audit;
mod inspect;
mod logging;
mod run;
mod scaffold;
mod serve;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "djinn",
    version,
    about = "Run AI agents and governance policies as sandboxed WebAssembly components"
)]
struct Cli {
    /// Host configuration file (TOML); see docs/operations.md.
    #[arg(long, global = true, env = "DJINN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Work with plugin components.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Call a plugin once and print the outcome with the fuel and time it took.
    Run(run::Args),
    /// Ask a question through every bundled agent and policy (mock LLM).
    Ask(ask::Args),
    /// Serve the HTTP API over the registered plugins.
    Serve(serve::Args),
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Check or read the hash-chained audit log in the configured database.
    Audit {
        #[command(subcommand)]
        command: audit::Command,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a random token and print the config lines (with its hash) that admit it.
    Create(token::Args),
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Show a component's world, exports, imports and the grants it needs.
    Inspect {
        /// The component (.wasm).
        wasm: PathBuf,
        /// Also check it against this manifest (loads it in the real runtime).
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Create a plugin (Rust crate, Python or JavaScript folder) that builds, with a manifest and a test.
    New(scaffold::Args),
}

fn main() -> ExitCode {
    // wasmtime builds errors on paths that are not failures for the host (a call's
    // future dropped with its store), and with RUST_BACKTRACE=1 each one captures a
    // host backtrace: milliseconds per question (docs/performance.md). Our errors
    // carry context instead; panics still honour RUST_BACKTRACE.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: nothing else runs yet (the async runtime starts below), so no
        // other thread can read the environment while it changes.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    let cli = Cli::parse();
    logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Plugin {
                command:
                    PluginCommand::Inspect {
                        wasm,
                        manifest,
                        json,
                    },
            } => inspect::run(&wasm, manifest.as_deref(), json).await,
            Command::Plugin {
                command: PluginCommand::New(args),
            } => scaffold::run(&args),
            Command::Run(args) => run::run(args).await,
            Command::Ask(args) => ask::run(args).await,
            Command::Serve(args) => {
                let config = djinn::config::HostConfig::load(cli.config.as_deref())?;
                serve::run(config, args).await
            }
            Command::Token {
                command: TokenCommand::Create(args),
            } => token::run(&args),
            Command::Audit { command } => {
                let config = djinn::config::HostConfig::load(cli.config.as_deref())?;
                audit::run(&config, command).await
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
