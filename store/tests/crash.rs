//! Real processes on one SQLite file, using the `djinn-store-writer` test binary:
//! - crash safety: SIGKILL a writer mid-stream, reopen, and check that the chain verifies
//!   and every write the writer acknowledged (printed) is there;
//! - several writer processes opening a new file at once (migrations race) and appending
//!   concurrently produce one unbroken chain.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use djinn_store::{KvStore, Namespace, Store};

/// Runs the writer until it has acknowledged `min_acks` lines, then SIGKILLs it and
/// returns every line it printed (including those still in the pipe).
fn run_and_kill(url: &str, min_acks: usize) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_djinn-store-writer"))
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn writer");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    // Let the writer run for a while, then kill it wherever it is (usually inside a
    // transaction: it spends almost all its time in one).
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        if started.elapsed() > Duration::from_millis(1500) {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("writer exited early: {status}");
        }
    }
    child.kill().expect("SIGKILL writer"); // std's kill is SIGKILL on Unix
    child.wait().unwrap();
    let lines = reader.join().unwrap();
    assert!(
        lines.len() >= min_acks,
        "writer acknowledged only {} writes before the kill",
        lines.len()
    );
    lines
}

async fn check(url: &str, acks: &[String]) -> u64 {
    let store = Store::open(url).await.expect("reopen after kill");
    let report = store.audit().verify().await.unwrap();
    assert!(
        report.is_intact(),
        "chain broken after SIGKILL: {:?}",
        report.first_break
    );
    let all = store.audit().tail(u32::MAX).await.unwrap();
    let kv = store.kv();
    let ns = Namespace::new("writer");
    let (mut audits, mut kvs) = (0, 0);
    for line in acks {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["audit", seq, i] => {
                let seq: u64 = seq.parse().unwrap();
                let i: u64 = i.parse().unwrap();
                let r = all
                    .iter()
                    .find(|r| r.seq == seq)
                    .unwrap_or_else(|| panic!("acknowledged audit record {seq} is missing"));
                assert_eq!(r.detail, serde_json::json!({ "i": i }), "record {seq}");
                audits += 1;
            }
            ["kv", key, len] => {
                let len: usize = len.parse().unwrap();
                let v = kv
                    .get(&ns, key)
                    .await
                    .unwrap()
                    .unwrap_or_else(|| panic!("acknowledged kv {key} is missing"));
                assert_eq!(v, vec![(len % 256) as u8; len], "kv {key}");
                kvs += 1;
            }
            // A line cut by the kill would be a bug: the writer prints whole lines.
            other => panic!("unexpected writer line {other:?}"),
        }
    }
    assert!(audits > 0 && kvs > 0);
    store.close().await;
    report.head_seq
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    // Twice: the second writer continues the chain the first one left after its crash.
    let first = run_and_kill(&url, 50);
    let head1 = check(&url, &first).await;
    let second = run_and_kill(&url, 50);
    let head2 = check(&url, &second).await;
    assert!(
        head2 > head1,
        "second run appended nothing ({head1} → {head2})"
    );
    eprintln!(
        "crash test: run 1 acknowledged {} writes (head {head1}), run 2 {} (head {head2})",
        first.len(),
        second.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_opening_and_appending_at_once_share_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    // 40 iterations each: 20 single appends + 20 batches of 5 = 120 records per process.
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_djinn-store-writer"))
                .args([url.as_str(), "40"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn writer")
        })
        .collect();
    let mut seqs = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "writer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            if let Some(rest) = line.strip_prefix("audit ") {
                seqs.push(rest.split(' ').next().unwrap().parse::<u64>().unwrap());
            }
        }
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=360).collect::<Vec<_>>());
    let store = Store::open(&url).await.unwrap();
    let report = store.audit().verify().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!(report.checked, 360);
}
