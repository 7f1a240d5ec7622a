//! The echo agent in the real runtime.

use djinn_sdk::harness::{Harness, message};

fn echo() -> Harness {
    let b = djinn_plugins::get("echo").expect("echo is bundled");
    Harness::from_bytes(b.wasm, b.manifest).expect("echo loads")
}

#[test]
fn echoes_the_payload_on_its_reply_topic() {
    let h = echo();
    let report = h.handle(message("echo", r#"{"hello":"world"}"#));
    let out = report.outcome.expect("echo succeeds");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].topic, "echo.reply");
    assert_eq!(out[0].payload, r#"{"hello":"world"}"#);
    assert_eq!(out[0].correlation_id, "test-correlation");
    assert!(report.fuel_consumed > 0);
}

#[test]
fn declares_its_topic() {
    let h = echo();
    let info = h.plugin().agent_info().expect("an agent");
    assert_eq!(info.id, "echo");
    assert_eq!(info.subscribes, vec!["echo".to_string()]);
}
