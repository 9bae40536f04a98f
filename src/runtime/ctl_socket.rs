//! The management socket's listener (`[mgmt] socket`, see `crate::mgmt`): a Unix
//! stream socket created with mode 0600 (the umask is narrowed around `bind`, so the
//! socket never exists with wider permissions, not even for an instant), owned by the
//! daemon's user, non-blocking.
//!
//! A file already at the path is handled like this:
//! - a socket that answers a connection: another daemon serves there; refuse to start
//!   (replacing its socket would cut that daemon off from `shardvpn ctl`);
//! - a socket nobody answers on (ECONNREFUSED: left by a crashed daemon): removed, then
//!   bound afresh;
//! - anything else (a regular file, a directory): refuse, never delete it.
//!
//! The directory is created (mode 0755, like `/run/shardvpn` by systemd's
//! `RuntimeDirectory=`) when missing.

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Why the management socket could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CtlSocketError {
    #[error(
        "management socket {0}: another shardvpn answers on it (stop it first, or set \
         [mgmt] socket to another path)"
    )]
    InUse(PathBuf),
    #[error("management socket {0}: exists and is not a socket (not removed)")]
    NotASocket(PathBuf),
    #[error("management socket {path}: {error}")]
    Io { path: PathBuf, error: io::Error },
}

/// The listener at `path`, removed again by [`CtlListener`]'s drop.
pub struct CtlListener {
    pub listener: UnixListener,
    path: PathBuf,
}

impl CtlListener {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CtlListener {
    fn drop(&mut self) {
        // Ours (we bound it): gone with the daemon, so the next start finds no file.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Creates the listener (see the module docs).
pub fn bind(path: &Path) -> Result<CtlListener, CtlSocketError> {
    let io_err = |error: io::Error| CtlSocketError::Io {
        path: path.to_path_buf(),
        error,
    };
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(io_err)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => return Err(CtlSocketError::InUse(path.to_path_buf())),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path).map_err(io_err)?;
            }
            Err(e) => return Err(io_err(e)),
        },
        Ok(_) => return Err(CtlSocketError::NotASocket(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    // Safety: umask only swaps the process's file-creation mask; it cannot fail. The
    // daemon binds this before starting threads that create files.
    let old = unsafe { libc::umask(0o177) };
    let bound = UnixListener::bind(path);
    // Safety: as above, restoring the mask we replaced.
    unsafe { libc::umask(old) };
    let listener = bound.map_err(io_err)?;
    let ours = CtlListener {
        listener,
        path: path.to_path_buf(),
    };
    ours.listener.set_nonblocking(true).map_err(io_err)?;
    Ok(ours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("shardvpn-ctl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn socket_is_private_and_removed_on_drop() {
        let dir = temp_dir("private");
        let path = dir.join("sub/ctl.sock");
        let l = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A second daemon is refused while the first answers.
        assert!(matches!(bind(&path), Err(CtlSocketError::InUse(_))));
        drop(l);
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stale_socket_is_replaced_other_files_are_not() {
        let dir = temp_dir("stale");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ctl.sock");
        // A socket file nobody listens on any more.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let l = bind(&path).unwrap();
        assert!(UnixStream::connect(&path).is_ok());
        drop(l);
        std::fs::write(&path, "not a socket").unwrap();
        assert!(matches!(bind(&path), Err(CtlSocketError::NotASocket(_))));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a socket");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
