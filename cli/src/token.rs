//! `djinn token create`: a new random API token and the config lines that admit it.

use std::process::ExitCode;

use djinn::api::{Role, hash_token};

#[derive(clap::Args)]
pub struct Args {
    /// A name for logs and the audit log.
    #[arg(long)]
    name: String,
    /// operator (plugins, audit, ask) or consumer (ask only).
    #[arg(long, value_enum)]
    role: RoleArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    Operator,
    Consumer,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let token = format!("djn_{}", hex::encode(bytes));
    let role = match args.role {
        RoleArg::Operator => Role::Operator,
        RoleArg::Consumer => Role::Consumer,
    };
    let role = serde_json::to_value(role)?;
    println!("token (shown once; store it safely): {token}");
    println!();
    println!("add to the host config:");
    println!("[[api.tokens]]");
    println!("name = {:?}", args.name);
    println!("role = {role}");
    println!("sha256 = {:?}", hash_token(&token));
    Ok(ExitCode::SUCCESS)
}
