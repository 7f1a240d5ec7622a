//! required-metadata in the real runtime, under its shipped manifest.

use djinn_sdk::harness::{Harness, RiskLevel, Verdict, hop, message};

#[test]
fn question_needs_user_id() {
    let b = djinn_plugins::get("required-metadata").expect("bundled");
    let h = Harness::from_bytes(b.wasm, b.manifest).unwrap();
    assert_eq!(h.info().id(), "required-metadata");
    let mut m = message("question", "{}");
    let v = h
        .evaluate(m.clone(), hop("a", RiskLevel::Low))
        .outcome
        .unwrap();
    assert!(
        matches!(&v, Verdict::Deny(r) if r.contains("`user_id`")),
        "{v:?}"
    );
    m.metadata.push(("user_id".into(), "u-1".into()));
    assert!(matches!(
        h.evaluate(m, hop("a", RiskLevel::Low)).outcome.unwrap(),
        Verdict::Allow
    ));
}
