//! The client side of the management socket, for `shardvpn ctl` and tests: one
//! request, one response, over a fresh connection.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::{Request, Response};

/// How long the client waits for the daemon's answer (a `show sessions` over many
/// shards, a `reload` of a large users file).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request got no response. The messages are what `shardvpn ctl` prints.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("is shardvpn running? (no socket at {0})")]
    NoSocket(String),
    #[error("is shardvpn running? (nothing answers on {0}: a stale socket)")]
    Refused(String),
    #[error("permission denied on {0} (the management socket is root-only)")]
    PermissionDenied(String),
    #[error("{path}: {error}")]
    Io { path: String, error: io::Error },
    #[error("{0}")]
    Protocol(String),
}

/// Sends `request` to the daemon at `path` and returns its response.
pub fn call(path: &Path, request: &Request) -> Result<Response, ClientError> {
    let shown = path.display().to_string();
    let io_error = |error: io::Error| match error.kind() {
        io::ErrorKind::NotFound => ClientError::NoSocket(shown.clone()),
        io::ErrorKind::ConnectionRefused => ClientError::Refused(shown.clone()),
        io::ErrorKind::PermissionDenied => ClientError::PermissionDenied(shown.clone()),
        _ => ClientError::Io {
            path: shown.clone(),
            error,
        },
    };
    let mut stream = UnixStream::connect(path).map_err(io_error)?;
    stream
        .set_read_timeout(Some(RESPONSE_TIMEOUT))
        .map_err(io_error)?;
    stream
        .write_all(request.to_line().as_bytes())
        .map_err(io_error)?;
    let mut line = Vec::new();
    BufReader::new(&stream)
        .read_until(b'\n', &mut line)
        .map_err(io_error)?;
    if line.is_empty() {
        return Err(ClientError::Protocol(format!(
            "{shown}: the daemon closed the connection without answering"
        )));
    }
    Response::parse(&line).map_err(ClientError::Protocol)
}
