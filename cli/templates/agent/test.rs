//! Runs the built component in the real djinn runtime.
//! Build first: `cargo build --release --target wasm32-wasip2`.

use djinn_sdk::harness::{Harness, message};

#[test]
fn replies_with_what_it_received() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let wasm = djinn_sdk::harness::build(dir).expect("component builds");
    let h = Harness::from_files(wasm, format!("{dir}/djinn.toml")).expect("loads under its manifest");
    let out = h.handle(message("{{name}}", r#"{"hello": 1}"#)).outcome.expect("handles");
    assert_eq!(out[0].topic, "{{name}}.reply");
    assert!(out[0].payload.contains("\"hello\":1"));
}
