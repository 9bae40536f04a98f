//! The operator-facing files under `deploy/` stay true to the daemon:
//!
//! - every `deploy/examples/*.toml` passes `shardvpn check-config` (the binary, as an
//!   operator runs it; a failure shows its `FILE:LINE: key: message` lines), and the
//!   users file it names loads and fits the configuration the way `shardvpn run`
//!   checks it at start. `check-config` alone does not open the users file, so
//!   without this a missing or broken one would only show when the daemon refuses to
//!   start;
//! - `deploy/examples/production.toml` writes every key: each one in
//!   `config/default.toml`, and within its `[[...]]` tables every key the loader
//!   knows, each with a comment above it, so the example cannot silently fall behind
//!   when a key is added;
//! - `deploy/sysctl/*.conf` sets nothing without a comment saying why.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use shardvpn::aaa::users::Users;
use shardvpn::config::{Config, DEFAULT_TOML};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn production() -> PathBuf {
    repo().join("deploy/examples/production.toml")
}

/// The files in `dir` whose names end in `suffix`, sorted.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_str().is_some_and(|p| p.ends_with(suffix)))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_passes_check_config_and_its_users_file_loads() {
    let examples = files(&repo().join("deploy/examples"), ".toml");
    assert!(
        examples.contains(&production()),
        "no production.toml among {examples:?}"
    );
    for example in examples {
        let name = example.display().to_string();
        let output = Command::new(env!("CARGO_BIN_EXE_shardvpn"))
            .args(["check-config", &name])
            .output()
            .expect("run shardvpn check-config");
        assert!(
            output.status.success(),
            "shardvpn check-config {name} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            format!("{name}: ok\n")
        );
        // What `shardvpn run` does next (control::daemon::run): the users file.
        let config = Config::load(&example).unwrap_or_else(|errors| panic!("{errors}"));
        if let Some(users_file) = config.aaa.users_file() {
            let users = Users::load(users_file).unwrap_or_else(|errors| {
                panic!("{name}: its aaa.users_file does not load:\n{errors}")
            });
            users
                .check_against(&config)
                .unwrap_or_else(|errors| panic!("{name}: its users file:\n{errors}"));
        }
    }
}

/// Dotted key paths a TOML document writes: `section`, `section.key`, and for arrays
/// of tables `section[].key` (over all elements), recursively.
fn key_paths(table: &toml::Table, prefix: &str, out: &mut BTreeSet<String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        out.insert(path.clone());
        match value {
            toml::Value::Table(inner) => key_paths(inner, &path, out),
            toml::Value::Array(items) => {
                for item in items {
                    if let toml::Value::Table(inner) = item {
                        key_paths(inner, &format!("{path}[]"), out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn paths_of(table: &toml::Table) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    key_paths(table, "", &mut out);
    out
}

/// Keys of `full`'s array-of-tables elements that the same element of `written`
/// lacks, as `section[INDEX].key`.
fn missing_in_elements(
    full: &toml::Table,
    written: &toml::Table,
    prefix: &str,
    out: &mut Vec<String>,
) {
    for (key, value) in full {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (value, written.get(key)) {
            (toml::Value::Table(inner), Some(toml::Value::Table(other))) => {
                missing_in_elements(inner, other, &path, out);
            }
            (toml::Value::Array(items), Some(toml::Value::Array(others))) => {
                for (i, (item, other)) in items.iter().zip(others).enumerate() {
                    if let (toml::Value::Table(item), toml::Value::Table(other)) = (item, other) {
                        for element_key in item.keys() {
                            if !other.contains_key(element_key) {
                                out.push(format!("{path}[{i}].{element_key}"));
                            }
                        }
                        missing_in_elements(item, other, &format!("{path}[{i}]"), out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn production_text() -> String {
    std::fs::read_to_string(production()).expect("read deploy/examples/production.toml")
}

#[test]
fn production_example_writes_every_key() {
    let text = production_text();
    let written: toml::Table = toml::from_str(&text).expect("production.toml is TOML");
    let written = paths_of(&written);

    // 1. Every key of the documented default (which a unit test keeps complete).
    let default: toml::Table = toml::from_str(DEFAULT_TOML).unwrap();
    let missing: Vec<String> = paths_of(&default)
        .into_iter()
        .filter(|path| !written.contains(path))
        .collect();
    assert!(
        missing.is_empty(),
        "deploy/examples/production.toml lacks these keys of config/default.toml \
         (add each, with a comment): {missing:?}"
    );

    // 2. Inside each `[[...]]` element, every key the loader knows for it (the
    //    default file's arrays are empty, so it cannot say which keys a
    //    [[radius.server]] has): the parsed configuration serialized back has every
    //    field of every element, compared element by element.
    let config = Config::load(production()).unwrap_or_else(|e| panic!("{e}"));
    let full = toml::Table::try_from(&config).unwrap();
    let written_table: toml::Table = toml::from_str(&text).unwrap();
    let mut missing = Vec::new();
    missing_in_elements(&full, &written_table, "", &mut missing);
    assert!(
        missing.is_empty(),
        "deploy/examples/production.toml: these keys of its [[...]] tables are not \
         written out: {missing:?}"
    );

    // 3. Each key has a comment right above it (what it does, default, when to
    //    change it), as config/default.toml does.
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let key_line = line.contains(" = ") && !line.trim_start().starts_with('#');
        if key_line {
            assert!(
                i > 0 && lines[i - 1].trim_start().starts_with('#'),
                "deploy/examples/production.toml:{}: no comment above `{line}`",
                i + 1
            );
        }
    }
}

#[test]
fn sysctl_settings_each_have_a_reason() {
    let confs = files(&repo().join("deploy/sysctl"), ".conf");
    assert!(!confs.is_empty(), "no deploy/sysctl/*.conf");
    for conf in confs {
        let text = std::fs::read_to_string(&conf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            assert!(
                line.contains('=') && !line.starts_with('='),
                "{}:{}: not a `key = value` line: {line}",
                conf.display(),
                i + 1
            );
            assert!(
                i > 0 && lines[i - 1].trim_start().starts_with('#'),
                "{}:{}: `{line}` has no comment above it saying why",
                conf.display(),
                i + 1
            );
        }
    }
}
