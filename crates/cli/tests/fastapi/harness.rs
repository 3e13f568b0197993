//! The FastAPI example test's harness: the venv, the processes (palisade CLI and server,
//! uvicorn) and their readiness, the legacy fixture files, HTTP helpers.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn legacy(name: &str) -> PathBuf {
    repo().join("examples/fastapi-app/legacy").join(name)
}

/// The venv's python, or `None` after a `SKIPPED:` line when it cannot be made.
pub(crate) fn python() -> Option<PathBuf> {
    let made = Command::new(repo().join("scripts/ensure-fastapi"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())
        .and_then(|o| match o.status.success() {
            true => Ok(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())),
            false => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        });
    match made {
        Ok(python) => Some(python),
        Err(why) if std::env::var("PALISADE_FASTAPI_EXAMPLE").as_deref() == Ok("required") => {
            panic!("the FastAPI example's venv is required: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED: scripts/ensure-fastapi failed: {why}");
            None
        }
    }
}

/// The venv's python, isolated: no user site, no PYTHON* variables, no bytecode written.
pub(crate) fn py(python: &Path) -> Command {
    let mut cmd = Command::new(python);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LANG", "C.UTF-8")
        .args(["-I", "-B"]);
    cmd
}

pub(crate) fn palisade(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args).current_dir(dir);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PALISADE_")) {
        cmd.env_remove(k);
    }
    cmd
}

pub(crate) fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `palisade ARGS… --config palisade.toml`, which must succeed; its stdout.
pub(crate) fn cli(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = palisade(dir, args);
    cmd.args(["--config", "palisade.toml"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    ok(child.wait_with_output().unwrap(), &format!("{args:?}"))
}

/// A child process killed when the test ends, however it ends.
pub(crate) struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a process and waits, at most 60 s, for a line of its output (stdout or stderr as
/// `from_stderr` says) that contains `ready`; returns that line. Readiness is the line the
/// program prints once its socket listens, read as it comes: no sleeping, no polling.
pub(crate) fn start(mut cmd: Command, ready: &'static str, from_stderr: bool) -> (Running, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (watched, other): (Box<dyn std::io::Read + Send>, Box<dyn std::io::Read + Send>) =
        if from_stderr {
            (
                Box::new(child.stderr.take().unwrap()),
                Box::new(child.stdout.take().unwrap()),
            )
        } else {
            (
                Box::new(child.stdout.take().unwrap()),
                Box::new(child.stderr.take().unwrap()),
            )
        };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(watched).lines().map_while(Result::ok) {
            if line.contains(ready) {
                let _ = tx.send(Ok(line));
                // Keep draining so the child never blocks on a full pipe.
                continue;
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        let _ = tx.send(Err(seen));
    });
    std::thread::spawn(move || std::io::copy(&mut BufReader::new(other), &mut std::io::sink()));
    let running = Running(child);
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(line)) => (running, line),
        Ok(Err(output)) => panic!("exited before {ready:?}:\n{output}"),
        Err(e) => panic!("no {ready:?} within 60 s: {e}"),
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn credentials() -> Value {
    serde_json::from_str(&std::fs::read_to_string(legacy("TEST_ONLY_credentials.json")).unwrap())
        .unwrap()
}

pub(crate) fn password_of(email: &str) -> String {
    credentials()["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .and_then(|u| u["password"].as_str())
        .unwrap_or_else(|| panic!("a TEST_ONLY password for {email}"))
        .to_string()
}

pub(crate) fn jsonl(name: &str) -> Vec<Value> {
    std::fs::read_to_string(legacy(name))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub(crate) async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> String {
    let res = http
        .post(format!("{base}/.palisade/auth/login"))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{email} signs in at Palisade's mount");
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// GET `url` with `headers`: the status, the content type and the body.
pub(crate) async fn get(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut req = http.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, kind, res.text().await.unwrap())
}

pub(crate) fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// `examples/fastapi-app/palisade.toml` in `dir`, pointed at the app on `app_port`, the old app's
/// secret by its absolute path, and a migration window ending a day from now (the example's
/// fixed date would end the test's window on the calendar, not on the test's terms).
pub(crate) fn write_example_config(dir: &Path, app_port: u16) {
    let tomorrow = std::time::SystemTime::now() + Duration::from_secs(86_400);
    let config = std::fs::read_to_string(repo().join("examples/fastapi-app/palisade.toml"))
        .unwrap()
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{app_port}"))
        .replace(
            "file:legacy/TEST_ONLY_hs256_secret",
            &format!("file:{}", legacy("TEST_ONLY_hs256_secret").display()),
        )
        .replace(
            "accept_until = \"2027-03-31T00:00:00Z\"",
            &format!(
                "accept_until = \"{}\"",
                humantime::format_rfc3339_seconds(tomorrow)
            ),
        );
    assert!(
        !config.contains("2027-03-31"),
        "the window's end was replaced"
    );
    std::fs::write(dir.join("palisade.toml"), config).unwrap();
}
