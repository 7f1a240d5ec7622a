//! `djinn serve` as a process: it binds, answers, refuses to listen beyond
//! loopback without tokens, and exits cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serves_until_sigterm_and_stays_on_loopback_without_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_djinn"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env("DJINN_DATA_DIR", dir.path())
        .env("DJINN_LOG", "error")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let addr = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        seen.push(line.clone());
        if let Some(rest) = line.strip_prefix("djinn listening on http://") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert!(
        seen.iter().any(|l| l.contains("127.0.0.1 only")),
        "{seen:?}"
    );
    let health = get(&addr, "/healthz");
    assert!(health.starts_with("HTTP/1.0 200"), "{health}");
    let ready = get(&addr, "/readyz");
    assert!(ready.contains("\"ready\":true"), "{ready}");

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("djinn stopped")), "{rest:?}");
}

#[test]
fn watch_dir_hot_loads_a_plugin_folder() {
    let data = tempfile::tempdir().unwrap();
    let watched = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_djinn"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--watch-interval-ms",
            "50",
        ])
        .arg("--watch")
        .arg(watched.path())
        .env("DJINN_DATA_DIR", data.path())
        .env("DJINN_LOG", "error")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(rest) = line.strip_prefix("djinn listening on http://") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    assert!(!get(&addr, "/v1/plugins").contains("\"hostile\""));
    let fixture = djinn_plugins::get("hostile").unwrap();
    let folder = watched.path().join("hostile");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("hostile.wasm"), fixture.wasm).unwrap();
    std::fs::write(folder.join("djinn.toml"), fixture.manifest).unwrap();

    let mut loaded = false;
    for _ in 0..600 {
        if get(&addr, "/v1/agents").contains("\"hostile\"") {
            loaded = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert!(loaded, "the watched folder was not loaded");
}
