//! Builds every plugin under `plugins/{agents,policies,fixtures}/` for
//! `wasm32-wasip2` (profile `plugin`) and generates `BUNDLED`, which embeds each
//! component with its manifest.
//!
//! This runs a nested `cargo build` with its own target directory
//! (`target/plugins`), so it never contends for the outer build's lock, and it
//! shares the outer build's jobserver, so it does not oversubscribe the machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

const GROUPS: &[&str] = &["agents", "policies", "fixtures"];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .and_then(Path::parent)
        .expect("plugins/bundle sits two levels below the workspace root")
        .to_path_buf();
    for dir in [
        "plugins/agents",
        "plugins/policies",
        "plugins/fixtures",
        "sdk",
        "wit",
        // The `plugin` profile and the dependency versions live here.
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=DJINN_SKIP_PLUGIN_BUILD");

    // (group, package name, crate dir)
    let mut plugins: Vec<(String, String, PathBuf)> = Vec::new();
    for group in GROUPS {
        let Ok(entries) = fs::read_dir(root.join("plugins").join(group)) else {
            continue;
        };
        let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        dirs.sort();
        for dir in dirs {
            if !dir.join("djinn.toml").exists() {
                continue;
            }
            let cargo_toml = fs::read_to_string(dir.join("Cargo.toml")).expect("plugin Cargo.toml");
            let name = cargo_toml
                .lines()
                .find_map(|l| l.trim().strip_prefix("name = "))
                .map(|n| n.trim_matches('"').to_owned())
                .expect("plugin Cargo.toml has a package name");
            plugins.push((group.to_string(), name, dir));
        }
    }

    ensure_wasm_target();

    let target_dir = env::var_os("DJINN_PLUGIN_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("plugins"));
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--profile",
            "plugin",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir);
    for (_, name, _) in &plugins {
        cmd.args(["-p", name]);
    }
    // The outer build's flags are for the host target, not for wasm.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("run cargo to build the plugins");
    assert!(
        status.success(),
        "building the bundled plugins for wasm32-wasip2 failed (see the cargo output above); \
         is the target installed? `rustup target add wasm32-wasip2`"
    );

    let mut out = String::from(
        "/// Every bundled plugin, built by this crate's build script.\npub static BUNDLED: &[Bundled] = &[\n",
    );
    for (group, name, dir) in &plugins {
        let wasm = target_dir
            .join("wasm32-wasip2/plugin")
            .join(format!("{}.wasm", name.replace('-', "_")));
        assert!(wasm.exists(), "expected {} after the build", wasm.display());
        let manifest = dir.join("djinn.toml");
        out.push_str(&format!(
            "    Bundled {{ group: {group:?}, crate_name: {name:?}, wasm: include_bytes!({wasm:?}), manifest: include_str!({manifest:?}), wasm_path: {wasm:?}, dir: {dir:?} }},\n",
            wasm = wasm.display().to_string(),
            manifest = manifest.display().to_string(),
            dir = dir.display().to_string(),
        ));
    }
    out.push_str("];\n");
    fs::write(
        PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("bundled.rs"),
        out,
    )
    .expect("write bundled.rs");
}

/// Installs the `wasm32-wasip2` standard library when the toolchain lacks it.
///
/// Why here: rustup installs the targets `rust-toolchain.toml` names only when it
/// installs the toolchain itself; a machine that already had the pinned toolchain
/// (a CI image, an earlier checkout) builds without them, and the plugin build then
/// fails with "can't find crate for `std`". Adding the target is what a user would
/// do by hand, so the README's two commands do it for them.
fn ensure_wasm_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(sysroot) = sysroot else {
        return;
    };
    if sysroot.join("lib/rustlib/wasm32-wasip2/lib").is_dir() {
        return;
    }
    println!(
        "cargo:warning=the wasm32-wasip2 target is not installed for this toolchain; running `rustup target add wasm32-wasip2`"
    );
    // Without rustup (a distro toolchain) this fails and the build's own error
    // below says what to install.
    let _ = Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .status();
}
