//! `SqlKv` against real databases: isolation, quota, limits.

mod common;

use std::sync::Arc;

use common::TestDb;
use djinn_store::kv::{MAX_KEY_BYTES, MAX_VALUE_BYTES};
use djinn_store::{KvError, KvStore, Namespace};

on_both_backends!(
    namespaces_are_isolated_whatever_the_key,
    keys_are_exact_not_patterns,
    binary_and_maximal_values_round_trip,
    quota_exceeded_writes_nothing,
    quota_is_atomic_under_concurrent_writers,
    prefix_listing_is_byte_ordered,
    data_survives_reopen,
);

async fn namespaces_are_isolated_whatever_the_key(db: TestDb) {
    let kv = db.store.kv();
    let a = Namespace::new("a");
    let b = Namespace::new("b");
    kv.set(&a, "secret", b"1", 1000).await.unwrap();
    for key in [
        "secret",
        "../a/secret",
        "a/secret",
        "%",
        "_",
        "a%",
        "/a/secret",
        "*",
    ] {
        assert_eq!(kv.get(&b, key).await.unwrap(), None, "{key:?}");
    }
    assert!(kv.list_keys(&b, "").await.unwrap().is_empty());
    // A crafted key in b is just a key in b.
    kv.set(&b, "../a/secret", b"evil", 1000).await.unwrap();
    assert_eq!(
        kv.get(&a, "secret").await.unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(kv.list_keys(&a, "").await.unwrap(), vec!["secret"]);
    // Deleting in b does not touch a.
    kv.delete(&b, "secret").await.unwrap();
    assert_eq!(
        kv.get(&a, "secret").await.unwrap().as_deref(),
        Some(&b"1"[..])
    );
    // Namespaces that look like patterns or prefixes of each other.
    let pct = Namespace::new("%");
    let a_ = Namespace::new("a_");
    assert!(kv.list_keys(&pct, "").await.unwrap().is_empty());
    assert!(kv.list_keys(&a_, "").await.unwrap().is_empty());
    assert_eq!(kv.get(&pct, "secret").await.unwrap(), None);
}

async fn keys_are_exact_not_patterns(db: TestDb) {
    let kv = db.store.kv();
    let ns = Namespace::new("p");
    kv.set(&ns, "abc", b"1", 1000).await.unwrap();
    for k in ["a%", "a_c", "%", "_bc", "ABC", "abc "] {
        assert_eq!(kv.get(&ns, k).await.unwrap(), None, "{k:?}");
    }
    // Prefix listing treats % and _ literally.
    kv.set(&ns, "a%1", b"x", 1000).await.unwrap();
    kv.set(&ns, "a_1", b"x", 1000).await.unwrap();
    assert_eq!(kv.list_keys(&ns, "a%").await.unwrap(), vec!["a%1"]);
    assert_eq!(kv.list_keys(&ns, "a_").await.unwrap(), vec!["a_1"]);
    // Longest allowed key works; one byte more is refused before touching the database.
    let long = "k".repeat(MAX_KEY_BYTES);
    kv.set(&ns, &long, b"v", 10_000).await.unwrap();
    assert_eq!(
        kv.get(&ns, &long).await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
    let too_long = "k".repeat(MAX_KEY_BYTES + 1);
    assert!(matches!(
        kv.set(&ns, &too_long, b"v", 10_000).await,
        Err(KvError::Invalid(_))
    ));
    assert!(matches!(
        kv.get(&ns, &too_long).await,
        Err(KvError::Invalid(_))
    ));
    assert!(matches!(
        kv.set(&ns, "", b"v", 10_000).await,
        Err(KvError::Invalid(_))
    ));
    // Multi-byte keys.
    kv.set(&ns, "ключ/😀", b"u", 10_000).await.unwrap();
    assert_eq!(kv.list_keys(&ns, "ключ").await.unwrap(), vec!["ключ/😀"]);
}

async fn binary_and_maximal_values_round_trip(db: TestDb) {
    let kv = db.store.kv();
    let ns = Namespace::new("bin");
    let all_bytes: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    kv.set(&ns, "bytes", &all_bytes, u64::MAX).await.unwrap();
    assert_eq!(kv.get(&ns, "bytes").await.unwrap(), Some(all_bytes));
    kv.set(&ns, "empty", b"", u64::MAX).await.unwrap();
    assert_eq!(kv.get(&ns, "empty").await.unwrap(), Some(Vec::new()));
    let max: Vec<u8> = (0..MAX_VALUE_BYTES).map(|i| (i % 251) as u8).collect();
    kv.set(&ns, "max", &max, u64::MAX).await.unwrap();
    assert_eq!(kv.get(&ns, "max").await.unwrap(), Some(max));
    let over = vec![0u8; MAX_VALUE_BYTES + 1];
    assert!(matches!(
        kv.set(&ns, "over", &over, u64::MAX).await,
        Err(KvError::Invalid(_))
    ));
    assert_eq!(kv.get(&ns, "over").await.unwrap(), None);
}

async fn quota_exceeded_writes_nothing(db: TestDb) {
    let kv = db.store.kv();
    let ns = Namespace::new("q");
    kv.set(&ns, "k1", &[0; 6], 10).await.unwrap(); // 8 bytes
    assert_eq!(kv.used_bytes(&ns).await.unwrap(), 8);
    let err = kv.set(&ns, "k2", &[0; 1], 10).await.unwrap_err(); // would be 11
    assert!(
        matches!(
            err,
            KvError::QuotaExceeded {
                would_use: 11,
                quota: 10,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(kv.get(&ns, "k2").await.unwrap(), None);
    assert_eq!(kv.used_bytes(&ns).await.unwrap(), 8);
    // A failed overwrite leaves the old value and the usage untouched.
    let err = kv.set(&ns, "k1", &[9; 9], 10).await.unwrap_err();
    assert!(
        matches!(err, KvError::QuotaExceeded { would_use: 11, .. }),
        "{err:?}"
    );
    assert_eq!(kv.get(&ns, "k1").await.unwrap(), Some(vec![0; 6]));
    assert_eq!(kv.used_bytes(&ns).await.unwrap(), 8);
    // Overwriting reuses the old entry's bytes; deleting frees them.
    kv.set(&ns, "k1", &[1; 8], 10).await.unwrap();
    assert_eq!(kv.used_bytes(&ns).await.unwrap(), 10);
    kv.delete(&ns, "k1").await.unwrap();
    assert_eq!(kv.used_bytes(&ns).await.unwrap(), 0);
    kv.delete(&ns, "k1").await.unwrap(); // deleting a missing key is fine
    kv.set(&ns, "k2", &[0; 8], 10).await.unwrap();
    assert_eq!(kv.list_keys(&ns, "").await.unwrap(), vec!["k2"]);
}

async fn quota_is_atomic_under_concurrent_writers(db: TestDb) {
    // 40 writers of 10-byte entries race for a 100-byte quota: exactly 10 may win.
    let kv = Arc::new(db.store.kv());
    let ns = Namespace::new("race");
    let mut tasks = Vec::new();
    for i in 0..40 {
        let kv = kv.clone();
        let ns = ns.clone();
        tasks.push(tokio::spawn(async move {
            kv.set(&ns, &format!("k{i:02}"), &[7; 7], 100).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(KvError::QuotaExceeded { .. }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(ok, 10);
    assert_eq!(kv.used_bytes(&ns).await.unwrap(), 100);
    assert_eq!(kv.list_keys(&ns, "").await.unwrap().len(), 10);
}

async fn prefix_listing_is_byte_ordered(db: TestDb) {
    let kv = db.store.kv();
    let ns = Namespace::new("p");
    for k in ["b/1", "a/2", "a/1", "a", "a0", "B", "a/\u{10FFFF}", "ä"] {
        kv.set(&ns, k, b"x", 10_000).await.unwrap();
    }
    assert_eq!(
        kv.list_keys(&ns, "a/").await.unwrap(),
        vec!["a/1", "a/2", "a/\u{10FFFF}"]
    );
    assert_eq!(
        kv.list_keys(&ns, "").await.unwrap(),
        vec!["B", "a", "a/1", "a/2", "a/\u{10FFFF}", "a0", "b/1", "ä"]
    );
    assert!(kv.list_keys(&ns, "zz").await.unwrap().is_empty());
}

async fn data_survives_reopen(db: TestDb) {
    let ns = Namespace::new("p");
    db.store.kv().set(&ns, "k", b"v", 100).await.unwrap();
    db.store.close().await;
    let again = djinn_store::Store::open(&db.url).await.unwrap();
    assert_eq!(
        again.kv().get(&ns, "k").await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(again.kv().used_bytes(&ns).await.unwrap(), 2);
}
