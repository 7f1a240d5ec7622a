//! Test helper for the crash-safety test (`tests/crash.rs`): writes audit records and kv
//! entries to a SQLite store as fast as it can and prints a line to stdout for every
//! write *after* it is committed:
//!
//! ```text
//! audit <seq> <i>      # audit record <seq> with detail {"i": <i>} is durable
//! kv <key> <len>       # kv entry <key> (in namespace "writer") holding <len> bytes of <len % 256>
//! ```
//!
//! Usage: `djinn-store-writer <sqlite url or path> [iterations]`. The test kills it with
//! SIGKILL at an arbitrary moment and checks that every printed write survived.

use std::io::Write;

use djinn_store::{AuditKind, KvStore, Namespace, NewAuditRecord, Store};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: djinn-store-writer <sqlite url> [iterations]")?;
    let iterations: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(u64::MAX);
    let store = Store::open(&url).await?;
    let audit = store.audit();
    let kv = store.kv();
    let ns = Namespace::new("writer");
    let start = audit.head().await?.0;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let rec = |i: u64| {
        NewAuditRecord::new(AuditKind::Message, "writer", serde_json::json!({ "i": i }))
            .plugin("writer")
    };
    for n in 0..iterations {
        let i = start + n * 10;
        if n % 2 == 0 {
            let r = audit.append(rec(i)).await?;
            writeln!(out, "audit {} {i}", r.seq)?;
        } else {
            let rs = audit.append_batch((i..i + 5).map(rec).collect()).await?;
            for (r, j) in rs.iter().zip(i..) {
                writeln!(out, "audit {} {j}", r.seq)?;
            }
        }
        let key = format!("k{i}");
        let len = (i % 4096) as usize;
        kv.set(&ns, &key, &vec![(len % 256) as u8; len], u64::MAX)
            .await?;
        writeln!(out, "kv {key} {len}")?;
        out.flush()?;
    }
    Ok(())
}
