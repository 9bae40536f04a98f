//! `[aaa]`: where users come from (the local users file, or RADIUS with `[radius]`,
//! optionally falling back to the file while every server is down) and the demo user
//! of the out-of-the-box configuration.
//!
//! # The demo user, and why "no file" needs no special case
//!
//! An empty configuration file means exactly the embedded default (a test keeps
//! them equal), so "no file given" cannot differ from "a file that leaves `[aaa]`
//! alone". Instead `demo_user` defaults to `"auto"`: a demo user (random password,
//! written to `demo_credentials_file`, see `crate::aaa::demo`) exists exactly when no
//! `users_file` is configured. A fresh machine can therefore connect with the
//! embedded default, and any configuration that names a users file, as every
//! production one does, has no demo user unless it says `demo_user = true`.

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::validate::Validator;

/// Where authentication and authorization are decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AaaBackend {
    /// The local users file (`crate::aaa::users`).
    #[default]
    Local,
    /// The `[[radius.server]]`s (RFC 2865); with `fallback_local`, the users file
    /// when every server is down (never after a Reject).
    Radius,
}

/// Whether the demo user exists: see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DemoUser {
    /// Only when `users_file` is empty.
    #[default]
    Auto,
    /// Always (`true`).
    Enabled,
    /// Never (`false`).
    Disabled,
}

impl Serialize for DemoUser {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            DemoUser::Auto => serializer.serialize_str("auto"),
            DemoUser::Enabled => serializer.serialize_bool(true),
            DemoUser::Disabled => serializer.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for DemoUser {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DemoUserVisitor;
        impl Visitor<'_> for DemoUserVisitor {
            type Value = DemoUser;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false or \"auto\"")
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<DemoUser, E> {
                Ok(if value {
                    DemoUser::Enabled
                } else {
                    DemoUser::Disabled
                })
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<DemoUser, E> {
                if value == "auto" {
                    Ok(DemoUser::Auto)
                } else {
                    Err(E::custom(format!(
                        "expected true, false or \"auto\", found {value:?}"
                    )))
                }
            }
        }
        deserializer.deserialize_any(DemoUserVisitor)
    }
}

/// `[aaa]`: see `config/default.toml` for what each key means.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of AAA settings")]
pub struct AaaConfig {
    /// The local users file (`crate::aaa::users` documents the format); empty = none.
    pub users_file: PathBuf,
    pub backend: AaaBackend,
    /// With `backend = "radius"`: authenticate against the users file while no
    /// RADIUS server answers.
    pub fallback_local: bool,
    pub demo_user: DemoUser,
    /// Where the demo user's generated credentials are written (mode 0600).
    pub demo_credentials_file: PathBuf,
}

/// Default of `aaa.demo_credentials_file`: under `/run`, a tmpfs on systemd machines,
/// since the password is regenerated at every start and must not outlive it.
pub const DEFAULT_DEMO_CREDENTIALS_FILE: &str = "/run/shardvpn/demo-credentials";

impl Default for AaaConfig {
    fn default() -> Self {
        AaaConfig {
            users_file: PathBuf::new(),
            backend: AaaBackend::Local,
            fallback_local: false,
            demo_user: DemoUser::Auto,
            demo_credentials_file: PathBuf::from(DEFAULT_DEMO_CREDENTIALS_FILE),
        }
    }
}

impl AaaConfig {
    /// The users file, or `None` when `users_file` is empty.
    pub fn users_file(&self) -> Option<&std::path::Path> {
        (!self.users_file.as_os_str().is_empty()).then_some(self.users_file.as_path())
    }

    /// Whether the daemon creates the demo user ([`DemoUser`]).
    pub fn demo_user_enabled(&self) -> bool {
        match self.demo_user {
            DemoUser::Auto => self.users_file().is_none(),
            DemoUser::Enabled => true,
            DemoUser::Disabled => false,
        }
    }

    /// Makes relative file paths absolute against `base` (the config file's
    /// directory), so a config can name the users file beside it and the daemon still
    /// finds it on SIGHUP whatever its working directory.
    pub(crate) fn resolve_paths(&mut self, base: &std::path::Path) {
        if !self.users_file.as_os_str().is_empty() && self.users_file.is_relative() {
            self.users_file = base.join(&self.users_file);
        }
        if !self.demo_credentials_file.as_os_str().is_empty()
            && self.demo_credentials_file.is_relative()
        {
            self.demo_credentials_file = base.join(&self.demo_credentials_file);
        }
    }

    pub(crate) fn validate(&self, v: &mut Validator<'_>) {
        if self.fallback_local && self.backend != AaaBackend::Radius {
            v.error(
                "fallback_local",
                "only means something with backend = \"radius\"",
            );
        }
        if self.fallback_local && self.users_file().is_none() {
            v.error("fallback_local", "needs a users_file to fall back to");
        }
        if let Some(path) = self.users_file()
            && !path.is_absolute()
        {
            v.error(
                "users_file",
                format!(
                    "must be an absolute path when the config is not read from a file \
                     (in a file, relative paths are relative to its directory), not {:?}",
                    path.display().to_string()
                ),
            );
        }
        if self.demo_user_enabled() {
            if self.demo_credentials_file.as_os_str().is_empty() {
                v.error(
                    "demo_credentials_file",
                    "must be set while the demo user is enabled",
                );
            } else if !self.demo_credentials_file.is_absolute() {
                v.error(
                    "demo_credentials_file",
                    format!(
                        "must be an absolute path, not {:?}",
                        self.demo_credentials_file.display().to_string()
                    ),
                );
            }
        }
    }
}
