//! residency in the real runtime, under its shipped manifest.

use djinn_sdk::harness::{Harness, RiskLevel, Verdict, hop, message};

#[test]
fn foreign_pii_is_denied() {
    let b = djinn_plugins::get("residency").expect("bundled");
    let h = Harness::from_bytes(b.wasm, b.manifest).unwrap();
    assert_eq!(h.info().id(), "residency");
    let with = |region: &str, class: &str| {
        let mut m = message("question", "{}");
        m.metadata.push(("region".into(), region.into()));
        m.metadata.push(("classification".into(), class.into()));
        m
    };
    assert!(matches!(
        h.evaluate(with("in", "pii"), hop("a", RiskLevel::Low))
            .outcome
            .unwrap(),
        Verdict::Allow
    ));
    assert!(matches!(
        h.evaluate(with("us", "public"), hop("a", RiskLevel::Low))
            .outcome
            .unwrap(),
        Verdict::Allow
    ));
    let v = h
        .evaluate(with("us", "pii"), hop("a", RiskLevel::Low))
        .outcome
        .unwrap();
    assert!(
        matches!(&v, Verdict::Deny(r) if r.contains("region `us`")),
        "{v:?}"
    );
}
