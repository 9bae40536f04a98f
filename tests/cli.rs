//! The `shardvpn` binary's configuration subcommands and `ctl` (against a stand-in
//! daemon), run as a user would.

use std::path::PathBuf;
use std::process::{Command, Output};

fn shardvpn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shardvpn"))
        .args(args)
        .output()
        .expect("run the shardvpn binary")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// A file with `text` in a directory of its own under the system temp dir, removed
/// when dropped.
struct ConfigFile {
    dir: PathBuf,
    path: PathBuf,
}

impl ConfigFile {
    fn new(name: &str, text: &str) -> ConfigFile {
        let dir = std::env::temp_dir().join(format!("shardvpn-cli-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        ConfigFile { dir, path }
    }

    fn name(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn check_config_accepts_a_valid_file() {
    let config = ConfigFile::new(
        "good",
        "[dataplane]\nshards = 2\nbatch = 32\n\n[listen]\naddress = \"127.0.0.1\"\n",
    );
    let file = config.name();
    let output = shardvpn(&["check-config", file]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("{file}: ok\n"));
    assert_eq!(stderr(&output), "");
}

#[test]
fn check_config_reports_every_error_with_its_line() {
    let config = ConfigFile::new(
        "bad",
        "[dataplane]\nbatch = 0\ntun_name = \"has space\"\n\n[listen]\nl2tp_port = 500\n",
    );
    let file = config.name();
    let output = shardvpn(&["check-config", file]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stderr(&output),
        format!(
            "{file}:2: dataplane.batch: must be between 1 and 1024, not 0\n\
             {file}:3: dataplane.tun_name: must not contain ' ' (\"has space\")\n\
             {file}:6: listen.l2tp_port: port 500 is also listen.ike_port; the ports must differ\n"
        )
    );
}

#[test]
fn check_config_reports_an_unknown_key() {
    let config = ConfigFile::new("unknown", "[dataplane]\nbatch = 8\nbacth = 8\n");
    let file = config.name();
    let output = shardvpn(&["check-config", file]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    assert!(
        stderr.starts_with(&format!(
            "{file}:3: dataplane.bacth: unknown field `bacth`, expected one of"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn check_config_reports_a_missing_file() {
    let file = "/nonexistent/shardvpn/missing.toml";
    let output = shardvpn(&["check-config", file]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout(&output), "");
    let stderr = stderr(&output);
    assert!(
        stderr.starts_with(&format!("{file}: cannot read: ")),
        "{stderr}"
    );
    assert!(stderr.contains("No such file or directory"), "{stderr}");
}

#[test]
fn print_default_config_round_trips_through_check_config() {
    let output = shardvpn(&["print-default-config"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(
        text.contains("[dataplane]\n") && text.contains("[listen]\n"),
        "{text}"
    );
    assert!(text.contains("shards = \"auto\"\n"), "{text}");
    let config = ConfigFile::new("default", &text);
    let file = config.name();
    let output = shardvpn(&["check-config", file]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("{file}: ok\n"));
}

#[test]
fn version_still_works() {
    let output = shardvpn(&["--version"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        stdout(&output).starts_with("shardvpn "),
        "{}",
        stdout(&output)
    );
}

#[test]
fn no_subcommand_prints_help_and_fails() {
    let output = shardvpn(&[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    assert!(stderr.contains("check-config"), "{stderr}");
    assert!(stderr.contains("print-default-config"), "{stderr}");
}

#[test]
fn ctl_without_a_daemon_says_so() {
    let out = shardvpn(&[
        "ctl",
        "--socket",
        "/nonexistent/shardvpn/ctl.sock",
        "show",
        "sessions",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "shardvpn ctl: is shardvpn running? (no socket at /nonexistent/shardvpn/ctl.sock)\n"
    );
}

#[test]
fn ctl_terminate_needs_one_target() {
    let out = shardvpn(&["ctl", "terminate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = shardvpn(&["ctl", "terminate", "--user", "a", "--ip", "10.0.0.1"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A stand-in daemon: answers one connection's request line with `response`, and
/// returns the request it read.
fn fake_daemon(name: &str, response: &'static str) -> (PathBuf, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, Write};
    let dir = std::env::temp_dir().join(format!("shardvpn-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ctl.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(&stream)
            .read_line(&mut line)
            .unwrap();
        (&stream).write_all(response.as_bytes()).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        line
    });
    (path, handle)
}

#[test]
fn ctl_sends_the_request_and_prints_tables() {
    let (path, daemon) = fake_daemon(
        "pools",
        "{\"ok\":true,\"result\":[{\"name\":\"default\",\"size\":254,\"used\":3,\
         \"available\":250,\"reserved\":0,\"excluded\":1,\"exhausted\":0}]}\n",
    );
    let out = shardvpn(&["ctl", "--socket", path.to_str().unwrap(), "show", "pools"]);
    assert_eq!(daemon.join().unwrap(), "{\"command\":\"show-pools\"}\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout(&out),
        "POOL     SIZE  USED  AVAILABLE  RESERVED  EXCLUDED  EXHAUSTED\n\
         default  254   3     250        0         1         0\n"
    );
    let (path, daemon) = fake_daemon(
        "terminate",
        "{\"ok\":true,\"result\":{\"sessions\":[65538]}}\n",
    );
    let out = shardvpn(&[
        "ctl",
        "--socket",
        path.to_str().unwrap(),
        "terminate",
        "--ip",
        "10.200.0.2",
    ]);
    assert_eq!(
        daemon.join().unwrap(),
        "{\"command\":\"terminate\",\"ip\":\"10.200.0.2\"}\n"
    );
    assert_eq!(stdout(&out), "terminating 1 session(s): 65538\n");
}

#[test]
fn ctl_reload_refused_prints_the_check_config_message() {
    let (path, daemon) = fake_daemon(
        "reload",
        "{\"ok\":false,\"error\":\"/etc/shardvpn.toml:3: limits.max_sessions: must be between 1 and 16000000, not 0\"}\n",
    );
    let out = shardvpn(&["ctl", "--socket", path.to_str().unwrap(), "reload"]);
    daemon.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "/etc/shardvpn.toml:3: limits.max_sessions: must be between 1 and 16000000, not 0\n"
    );
}
