//! classification in the real runtime, under its shipped manifest.

use djinn_sdk::harness::{Harness, RiskLevel, Verdict, hop, message};

#[test]
fn default_ceiling_is_pii() {
    let b = djinn_plugins::get("classification").expect("bundled");
    let h = Harness::from_bytes(b.wasm, b.manifest).unwrap();
    assert_eq!(h.info().id(), "classification");
    let with = |class: &str| {
        let mut m = message("statement.ingest", "{}");
        m.metadata.push(("classification".into(), class.into()));
        m
    };
    assert!(matches!(
        h.evaluate(with("pii"), hop("analyzer", RiskLevel::High))
            .outcome
            .unwrap(),
        Verdict::Allow
    ));
    let v = h
        .evaluate(with("top-secret"), hop("analyzer", RiskLevel::Low))
        .outcome
        .unwrap();
    assert!(
        matches!(&v, Verdict::Deny(r) if r.contains("treated as secret")),
        "{v:?}"
    );
}
