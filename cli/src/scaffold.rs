//! `djinn plugin new`: a plugin that builds with one command, with its manifest.
//! Rust (the default) gets a crate with a harness test; Python and JavaScript get a
//! `build.sh` calling componentize-py or componentize-js against a copy of the WIT.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use djinn::runtime::PluginId;

#[derive(clap::Args)]
pub struct Args {
    /// The plugin id (also the crate name): lowercase letters, digits, '-' and '_'.
    name: String,
    /// Agent or policy.
    #[arg(long, value_enum, default_value = "agent")]
    kind: Kind,
    /// The plugin's language.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// Where to create the folder (default: ./NAME).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Kind {
    Agent,
    Policy,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// The host's WIT, copied into Python and JavaScript plugins as their dependency.
const DJINN_WIT: &str = include_str!("../../wit/djinn.wit");

/// The files of a new Python or JavaScript plugin, as (relative path, contents).
/// `build.sh` must be made executable by the caller.
pub fn interpreted_files(name: &str, agent: bool, lang: Lang) -> Vec<(PathBuf, String)> {
    let (world, manifest) = if agent {
        (
            include_str!("../templates/interp/agent-world.wit"),
            include_str!("../templates/interp/agent.toml"),
        )
    } else {
        (
            include_str!("../templates/interp/policy-world.wit"),
            include_str!("../templates/interp/policy.toml"),
        )
    };
    let lang_name = match lang {
        Lang::Python => "Python",
        _ => "JavaScript",
    };
    let mut files = vec![
        (PathBuf::from("wit/world.wit"), render(world, name)),
        (
            PathBuf::from("wit/deps/djinn-plugin/djinn.wit"),
            DJINN_WIT.to_owned(),
        ),
        (
            PathBuf::from("djinn.toml"),
            render(manifest, name).replace("{{lang}}", lang_name),
        ),
    ];
    match lang {
        Lang::Python => files.extend([
            (
                PathBuf::from("app.py"),
                render(
                    if agent {
                        include_str!("../templates/python/agent.py")
                    } else {
                        include_str!("../templates/python/policy.py")
                    },
                    name,
                ),
            ),
            (
                PathBuf::from("build.sh"),
                render(include_str!("../templates/python/build.sh"), name),
            ),
            (
                PathBuf::from(".gitignore"),
                include_str!("../templates/python/gitignore").to_owned(),
            ),
        ]),
        _ => files.extend([
            (
                PathBuf::from("plugin.js"),
                render(
                    if agent {
                        include_str!("../templates/js/agent.js")
                    } else {
                        include_str!("../templates/js/policy.js")
                    },
                    name,
                ),
            ),
            (
                PathBuf::from("build.sh"),
                render(include_str!("../templates/js/build.sh"), name),
            ),
            (
                PathBuf::from("package.json"),
                render(include_str!("../templates/js/package.json"), name),
            ),
            (
                PathBuf::from(".gitignore"),
                include_str!("../templates/js/gitignore").to_owned(),
            ),
        ]),
    }
    files
}

/// This checkout's root; plugins created inside it join its workspace.
const WORKSPACE_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn render(template: &str, name: &str) -> String {
    template.replace("{{name}}", name)
}

/// The files of a new plugin crate, as (relative path, contents).
pub fn files(
    name: &str,
    agent: bool,
    in_workspace: bool,
    sdk_path: &Path,
) -> Vec<(PathBuf, String)> {
    let (lib, manifest, test) = if agent {
        (
            include_str!("../templates/agent/lib.rs"),
            include_str!("../templates/agent/djinn.toml"),
            include_str!("../templates/agent/test.rs"),
        )
    } else {
        (
            include_str!("../templates/policy/lib.rs"),
            include_str!("../templates/policy/djinn.toml"),
            include_str!("../templates/policy/test.rs"),
        )
    };
    let deps = if in_workspace {
        "[dependencies]\ndjinn-sdk.workspace = true\n\n[dev-dependencies]\ndjinn-sdk = { workspace = true, features = [\"harness\"] }\n".to_owned()
    } else {
        let sdk = sdk_path.display();
        format!(
            "[dependencies]\ndjinn-sdk = {{ path = \"{sdk}\" }}\n\n[dev-dependencies]\ndjinn-sdk = {{ path = \"{sdk}\", features = [\"harness\"] }}\n\n\
             # A standalone crate, not part of an enclosing workspace.\n[workspace]\n\n\
             # Small, fast components; a panic becomes a trap the host reports.\n\
             [profile.release]\nopt-level = \"s\"\nlto = true\ncodegen-units = 1\npanic = \"abort\"\nstrip = true\n"
        )
    };
    let package = if in_workspace {
        format!(
            "[package]\nname = \"{name}\"\nversion.workspace = true\nedition.workspace = true\nrust-version.workspace = true\nlicense.workspace = true\npublish = false\n"
        )
    } else {
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n"
        )
    };
    let cargo = format!("{package}\n[lib]\ncrate-type = [\"cdylib\"]\n\n{deps}");
    vec![
        (PathBuf::from("Cargo.toml"), cargo),
        (PathBuf::from("djinn.toml"), render(manifest, name)),
        (PathBuf::from("src/lib.rs"), render(lib, name)),
        (PathBuf::from("tests/plugin.rs"), render(test, name)),
    ]
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    PluginId::new(args.name.clone()).map_err(|e| anyhow::anyhow!("plugin name: {e}"))?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists()
        && dir
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} already exists and is not empty; nothing was written",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if args.lang != Lang::Rust {
        for (rel, contents) in
            interpreted_files(&args.name, matches!(args.kind, Kind::Agent), args.lang)
        {
            let path = dir.join(&rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, contents)
                .with_context(|| format!("writing {}", path.display()))?;
            #[cfg(unix)]
            if rel == Path::new("build.sh") {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
            }
        }
        let (lang, install) = match args.lang {
            Lang::Python => (
                "Python",
                "python3 -m venv .venv && .venv/bin/pip install componentize-py==0.25.1",
            ),
            _ => ("JavaScript", "npm install"),
        };
        println!("created {} ({lang} plugin)", dir.display());
        println!("install: cd {} && {install}", dir.display());
        println!("build:   ./build.sh");
        println!(
            "inspect: djinn plugin inspect {}.wasm --manifest djinn.toml",
            args.name
        );
        println!(
            "run:     djinn run {}.wasm --message '{{\"topic\": \"{}\", \"payload\": {{}}}}'",
            args.name, args.name
        );
        return Ok(ExitCode::SUCCESS);
    }
    let abs = dir.canonicalize()?;
    let root = Path::new(WORKSPACE_ROOT).canonicalize().ok();
    let in_workspace = root.as_ref().is_some_and(|r| abs.starts_with(r));
    let sdk = root
        .map(|r| r.join("sdk"))
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk")));
    for (rel, contents) in files(
        &args.name,
        matches!(args.kind, Kind::Agent),
        in_workspace,
        &sdk,
    ) {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "created {} ({})",
        dir.display(),
        if in_workspace {
            "workspace member"
        } else {
            "standalone crate"
        }
    );
    println!(
        "build:   cd {} && cargo build --release --target wasm32-wasip2",
        dir.display()
    );
    println!(
        "inspect: djinn plugin inspect target/wasm32-wasip2/release/{}.wasm --manifest djinn.toml",
        args.name.replace('-', "_")
    );
    println!("test:    cargo test");
    Ok(ExitCode::SUCCESS)
}
