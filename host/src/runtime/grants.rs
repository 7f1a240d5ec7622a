//! Manifest + component imports → what to link, as one pure function.
//!
//! Two rules, and why:
//! - djinn's own capability interfaces are deny-by-default. A component that
//!   imports `djinn:plugin/llm` or `djinn:plugin/kv` without the matching grant is
//!   refused at load, with every missing grant named, so an operator sees the whole
//!   problem at once instead of a call-time failure in production.
//! - WASI is always linked, but with implementations that grant nothing (no
//!   preopened directories, no environment, sockets denied). Standard toolchains
//!   import WASI whether or not the code uses it (every Rust std guest imports
//!   `wasi:cli`, every Python component all of `wasi:sockets`), so refusing those
//!   imports would refuse ordinary plugins while protecting nothing.
//!
//! Anything else (another package, an unknown djinn interface, `wasi:http` until
//! outbound HTTP grants exist) is refused: djinn does not provide it.

use super::manifest::{Manifest, PluginKind};

/// The djinn capability interfaces a plugin may import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    Types,
    Log,
    Config,
    Llm,
    Kv,
}

impl Capability {
    pub fn name(self) -> &'static str {
        match self {
            Capability::Types => "types",
            Capability::Log => "log",
            Capability::Config => "config",
            Capability::Llm => "llm",
            Capability::Kv => "kv",
        }
    }

    fn from_interface(name: &str) -> Option<Self> {
        Some(match name {
            "types" => Capability::Types,
            "log" => Capability::Log,
            "config" => Capability::Config,
            "llm" => Capability::Llm,
            "kv" => Capability::Kv,
            _ => return None,
        })
    }
}

/// What the linker for one plugin gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkPlan {
    pub llm: bool,
    pub kv: bool,
    /// The component imports WASI (nearly every toolchain's output does).
    pub wasi: bool,
}

/// One import the plugin may not have, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub import: String,
    pub reason: String,
}

/// Why a component cannot be linked under its manifest: every refused import.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin `{plugin}` cannot be loaded: {}", .refusals.iter().map(|r| format!("it imports `{}` but {}", r.import, r.reason)).collect::<Vec<_>>().join("; "))]
pub struct GrantError {
    pub plugin: String,
    pub refusals: Vec<Refusal>,
}

const DJINN_PACKAGE: &str = "djinn:plugin";
const DJINN_MAJOR_MINOR: &str = "0.1.";

/// Decides, for each import of the component, whether the manifest allows it.
pub fn plan(manifest: &Manifest, imports: &[String]) -> Result<LinkPlan, GrantError> {
    let mut plan = LinkPlan::default();
    let mut refusals = Vec::new();
    let granted = manifest.granted();
    let granted_list = if granted.is_empty() {
        "none beyond log and config".to_owned()
    } else {
        format!("[{}]", granted.join(", "))
    };

    for import in imports {
        let (path, version) = import.split_once('@').unwrap_or((import.as_str(), ""));
        let (package, interface) = path.rsplit_once('/').unwrap_or((path, ""));
        if package == DJINN_PACKAGE {
            if !version.starts_with(DJINN_MAJOR_MINOR) {
                refusals.push(Refusal {
                    import: import.clone(),
                    reason: "this host implements djinn:plugin@0.1.x; rebuild the plugin against this host's WIT"
                        .to_owned(),
                });
                continue;
            }
            match Capability::from_interface(interface) {
                Some(Capability::Types | Capability::Log | Capability::Config) => {}
                Some(cap @ (Capability::Llm | Capability::Kv)) => {
                    let allowed = match cap {
                        Capability::Llm => manifest.grants.llm.is_some(),
                        _ => manifest.grants.kv.is_some(),
                    };
                    if manifest.kind == PluginKind::Policy {
                        refusals.push(Refusal {
                            import: import.clone(),
                            reason: format!(
                                "policies may import only log and config; move the `{}` work into an agent",
                                cap.name()
                            ),
                        });
                    } else if allowed {
                        match cap {
                            Capability::Llm => plan.llm = true,
                            _ => plan.kv = true,
                        }
                    } else {
                        refusals.push(Refusal {
                            import: import.clone(),
                            reason: format!(
                                "its manifest grants {granted_list}; add [grants.{}] or remove the import",
                                cap.name()
                            ),
                        });
                    }
                }
                None => refusals.push(Refusal {
                    import: import.clone(),
                    reason: "djinn has no such interface".to_owned(),
                }),
            }
        } else if package.starts_with("wasi:") && package != "wasi:http" {
            plan.wasi = true;
        } else if package == "wasi:http" {
            refusals.push(Refusal {
                import: import.clone(),
                reason: "outbound HTTP is not available to plugins in this version of djinn \
                         (build JavaScript components with `-d http`)"
                    .to_owned(),
            });
        } else {
            refusals.push(Refusal {
                import: import.clone(),
                reason: "djinn does not provide it".to_owned(),
            });
        }
    }

    if refusals.is_empty() {
        Ok(plan)
    } else {
        Err(GrantError {
            plugin: manifest.id.to_string(),
            refusals,
        })
    }
}

#[cfg(test)]
mod tests {
    //! One scenario per fixture manifest: the translation is the security boundary,
    //! so each rule has a case here.
    use super::*;

    fn manifest(text: &str) -> Manifest {
        Manifest::parse(text).unwrap()
    }

    fn imports(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const STD_WASI: &[&str] = &[
        "wasi:io/poll@0.2.6",
        "wasi:io/streams@0.2.6",
        "wasi:cli/environment@0.2.6",
        "wasi:cli/stderr@0.2.6",
    ];

    #[test]
    fn baseline_and_wasi_need_no_grant() {
        let m = manifest("id = \"echo\"\nkind = \"agent\"");
        let mut list = imports(STD_WASI);
        list.extend(imports(&[
            "djinn:plugin/types@0.1.0",
            "djinn:plugin/log@0.1.0",
            "djinn:plugin/config@0.1.0",
        ]));
        let plan = plan(&m, &list).unwrap();
        assert_eq!(
            plan,
            LinkPlan {
                llm: false,
                kv: false,
                wasi: true
            }
        );
    }

    #[test]
    fn ungranted_capabilities_are_all_named() {
        let m = manifest("id = \"greedy\"\nkind = \"agent\"");
        let err = plan(
            &m,
            &imports(&["djinn:plugin/llm@0.1.0", "djinn:plugin/kv@0.1.0"]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.refusals.len(), 2);
        assert!(text.contains("`djinn:plugin/llm@0.1.0`"), "{text}");
        assert!(text.contains("add [grants.kv]"), "{text}");
        assert!(text.contains("grants none beyond log and config"), "{text}");
    }

    #[test]
    fn granted_capabilities_are_linked() {
        let m = manifest(
            "id = \"a\"\nkind = \"agent\"\n[grants.kv]\nmax_bytes = 10\n[grants.llm]\nmodels = [\"mock\"]",
        );
        let plan = plan(
            &m,
            &imports(&["djinn:plugin/llm@0.1.0", "djinn:plugin/kv@0.1.0"]),
        )
        .unwrap();
        assert!(plan.llm && plan.kv && !plan.wasi);
    }

    #[test]
    fn partial_grant_names_only_the_missing_one() {
        let m = manifest("id = \"a\"\nkind = \"agent\"\n[grants.kv]\nmax_bytes = 10");
        let err = plan(
            &m,
            &imports(&["djinn:plugin/llm@0.1.0", "djinn:plugin/kv@0.1.0"]),
        )
        .unwrap_err();
        assert_eq!(err.refusals.len(), 1);
        assert!(err.to_string().contains("grants [kv]; add [grants.llm]"));
    }

    #[test]
    fn policies_cannot_import_agent_capabilities() {
        let m = manifest("id = \"p\"\nkind = \"policy\"");
        let err = plan(&m, &imports(&["djinn:plugin/llm@0.1.0"])).unwrap_err();
        assert!(
            err.to_string()
                .contains("policies may import only log and config")
        );
    }

    #[test]
    fn foreign_and_unknown_imports_are_refused() {
        let m = manifest("id = \"a\"\nkind = \"agent\"");
        let err = plan(
            &m,
            &imports(&[
                "acme:secrets/vault@1.0.0",
                "djinn:plugin/secrets@0.1.0",
                "djinn:plugin/kv@0.2.0",
                "wasi:http/outgoing-handler@0.2.0",
            ]),
        )
        .unwrap_err();
        assert_eq!(err.refusals.len(), 4);
        let text = err.to_string();
        assert!(text.contains("djinn does not provide it"));
        assert!(text.contains("djinn has no such interface"));
        assert!(text.contains("djinn:plugin@0.1.x"));
        assert!(text.contains("outbound HTTP"));
    }
}
