//! Writes `export_agent!` and `export_policy!` with the WIT contract inlined, so
//! the export bindings are generated in the plugin's own crate for exactly one
//! world. (Generating both worlds in this crate would link both worlds' type
//! sections into every component, and an agent would then be asked to export the
//! policy interface too.)

use std::{env, fs, path::PathBuf};

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let wit_path = manifest_dir.join("../wit/djinn.wit");
    println!("cargo:rerun-if-changed={}", wit_path.display());
    let wit = fs::read_to_string(&wit_path).expect("sdk needs ../wit/djinn.wit");
    assert!(
        !wit.contains("\"####"),
        "WIT text must not contain the raw-string delimiter"
    );

    let mut out = String::new();
    for (name, world, trait_name, iface, imports, body) in [
        (
            "export_agent",
            "agent-plugin",
            "Agent",
            "agent",
            &["types", "llm", "kv", "log", "config"][..],
            "fn info() -> ::djinn_sdk::AgentInfo { <$ty as ::djinn_sdk::Agent>::info() }
             fn handle(msg: ::djinn_sdk::Message) -> ::core::result::Result<::std::vec::Vec<::djinn_sdk::Message>, ::djinn_sdk::PluginError> {
                 <$ty as ::djinn_sdk::Agent>::handle(msg)
             }",
        ),
        (
            "export_policy",
            "policy-plugin",
            "Policy",
            "policy",
            &["types", "log", "config"][..],
            "fn info() -> ::djinn_sdk::PolicyInfo { <$ty as ::djinn_sdk::Policy>::info() }
             fn evaluate(msg: ::djinn_sdk::Message, ctx: ::djinn_sdk::GateContext) -> ::djinn_sdk::Verdict {
                 <$ty as ::djinn_sdk::Policy>::evaluate(msg, ctx)
             }",
        ),
    ] {
        let with: String = imports
            .iter()
            .map(|i| format!("\"djinn:plugin/{i}@0.1.0\": ::djinn_sdk::bindings::djinn::plugin::{i},\n"))
            .collect();
        out.push_str(&format!(
            r#####"
/// Exports a type implementing [`{trait_name}`] as this component's `{iface}`.
///
/// Use it once, at the crate root, with the name of your type.
#[macro_export]
macro_rules! {name} {{
    ($ty:ident) => {{
        #[doc(hidden)]
        #[allow(clippy::all, unused)]
        mod __djinn_{iface}_bindings {{
            ::djinn_sdk::wit_bindgen::generate!({{
                inline: r####"{wit}"####,
                world: "djinn:plugin/{world}",
                runtime_path: "::djinn_sdk::wit_bindgen::rt",
                with: {{ {with} }},
            }});
            pub(crate) use export as __export;
        }}
        impl __djinn_{iface}_bindings::exports::djinn::plugin::{iface}::Guest for $ty {{
            {body}
        }}
        // Natively (plugin unit tests) there is no component to export from, and
        // export names like `djinn:plugin/agent@0.1.0#handle` are not valid ELF
        // version-script symbols, so the export exists only on wasm32.
        #[cfg(target_arch = "wasm32")]
        __djinn_{iface}_bindings::__export!($ty with_types_in __djinn_{iface}_bindings);
    }};
}}
"#####
        ));
    }
    let out_path =
        PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("export_macros.rs");
    fs::write(out_path, out).expect("write export_macros.rs");
}
