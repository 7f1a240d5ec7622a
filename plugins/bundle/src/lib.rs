//! The plugins that ship with djinn, compiled to components at build time.
//!
//! `group` is `agents`, `policies` or `fixtures` (hostile test plugins, never
//! loaded by `djinn serve`).

/// One bundled plugin: its component bytes and manifest text.
#[derive(Debug, Clone, Copy)]
pub struct Bundled {
    pub group: &'static str,
    pub crate_name: &'static str,
    pub wasm: &'static [u8],
    pub manifest: &'static str,
    /// Where the component was built (for tools that want a file).
    pub wasm_path: &'static str,
    /// The plugin's source folder.
    pub dir: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// The bundled plugin built from crate `name`.
pub fn get(name: &str) -> Option<&'static Bundled> {
    BUNDLED.iter().find(|b| b.crate_name == name)
}

/// The bundled agents and policies (no fixtures), in a stable order.
pub fn serving() -> impl Iterator<Item = &'static Bundled> {
    BUNDLED.iter().filter(|b| b.group != "fixtures")
}
