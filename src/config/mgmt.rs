//! `[mgmt]`: the management socket `shardvpn ctl` talks to (see `crate::mgmt`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::validate::Validator;

/// Where the daemon listens for `shardvpn ctl` unless `[mgmt] socket` says otherwise.
pub const DEFAULT_MGMT_SOCKET: &str = "/run/shardvpn/ctl.sock";

/// `sockaddr_un.sun_path` holds 108 bytes, the last a NUL.
pub const MAX_SOCKET_PATH: usize = 107;

/// `[mgmt]`: see `config/default.toml` for what each key means.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a table of management settings"
)]
pub struct MgmtConfig {
    /// Listen on the management socket at all.
    pub enabled: bool,
    /// The Unix stream socket (created with mode 0600, owned by the daemon's user).
    pub socket: PathBuf,
}

impl Default for MgmtConfig {
    fn default() -> Self {
        MgmtConfig {
            enabled: true,
            socket: PathBuf::from(DEFAULT_MGMT_SOCKET),
        }
    }
}

impl MgmtConfig {
    /// A relative socket path is relative to the config file's directory (like
    /// `aaa.users_file`).
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        if self.socket.is_relative() && !self.socket.as_os_str().is_empty() {
            self.socket = base.join(&self.socket);
        }
    }

    pub(crate) fn validate(&self, v: &mut Validator<'_>) {
        if !self.enabled {
            return;
        }
        let len = self.socket.as_os_str().len();
        if len == 0 {
            v.error(
                "socket",
                "must name a path (or set enabled = false for no management socket)",
            );
        } else if self.socket.is_relative() {
            v.error("socket", "must be an absolute path");
        } else if len > MAX_SOCKET_PATH {
            v.error(
                "socket",
                format!("is {len} bytes long; a Unix socket path holds at most {MAX_SOCKET_PATH}"),
            );
        } else if self.socket.file_name().is_none() {
            v.error("socket", "must name a file, not a directory");
        }
    }
}
