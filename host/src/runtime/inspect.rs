//! What a component imports and exports, read before anything is instantiated.

use serde::Serialize;
use wasmtime::Engine;
use wasmtime::component::Component;

use super::manifest::PluginKind;

/// The interface names a component imports and exports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interfaces {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

impl Interfaces {
    pub fn of(engine: &Engine, component: &Component) -> Self {
        let ty = component.component_type();
        Self {
            imports: ty.imports(engine).map(|(n, _)| n.to_owned()).collect(),
            exports: ty.exports(engine).map(|(n, _)| n.to_owned()).collect(),
        }
    }

    /// Which djinn world the exports satisfy, if any.
    pub fn kind(&self) -> Option<PluginKind> {
        let exports = |iface: &str| {
            self.exports
                .iter()
                .any(|e| e.starts_with(&format!("djinn:plugin/{iface}@0.1.")))
        };
        match (exports("agent"), exports("policy")) {
            (true, false) => Some(PluginKind::Agent),
            (false, true) => Some(PluginKind::Policy),
            _ => None,
        }
    }
}

/// What kind of wasm binary `bytes` is, from its 8-byte header.
pub fn binary_kind(bytes: &[u8]) -> BinaryKind {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 0x0d, 0, 1, 0]) => BinaryKind::Component,
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => BinaryKind::CoreModule,
        _ => BinaryKind::NotWasm,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryKind {
    Component,
    CoreModule,
    NotWasm,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_kinds() {
        assert_eq!(binary_kind(b"\0asm\x0d\0\x01\0rest"), BinaryKind::Component);
        assert_eq!(binary_kind(b"\0asm\x01\0\0\0"), BinaryKind::CoreModule);
        assert_eq!(binary_kind(b"PK\x03\x04zip!"), BinaryKind::NotWasm);
        assert_eq!(binary_kind(b""), BinaryKind::NotWasm);
    }
}
