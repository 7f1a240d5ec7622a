//! rbac in the real runtime, under its shipped manifest.

use djinn_sdk::harness::{GateContext, Harness, Stage, Verdict, message};

#[test]
fn question_needs_a_role() {
    let b = djinn_plugins::get("rbac").expect("bundled");
    let h = Harness::from_bytes(b.wasm, b.manifest).unwrap();
    assert_eq!(h.info().id(), "rbac");
    let ctx = || GateContext {
        stage: Stage::Inbound,
        recipient: None,
        recipient_risk: None,
    };
    let mut m = message("question", r#"{"question":"hi"}"#);
    let v = h.evaluate(m.clone(), ctx()).outcome.unwrap();
    assert!(
        matches!(&v, Verdict::Deny(r) if r.contains("no `user_roles`")),
        "{v:?}"
    );
    m.metadata.push(("user_roles".into(), "guest,user".into()));
    assert!(matches!(
        h.evaluate(m, ctx()).outcome.unwrap(),
        Verdict::Allow
    ));
}
