//! Store throughput on SQLite in a temp dir: audit appends (single vs batched, and
//! `synchronous=FULL` vs `NORMAL`) and kv get/set.
//!
//! Run: `cargo bench -p djinn-store --bench store`
//! (add `-- --warm-up-time 1 --measurement-time 3` for a quick pass).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use djinn_store::{AuditKind, KvStore, Namespace, NewAuditRecord, Store, StoreOptions};
use serde_json::json;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn open(rt: &tokio::runtime::Runtime, dir: &tempfile::TempDir, name: &str, full: bool) -> Store {
    let url = format!("sqlite://{}", dir.path().join(name).display());
    let options = StoreOptions {
        sqlite_synchronous_full: full,
        ..StoreOptions::default()
    };
    rt.block_on(Store::open_with(&url, &options))
        .expect("open store")
}

fn record(i: u64) -> NewAuditRecord {
    NewAuditRecord::new(
        AuditKind::PolicyVerdict,
        "bench",
        json!({"verdict": "allow", "policy": "pii", "i": i, "topic": "question"}),
    )
    .plugin("pii")
    .correlation(format!("c-{}", i / 10))
}

fn audit(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("audit_append");
    for (sync, full) in [("full", true), ("normal", false)] {
        let store = open(&rt, &dir, &format!("audit-{sync}.db"), full);
        let audit = store.audit();
        let mut i = 0u64;
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("single", sync), |b| {
            b.iter(|| {
                i += 1;
                rt.block_on(audit.append(record(i))).expect("append")
            })
        });
        for batch in [10u64, 100] {
            group.throughput(Throughput::Elements(batch));
            group.bench_function(BenchmarkId::new(format!("batch{batch}"), sync), |b| {
                b.iter(|| {
                    let records = (0..batch).map(|j| record(i + j)).collect();
                    i += batch;
                    rt.block_on(audit.append_batch(records))
                        .expect("append batch")
                })
            });
        }
        // Group commit: 100 concurrent single appends through one batcher.
        let batcher = rt.block_on(async { audit.batcher(256) });
        group.throughput(Throughput::Elements(100));
        group.bench_function(BenchmarkId::new("group_commit_100_tasks", sync), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let tasks: Vec<_> = (0..100)
                        .map(|j| {
                            let batcher = batcher.clone();
                            tokio::spawn(async move { batcher.append(record(j)).await })
                        })
                        .collect();
                    for t in tasks {
                        t.await.expect("join").expect("append");
                    }
                })
            })
        });
        let report = rt.block_on(audit.verify()).expect("verify");
        assert!(report.is_intact());
    }
    group.finish();

    // Verifying the chain: records per second.
    let store = open(&rt, &dir, "verify.db", false);
    let n = 10_000u64;
    for chunk in 0..n / 500 {
        rt.block_on(
            store
                .audit()
                .append_batch((0..500).map(|j| record(chunk * 500 + j)).collect()),
        )
        .expect("fill");
    }
    let mut group = c.benchmark_group("audit_verify");
    group.throughput(Throughput::Elements(n));
    group.bench_function("10k_records", |b| {
        b.iter(|| rt.block_on(store.audit().verify()).expect("verify"))
    });
    group.finish();
}

fn kv(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&rt, &dir, "kv.db", true);
    let kv = store.kv();
    let ns = Namespace::new("bench");
    let value = vec![0xAB; 1024];
    for i in 0..1000 {
        rt.block_on(kv.set(&ns, &format!("key/{i}"), &value, u64::MAX))
            .expect("fill");
    }
    let mut group = c.benchmark_group("kv");
    group.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    group.bench_function("get_1KiB", |b| {
        b.iter(|| {
            i += 1;
            rt.block_on(kv.get(&ns, &format!("key/{}", i % 1000)))
                .expect("get")
        })
    });
    group.bench_function("set_1KiB_full", |b| {
        b.iter(|| {
            i += 1;
            rt.block_on(kv.set(&ns, &format!("key/{}", i % 1000), &value, u64::MAX))
                .expect("set")
        })
    });
    group.bench_function("list_keys_prefix", |b| {
        b.iter(|| rt.block_on(kv.list_keys(&ns, "key/99")).expect("list"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = audit, kv
}
criterion_main!(benches);
