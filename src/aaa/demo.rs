//! The demo user of the out-of-the-box configuration (issue 4): a password generated
//! at every start, printed once by the daemon and written to a root-only file, so no
//! known password ever ships.
//!
//! Decisions:
//! - The user is named [`DEMO_USER`] (`demo`). The password is 20 characters from a
//!   32-character alphabet without look-alikes (no `l`, `o`, `0`, `1`), in four groups
//!   of five joined by `-`: 100 bits from the OS random generator (`ring`'s
//!   `SystemRandom`), easy to type on a phone. Each character takes 5 bits of one
//!   random byte, so there is no modulo bias.
//! - With L2TP/IPsec on and no key configured (`ike.psk` empty, no `[[ike.peer]]`), a
//!   demo pre-shared key is generated the same way and announced with the password,
//!   so the out-of-the-box daemon accepts the clients built into Windows, macOS, iOS
//!   and Android; a configured key is never replaced.
//! - The file is `KEY=VALUE` lines (`username=`, `password=`, `psk=`), readable by a
//!   shell's `.` and by people. It is opened with `O_NOFOLLOW`
//!   (a symlink planted at the path is refused, not followed), created mode 0600 and
//!   forced to 0600 if it existed, and must be a regular file. A missing parent
//!   directory is created mode 0700.
//! - Whether the demo user exists at all is `aaa.demo_user` (`crate::config::DemoUser`).
#![forbid(unsafe_code)]

use std::fmt;
use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::users::User;

/// The demo user's name.
pub const DEMO_USER: &str = "demo";

/// Characters of a generated password: lower-case letters and digits without `l`,
/// `o`, `0`, `1`. Exactly 32, so 5 random bits pick one without bias.
const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
/// Groups and characters per group of a generated password.
const GROUPS: usize = 4;
const GROUP_LEN: usize = 5;

/// The demo user's name and password. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DemoCredentials {
    pub username: String,
    pub password: Zeroizing<String>,
    /// The demo IPsec pre-shared key, when one was generated.
    pub psk: Option<Zeroizing<String>>,
}

impl fmt::Debug for DemoCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoCredentials")
            .field("username", &self.username)
            .field("password", &"..")
            .field("psk", &self.psk.as_ref().map(|_| ".."))
            .finish()
    }
}

impl DemoCredentials {
    /// The user to add to the users table.
    pub fn user(&self) -> User {
        // A 23-byte ASCII password and a short name always make a valid user.
        User::new(&self.username, &self.password)
            .unwrap_or_else(|error| unreachable!("demo user is valid: {error}"))
    }

    /// The line the daemon prints once at start-up.
    pub fn announcement(&self, path: &Path) -> Zeroizing<String> {
        let psk = match &self.psk {
            Some(psk) => format!(", IPsec pre-shared key {:?}", psk.as_str()),
            None => String::new(),
        };
        Zeroizing::new(format!(
            "demo user {:?}, password {:?}{psk} (also in {}, readable by root only)",
            self.username,
            self.password.as_str(),
            path.display()
        ))
    }

    /// The file's contents: `username=...` and `password=...` lines.
    pub fn file_contents(&self) -> Zeroizing<String> {
        let psk = match &self.psk {
            Some(psk) => format!("psk={}\n", psk.as_str()),
            None => String::new(),
        };
        Zeroizing::new(format!(
            "# shardvpn demo credentials, regenerated at every start\n\
             username={}\npassword={}\n{psk}",
            self.username, *self.password
        ))
    }
}

/// A password from `fill` (which fills a buffer with random bytes): see the module
/// docs for its shape.
pub fn generate_password(fill: &mut impl FnMut(&mut [u8])) -> Zeroizing<String> {
    let mut random = Zeroizing::new([0u8; GROUPS * GROUP_LEN]);
    fill(&mut random[..]);
    let mut password = Zeroizing::new(String::with_capacity(GROUPS * (GROUP_LEN + 1)));
    for (i, byte) in random.iter().enumerate() {
        if i > 0 && i % GROUP_LEN == 0 {
            password.push('-');
        }
        password.push(char::from(ALPHABET[usize::from(byte & 31)]));
    }
    password
}

/// Generates the demo credentials (and a demo PSK when `with_psk`) from the OS random
/// generator and writes them to `path` (see the module docs for the file's rules).
pub fn generate_demo_credentials(path: &Path, with_psk: bool) -> io::Result<DemoCredentials> {
    let rng = SystemRandom::new();
    let mut failed = false;
    let mut fill = |buffer: &mut [u8]| {
        failed |= rng.fill(buffer).is_err();
    };
    let password = generate_password(&mut fill);
    let psk = with_psk.then(|| generate_password(&mut fill));
    if failed {
        return Err(io::Error::other("the OS random generator failed"));
    }
    let credentials = DemoCredentials {
        username: DEMO_USER.to_owned(),
        password,
        psk,
    };
    write_demo_credentials(path, &credentials)?;
    Ok(credentials)
}

/// Writes `credentials` to `path`: parent created 0700 if missing, file 0600, no
/// symlink followed, a regular file only.
pub fn write_demo_credentials(path: &Path, credentials: &DemoCredentials) -> io::Result<()> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        // O_NONBLOCK: a FIFO planted at the path fails instead of blocking the open.
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| {
            if error.raw_os_error() == Some(libc::ELOOP) {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} is a symbolic link; refusing to follow it",
                        path.display()
                    ),
                )
            } else {
                error
            }
        })?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    // Tighten before writing: an existing file may have been readable by others.
    file.set_permissions(Permissions::from_mode(0o600))?;
    file.set_len(0)?;
    file.write_all(credentials.file_contents().as_bytes())?;
    file.sync_all()?;
    Ok(())
}
