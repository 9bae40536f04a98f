//! The local users file: who may connect, with which secret, optionally with a static
//! address and a per-user session limit.
//!
//! # Format
//!
//! One user per line, fields separated by spaces or tabs:
//!
//! ```text
//! # NAME      SECRET            [ADDRESS]    [max-sessions=N]
//! alice       s3cret
//! bob         "two words"       10.200.7.7
//! CORP\carol  "say \"hi\""      *            max-sessions=2
//! ```
//!
//! - `#` at the start of a field starts a comment that runs to the end of the line;
//!   blank lines are ignored. A `#` *inside* an unquoted field is an error (quote the
//!   field), so a password such as `pa#ss` is never silently cut short.
//! - A field is quoted with double quotes when it contains a space, a `"` or a `#`.
//!   Inside quotes exactly two escapes exist, `\"` for a quote and `\\` for a
//!   backslash; any other backslash sequence is an error. Outside quotes a backslash
//!   is an ordinary character, so `DOMAIN\user` needs no quoting. No field may
//!   contain a control character (a tab included), quoted or not.
//! - Error messages never repeat a field after the name: a secret written with an
//!   unquoted space spills into them, so they are named by position instead.
//! - `NAME` (1..=253 bytes, RADIUS User-Name's limit) is matched exactly: case and
//!   domain prefix included. (MS-CHAPv2 also tries the name without a `DOMAIN\`
//!   prefix, see `super::auth`.)
//! - `SECRET` is 1..=255 bytes (PAP carries at most 255, RFC 1334 §2.2.1).
//! - `ADDRESS` is a static IPv4 address for the user, or `*` for "from a pool". A user
//!   with a static address has at most one session (a second one would need a second
//!   address), so `max-sessions` above 1 with an address is an error. No two users may
//!   share a static address.
//! - `max-sessions=N` (1..=65535) limits the user's simultaneous sessions; without it
//!   the user is unlimited (the global limits still apply).
//!
//! Errors are reported as `FILE:LINE: message` ([`ConfigError`] without a key), every
//! error in the file at once.
//!
//! # Reload
//!
//! [`Users::load`] builds a complete new table or fails, so a reload
//! ([`Users::reload`], on SIGHUP) either replaces the whole table or keeps the old one
//! and reports the errors: a half-read file never takes effect.
//!
//! Secrets are kept zeroized-on-drop with their NT hash (for MS-CHAPv2) computed once
//! at load; `Debug` never prints them.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::config::{ConfigError, ConfigErrors};
use crate::crypto::ppp::mschapv2::PasswordHash;

/// Longest user name (RADIUS User-Name, RFC 2865 §5.1).
pub const MAX_NAME_LEN: usize = 253;
/// Longest secret (the PAP Passwd-Length octet, RFC 1334 §2.2.1).
pub const MAX_SECRET_LEN: usize = 255;
/// Largest `max-sessions=N`.
pub const MAX_USER_SESSIONS: u32 = 65535;

/// A user's secret: the clear text (PAP, CHAP) and its NT hash (MS-CHAPv2). Zeroized
/// on drop; `Debug` prints nothing of it.
#[derive(Clone)]
pub struct UserSecret {
    clear: Zeroizing<Vec<u8>>,
    nt_hash: PasswordHash,
}

impl UserSecret {
    /// A secret of 1..=255 bytes of UTF-8 (MS-CHAPv2 hashes its UTF-16 form).
    pub fn new(secret: &str) -> Result<UserSecret, String> {
        if secret.is_empty() {
            return Err("the secret is empty".to_owned());
        }
        if secret.len() > MAX_SECRET_LEN {
            return Err(format!(
                "the secret is {} bytes long; at most {MAX_SECRET_LEN} (PAP's limit)",
                secret.len()
            ));
        }
        // At most 255 bytes is at most 255 UTF-16 units: below MS-CHAPv2's 256.
        let nt_hash = PasswordHash::from_password(secret)
            .map_err(|_| "the secret is too long for MS-CHAPv2".to_owned())?;
        Ok(UserSecret {
            clear: Zeroizing::new(secret.as_bytes().to_vec()),
            nt_hash,
        })
    }

    /// The clear-text secret, for PAP and CHAP verification only.
    pub fn expose(&self) -> &[u8] {
        &self.clear
    }

    /// `NtPasswordHash(secret)` (RFC 2759 §8.3).
    pub fn nt_hash(&self) -> &PasswordHash {
        &self.nt_hash
    }
}

impl fmt::Debug for UserSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserSecret(..)")
    }
}

/// One user of the users file.
#[derive(Debug, Clone)]
pub struct User {
    /// The name as written (matched exactly).
    pub name: String,
    pub secret: UserSecret,
    /// A static address; `None` = from a pool.
    pub address: Option<Ipv4Addr>,
    /// Simultaneous sessions allowed; `None` = no per-user limit. A user with a static
    /// address has `Some(1)`.
    pub max_sessions: Option<u32>,
    /// Line in the users file (0 for a user added in code, such as the demo user).
    pub line: usize,
}

impl User {
    /// A user built in code (the demo user, tests): no address, no limit, line 0.
    pub fn new(name: &str, secret: &str) -> Result<User, String> {
        check_name(name)?;
        Ok(User {
            name: name.to_owned(),
            secret: UserSecret::new(secret)?,
            address: None,
            max_sessions: None,
            line: 0,
        })
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the user name is empty".to_owned());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "the user name is {} bytes long; at most {MAX_NAME_LEN}",
            name.len()
        ));
    }
    Ok(())
}

/// The table of users, by exact name.
#[derive(Debug, Clone, Default)]
pub struct Users {
    by_name: HashMap<Vec<u8>, User>,
    /// Static address -> user name, to keep addresses unique.
    by_address: HashMap<Ipv4Addr, String>,
    /// Where the table came from (`None` for a table built in code).
    path: Option<PathBuf>,
    /// Users added with [`Users::insert`] (the demo user), carried over by reloads.
    added: Vec<User>,
}

impl Users {
    /// An empty table.
    pub fn new() -> Users {
        Users::default()
    }

    /// Reads and parses the users file at `path`. Every problem is reported, each as
    /// `FILE:LINE: message`; an unreadable file is `FILE: cannot read: ...`.
    pub fn load(path: impl AsRef<Path>) -> Result<Users, ConfigErrors> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read(path).map_err(|error| {
            ConfigErrors::new(vec![ConfigError {
                origin: origin.clone(),
                line: None,
                key: None,
                message: format!("cannot read: {error}"),
            }])
        })?;
        // Zeroize the file's bytes (they hold every secret) once parsed.
        let text = Zeroizing::new(text);
        let text = std::str::from_utf8(&text).map_err(|error| {
            let line = 1 + text[..error.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            ConfigErrors::new(vec![ConfigError {
                origin: origin.clone(),
                line: Some(line),
                key: None,
                message: "not valid UTF-8".to_owned(),
            }])
        })?;
        let mut users = Users::parse(text, &origin)?;
        users.path = Some(path.to_owned());
        Ok(users)
    }

    /// Re-reads the file this table was loaded from. On success the table is replaced
    /// as a whole, with the users added by [`Users::insert`] (the demo user) added
    /// again; on failure (including a file that now defines an added user's name or
    /// address) it is left exactly as it was and the errors are returned for the log.
    /// A table built in code has no file: `Ok` and nothing changes.
    pub fn reload(&mut self) -> Result<(), ConfigErrors> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let mut fresh = Users::load(&path)?;
        for user in &self.added {
            fresh.insert(user.clone()).map_err(|message| {
                ConfigErrors::new(vec![ConfigError {
                    origin: path.display().to_string(),
                    line: None,
                    key: None,
                    message,
                }])
            })?;
        }
        *self = fresh;
        Ok(())
    }

    /// Parses users-file `text`; `origin` starts every error.
    pub fn parse(text: &str, origin: &str) -> Result<Users, ConfigErrors> {
        let mut users = Users::default();
        // First line of each name and address, for "already on line N".
        let mut first_line: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut address_line: HashMap<Ipv4Addr, usize> = HashMap::new();
        let mut errors = Vec::new();
        // An editor's byte-order mark would otherwise become part of the first name.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let mut error = |message: String| {
                errors.push(ConfigError {
                    origin: origin.to_owned(),
                    line: Some(line),
                    key: None,
                    message,
                })
            };
            let fields = match split_fields(raw) {
                Ok(fields) => fields,
                Err(message) => {
                    error(message);
                    continue;
                }
            };
            let user = match user_from_fields(&fields, line) {
                Ok(Some(user)) => user,
                Ok(None) => continue,
                Err(message) => {
                    error(message);
                    continue;
                }
            };
            if let Some(first) = first_line.get(user.name.as_bytes()) {
                error(format!(
                    "user {:?} is already defined on line {first}",
                    user.name
                ));
                continue;
            }
            if let Some(address) = user.address {
                if let Some(first) = address_line.get(&address) {
                    error(format!(
                        "address {address} is already the static address of the user on \
                         line {first}"
                    ));
                    continue;
                }
                address_line.insert(address, line);
                users.by_address.insert(address, user.name.clone());
            }
            first_line.insert(user.name.as_bytes().to_vec(), line);
            users.by_name.insert(user.name.as_bytes().to_vec(), user);
        }
        if errors.is_empty() {
            Ok(users)
        } else {
            Err(ConfigErrors::new(errors))
        }
    }

    /// Adds a user built in code (the demo user), kept across [`Users::reload`]. Fails
    /// if the name or its static address is taken.
    pub fn insert(&mut self, user: User) -> Result<(), String> {
        if let Some(existing) = self.by_name.get(user.name.as_bytes()) {
            return Err(match existing.line {
                0 => format!("user {:?} already exists", user.name),
                line => format!("user {:?} is already defined on line {line}", user.name),
            });
        }
        if let Some(address) = user.address {
            if self.by_address.contains_key(&address) {
                return Err(format!("address {address} is already taken"));
            }
            self.by_address.insert(address, user.name.clone());
        }
        self.added.push(user.clone());
        self.by_name.insert(user.name.as_bytes().to_vec(), user);
        Ok(())
    }

    /// The user whose name is exactly `name` (bytes as received from the peer).
    pub fn get(&self, name: &[u8]) -> Option<&User> {
        self.by_name.get(name)
    }

    /// The user who has `address` as static address.
    pub fn owner_of(&self, address: Ipv4Addr) -> Option<&User> {
        self.by_address
            .get(&address)
            .and_then(|name| self.by_name.get(name.as_bytes()))
    }

    /// Every static address, for pools to reserve (`super::pool::Pools::reserve_static`).
    pub fn static_addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.by_address.keys().copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.by_name.values()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The file this table was loaded from.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Checks the static addresses against the configuration: none may be the
    /// concentrator's own PPP address (`ppp.local_address`) nor an address that
    /// cannot be a host's. Errors name the user's line.
    pub fn check_against(&self, config: &crate::config::Config) -> Result<(), ConfigErrors> {
        let origin = self
            .path
            .as_ref()
            .map_or_else(|| "<users>".to_owned(), |path| path.display().to_string());
        let mut errors: Vec<ConfigError> = Vec::new();
        for user in self.by_name.values() {
            let Some(address) = user.address else {
                continue;
            };
            let message = if address == config.ppp.local_address {
                Some(format!(
                    "address {address} of user {:?} is ppp.local_address, the \
                     concentrator's own",
                    user.name
                ))
            } else {
                not_a_host_address(address).map(|why| format!("address {address} {why}"))
            };
            if let Some(message) = message {
                errors.push(ConfigError {
                    origin: origin.clone(),
                    line: (user.line > 0).then_some(user.line),
                    key: None,
                    message,
                });
            }
        }
        if errors.is_empty() {
            return Ok(());
        }
        errors.sort_by_key(|error| error.line);
        Err(ConfigErrors::new(errors))
    }
}

fn not_a_host_address(address: Ipv4Addr) -> Option<&'static str> {
    let first = address.octets()[0];
    if first == 0 {
        Some("is in 0.0.0.0/8")
    } else if address.is_loopback() {
        Some("is a loopback address")
    } else if first >= 224 {
        Some("is a multicast, reserved or broadcast address")
    } else {
        None
    }
}

/// A user from the fields of one line, or `None` for a blank or comment line.
fn user_from_fields(fields: &[Field], line: usize) -> Result<Option<User>, String> {
    let Some((name, rest)) = fields.split_first() else {
        return Ok(None);
    };
    let Some((secret, options)) = rest.split_first() else {
        // The lone field is not repeated: it might be a secret written on its own.
        return Err(
            "a user needs a secret: expected NAME SECRET [ADDRESS] [max-sessions=N]".to_owned(),
        );
    };
    check_name(&name.text)?;
    let secret = UserSecret::new(&secret.text)?;
    let mut address = None;
    let mut address_seen = false;
    let mut max_sessions = None;
    for (index, option) in options.iter().enumerate() {
        let text = option.text.as_str();
        // Fields after the secret are named by position, never quoted: a secret with
        // an unquoted space spills into them, and errors must not carry secrets.
        let position = index + 3;
        if !option.quoted {
            if let Some(value) = text.strip_prefix("max-sessions=") {
                if max_sessions.is_some() {
                    return Err("max-sessions is given twice".to_owned());
                }
                let count = value
                    .parse::<u32>()
                    .ok()
                    .filter(|count| (1..=MAX_USER_SESSIONS).contains(count))
                    .ok_or_else(|| {
                        format!("max-sessions must be an integer from 1 to {MAX_USER_SESSIONS}")
                    })?;
                max_sessions = Some(count);
                continue;
            }
            if !address_seen && (text == "*" || text.parse::<Ipv4Addr>().is_ok()) {
                address_seen = true;
                address = text.parse::<Ipv4Addr>().ok();
                continue;
            }
        }
        return Err(if address_seen {
            format!(
                "field {position} is not max-sessions=N (quote a secret that contains \
                 spaces)"
            )
        } else {
            format!(
                "field {position} is neither an IPv4 address, \"*\" nor max-sessions=N \
                 (quote a secret that contains spaces)"
            )
        });
    }
    if let Some(address) = address {
        if let Some(why) = not_a_host_address(address) {
            return Err(format!("address {address} {why}"));
        }
        match max_sessions {
            Some(count) if count > 1 => {
                return Err(format!(
                    "max-sessions={count} with the static address {address}: a user with a \
                     static address can have only one session"
                ));
            }
            _ => max_sessions = Some(1),
        }
    }
    Ok(Some(User {
        name: name.text.as_str().to_owned(),
        secret,
        address,
        max_sessions,
        line,
    }))
}

/// One field of a line, unquoted.
struct Field {
    text: Zeroizing<String>,
    /// Written in quotes (so `"*"` is a secret, not "from a pool").
    quoted: bool,
}

/// Splits a line into fields (see the module docs for the rules).
fn split_fields(line: &str) -> Result<Vec<Field>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|&c| c == ' ' || c == '\t').is_some() {}
        let Some(&first) = chars.peek() else {
            return Ok(fields);
        };
        if first == '#' {
            return Ok(fields);
        }
        let mut text = Zeroizing::new(String::new());
        if first == '"' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated quote".to_owned()),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c @ ('"' | '\\')) => text.push(c),
                        Some(c) => {
                            return Err(format!(
                                "unknown escape \\{} in quotes (only \\\" and \\\\ exist)",
                                c.escape_debug()
                            ));
                        }
                        None => return Err("unterminated quote".to_owned()),
                    },
                    Some(c) if c.is_control() => {
                        return Err(format!("control character {c:?} in a field"));
                    }
                    Some(c) => text.push(c),
                }
            }
            if let Some(&next) = chars.peek()
                && next != ' '
                && next != '\t'
            {
                return Err(format!(
                    "{next:?} right after a closing quote; separate fields with spaces"
                ));
            }
            fields.push(Field { text, quoted: true });
        } else {
            while let Some(c) = chars.next_if(|&c| c != ' ' && c != '\t') {
                match c {
                    '#' => {
                        return Err("'#' inside an unquoted field: quote the field, or put a \
                                    space before a comment"
                            .to_owned());
                    }
                    '"' => {
                        return Err("'\"' inside an unquoted field: quote the whole field \
                                    and write \\\" for the quote"
                            .to_owned());
                    }
                    c if c.is_control() => {
                        return Err(format!("control character {c:?} in a field"));
                    }
                    c => text.push(c),
                }
            }
            fields.push(Field {
                text,
                quoted: false,
            });
        }
    }
}
