//! The audit chain against real databases: tamper, delete, concurrency, queries.

mod common;

use common::TestDb;
use djinn_store::{AuditKind, AuditQuery, ChainBreak, GENESIS_HASH, NewAuditRecord, Store};
use serde_json::json;

on_both_backends!(
    intact_chain_verifies_and_links,
    tampered_detail_fails_at_that_seq,
    tampered_hash_field_is_caught_at_next_seq,
    deleted_record_is_a_gap,
    deleted_tail_is_truncation,
    concurrent_appends_make_one_chain,
    two_pools_append_one_chain,
    group_commit_shares_transactions_and_keeps_one_chain,
    batch_append_is_all_or_nothing_and_consecutive,
    tail_and_query_filter,
);

fn rec(i: usize) -> NewAuditRecord {
    NewAuditRecord::new(
        AuditKind::ALL[i % AuditKind::ALL.len()],
        "test",
        json!({"i": i, "z": "last", "a": {"nested": [1, 2.5, null]}}),
    )
    .plugin(format!("p{}", i % 3))
    .correlation(format!("c{}", i % 4))
}

async fn append_n(store: &Store, n: usize) {
    for i in 0..n {
        store.audit().append(rec(i)).await.unwrap();
    }
}

async fn intact_chain_verifies_and_links(db: TestDb) {
    let audit = db.store.audit();
    let empty = audit.verify().await.unwrap();
    assert!(empty.is_intact());
    assert_eq!((empty.checked, empty.head_seq), (0, 0));
    let first = audit.append(rec(0)).await.unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(first.prev_hash, GENESIS_HASH);
    let second = audit.append(rec(1)).await.unwrap();
    assert_eq!(second.seq, 2);
    assert_eq!(second.prev_hash, first.hash);
    append_n(&db.store, 20).await;
    let report = audit.verify().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!(report.checked, 22);
    assert_eq!(report.head_seq, 22);
    assert_eq!(audit.head().await.unwrap(), (22, report.head_hash.clone()));
}

async fn tampered_detail_fails_at_that_seq(db: TestDb) {
    append_n(&db.store, 30).await;
    // Same meaning, different text would also fail; here the meaning changes.
    let n = db
        .exec(r#"UPDATE audit SET detail = '{"i":999}' WHERE seq = 17"#)
        .await;
    assert_eq!(n, 1);
    let report = db.store.audit().verify().await.unwrap();
    match report.first_break {
        Some(ChainBreak::HashMismatch {
            seq,
            ref expected,
            ref stored,
        }) => {
            assert_eq!(seq, 17);
            assert_ne!(expected, stored);
        }
        other => panic!("expected a hash mismatch at 17, got {other:?}"),
    }
    assert_eq!(report.checked, 16);
    assert_eq!(report.first_break.unwrap().seq(), 17);
}

async fn tampered_hash_field_is_caught_at_next_seq(db: TestDb) {
    // An attacker who rewrites a record *and* its hash breaks the link to the next one.
    append_n(&db.store, 10).await;
    let records = db.store.audit().tail(10).await.unwrap();
    let r5 = &records[4];
    assert_eq!(r5.seq, 5);
    let forged = djinn_store::audit::chain_hash(
        5,
        &djinn_store::audit::format_time(&r5.time),
        r5.kind.as_str(),
        "mallory",
        r5.plugin.as_deref(),
        r5.correlation.as_deref(),
        &djinn_store::audit::canonical_json(&r5.detail),
        &r5.prev_hash,
    );
    db.exec(&format!(
        "UPDATE audit SET actor = 'mallory', hash = '{forged}' WHERE seq = 5"
    ))
    .await;
    let report = db.store.audit().verify().await.unwrap();
    assert!(
        matches!(
            report.first_break,
            Some(ChainBreak::PrevHashMismatch { seq: 6, .. })
        ),
        "{:?}",
        report.first_break
    );
}

async fn deleted_record_is_a_gap(db: TestDb) {
    append_n(&db.store, 12).await;
    assert_eq!(db.exec("DELETE FROM audit WHERE seq = 7").await, 1);
    let report = db.store.audit().verify().await.unwrap();
    assert_eq!(
        report.first_break,
        Some(ChainBreak::Gap {
            expected_seq: 7,
            found_seq: 8
        })
    );
    assert_eq!(report.checked, 6);
    // Deleting the first record is caught too.
    db.exec("DELETE FROM audit WHERE seq = 1").await;
    let report = db.store.audit().verify().await.unwrap();
    assert_eq!(
        report.first_break,
        Some(ChainBreak::Gap {
            expected_seq: 1,
            found_seq: 2
        })
    );
}

async fn deleted_tail_is_truncation(db: TestDb) {
    append_n(&db.store, 5).await;
    db.exec("DELETE FROM audit WHERE seq >= 4").await;
    let report = db.store.audit().verify().await.unwrap();
    assert_eq!(
        report.first_break,
        Some(ChainBreak::Truncated {
            last_seq: 3,
            head_seq: 5
        })
    );
    assert_eq!(report.first_break.unwrap().seq(), 4);
}

async fn concurrent_appends_make_one_chain(db: TestDb) {
    let mut tasks = Vec::new();
    for t in 0..16 {
        let audit = db.store.audit();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..10 {
                if i % 3 == 0 {
                    let batch = audit
                        .append_batch(vec![rec(t * 100 + i), rec(t * 100 + i + 50)])
                        .await
                        .unwrap();
                    assert_eq!(batch[1].seq, batch[0].seq + 1);
                    assert_eq!(batch[1].prev_hash, batch[0].hash);
                    seqs.extend(batch.iter().map(|r| r.seq));
                } else {
                    seqs.push(audit.append(rec(t * 100 + i)).await.unwrap().seq);
                }
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let total = 16 * (10 + 4);
    assert_eq!(all, (1..=total as u64).collect::<Vec<_>>());
    let report = db.store.audit().verify().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!(report.checked, total as u64);
}

async fn two_pools_append_one_chain(db: TestDb) {
    // Two independently opened stores stand in for two host processes.
    let other = Store::open(&db.url).await.unwrap();
    let mut tasks = Vec::new();
    for (s, store) in [db.store.clone(), other.clone()].into_iter().enumerate() {
        for t in 0..4 {
            let audit = store.audit();
            tasks.push(tokio::spawn(async move {
                for i in 0..15 {
                    audit.append(rec(s * 1000 + t * 100 + i)).await.unwrap();
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    for store in [&db.store, &other] {
        let report = store.audit().verify().await.unwrap();
        assert!(report.is_intact(), "{:?}", report.first_break);
        assert_eq!(report.checked, 2 * 4 * 15);
    }
    other.close().await;
}

async fn batch_append_is_all_or_nothing_and_consecutive(db: TestDb) {
    let audit = db.store.audit();
    assert!(audit.append_batch(Vec::new()).await.unwrap().is_empty());
    let batch: Vec<_> = (0..500).map(rec).collect();
    let out = audit.append_batch(batch).await.unwrap();
    assert_eq!(out.len(), 500);
    assert_eq!(out.first().unwrap().seq, 1);
    assert_eq!(out.last().unwrap().seq, 500);
    // A batch that fails midway (seq 502 already taken by a forged row) stores nothing.
    db.exec(&format!(
        "INSERT INTO audit (seq, time, kind, actor, plugin, correlation, detail, prev_hash, hash) \
         VALUES (502, '2026-01-01T00:00:00.000000Z', 'message', 'x', NULL, NULL, '{{}}', '{GENESIS_HASH}', '{GENESIS_HASH}')"
    ))
    .await;
    let err = audit.append_batch((0..5).map(rec).collect()).await;
    assert!(err.is_err());
    db.exec("DELETE FROM audit WHERE seq = 502").await;
    assert_eq!(audit.head().await.unwrap().0, 500);
    let report = audit.verify().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!(report.checked, 500);
}

async fn tail_and_query_filter(db: TestDb) {
    let audit = db.store.audit();
    append_n(&db.store, 40).await;
    let tail = audit.tail(5).await.unwrap();
    assert_eq!(
        tail.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![36, 37, 38, 39, 40]
    );
    // Records come back exactly as appended.
    let r = &tail[4];
    assert_eq!(
        r.detail,
        json!({"i": 39, "z": "last", "a": {"nested": [1, 2.5, null]}})
    );
    assert_eq!(r.plugin.as_deref(), Some("p0"));
    assert_eq!(r.correlation.as_deref(), Some("c3"));

    let by_plugin = audit
        .query(&AuditQuery {
            plugin: Some("p1".into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_plugin.len(), 13);
    assert!(by_plugin.iter().all(|r| r.plugin.as_deref() == Some("p1")));
    assert!(by_plugin.windows(2).all(|w| w[0].seq < w[1].seq));

    let both = audit
        .query(&AuditQuery {
            plugin: Some("p0".into()),
            correlation: Some("c0".into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    // i ≡ 0 mod 3 and i ≡ 0 mod 4: 0, 12, 24, 36.
    assert_eq!(
        both.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 13, 25, 37]
    );

    let kind = audit
        .query(&AuditQuery {
            kind: Some(AuditKind::LlmDenial),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    // i ≡ 8 mod 10: 8, 18, 28, 38 → the newest two.
    assert_eq!(kind.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![29, 39]);

    let future = chrono::Utc::now() + chrono::Duration::hours(1);
    let none = audit
        .query(&AuditQuery {
            since: Some(future),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    let since = audit
        .query(&AuditQuery {
            since: Some(tail[0].time),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(since.iter().all(|r| r.time >= tail[0].time));
    assert!(since.len() >= 5);
}

async fn group_commit_shares_transactions_and_keeps_one_chain(db: TestDb) {
    let batcher = db.store.audit().batcher(64);
    let mut tasks = Vec::new();
    for i in 0..300 {
        let batcher = batcher.clone();
        tasks.push(tokio::spawn(async move {
            batcher.append(rec(i)).await.unwrap()
        }));
    }
    let mut records = Vec::new();
    for t in tasks {
        records.push(t.await.unwrap());
    }
    let mut seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=300).collect::<Vec<_>>());
    // Concurrent callers shared commits: fewer distinct commit times than records
    // (each batch takes one timestamp).
    let mut times: Vec<_> = records.iter().map(|r| r.time).collect();
    times.sort_unstable();
    times.dedup();
    assert!(times.len() < 300, "no batching happened");
    // Each caller got its own record back.
    for r in &records {
        let i = r.detail["i"].as_u64().unwrap() as usize;
        assert_eq!(r.actor, "test");
        assert_eq!(r.kind, rec(i).kind);
    }
    let report = db.store.audit().verify().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!(report.checked, 300);
}
