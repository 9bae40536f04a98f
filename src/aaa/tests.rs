use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use hex_literal::hex;

use super::*;
use crate::config::{AddressRange, Config, PoolConfig};
use crate::crypto::ppp::chap;
use crate::crypto::ppp::mschapv2::{PasswordHash, generate_nt_response};

fn users(text: &str) -> Users {
    Users::parse(text, "users").unwrap_or_else(|errors| panic!("{text:?}:\n{errors}"))
}

fn user_errors(text: &str) -> Vec<String> {
    match Users::parse(text, "users") {
        Ok(users) => panic!("expected errors for {text:?}, parsed {users:?}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[track_caller]
fn one_user_error(text: &str, expected: &str) {
    assert_eq!(user_errors(text), [expected], "for {text:?}");
}

/// A fresh directory under the system temp dir for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shardvpn-aaa-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// --- users file -----------------------------------------------------------------------

#[test]
fn users_file_parses_fields_quotes_and_options() {
    let text = "# a comment\n\
                \n\
                alice   s3cret\n\
                bob\t\"two words\"   10.200.7.7  # static\n\
                CORP\\carol  \"say \\\"hi\\\" \\\\o/\"  *  max-sessions=2\r\n\
                \"dave smith\"  \"#hash\" max-sessions=5\n\
                \"*\"  \"*\"\n";
    let users = users(text);
    assert_eq!(users.len(), 5);
    let alice = users.get(b"alice").unwrap();
    assert_eq!(alice.secret.expose(), b"s3cret");
    assert_eq!(
        (alice.address, alice.max_sessions, alice.line),
        (None, None, 3)
    );
    let bob = users.get(b"bob").unwrap();
    assert_eq!(bob.secret.expose(), b"two words");
    assert_eq!(bob.address, Some(Ipv4Addr::new(10, 200, 7, 7)));
    // A static address implies one session.
    assert_eq!(bob.max_sessions, Some(1));
    let carol = users.get(b"CORP\\carol").unwrap();
    assert_eq!(carol.secret.expose(), b"say \"hi\" \\o/");
    assert_eq!((carol.address, carol.max_sessions), (None, Some(2)));
    let dave = users.get(b"dave smith").unwrap();
    assert_eq!(dave.secret.expose(), b"#hash");
    assert_eq!(dave.max_sessions, Some(5));
    // Quoted "*" is a name / secret, not "from a pool".
    let star = users.get(b"*").unwrap();
    assert_eq!(star.secret.expose(), b"*");
    // Exact match only.
    assert!(users.get(b"Alice").is_none());
    assert!(users.get(b"carol").is_none());
    assert_eq!(
        users.owner_of(Ipv4Addr::new(10, 200, 7, 7)).unwrap().name,
        "bob"
    );
    assert_eq!(
        users.static_addresses().collect::<Vec<_>>(),
        [Ipv4Addr::new(10, 200, 7, 7)]
    );
    assert!(Users::parse("", "users").unwrap().is_empty());
    // A byte-order mark is not part of the first name.
    assert!(
        Users::parse("\u{feff}eve e\n", "users")
            .unwrap()
            .get(b"eve")
            .is_some()
    );
    assert!(
        Users::parse("# only\n  # comments\n", "users")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn users_file_errors_name_their_line() {
    one_user_error(
        "alice\n",
        "users:1: a user needs a secret: expected NAME SECRET [ADDRESS] [max-sessions=N]",
    );
    one_user_error("\nalice \"open\n", "users:2: unterminated quote");
    one_user_error(
        "alice \"a\\nb\"\n",
        "users:1: unknown escape \\n in quotes (only \\\" and \\\\ exist)",
    );
    one_user_error(
        "alice pa#ss\n",
        "users:1: '#' inside an unquoted field: quote the field, or put a space before a comment",
    );
    one_user_error(
        "alice pa\"ss\n",
        "users:1: '\"' inside an unquoted field: quote the whole field and write \\\" for the quote",
    );
    one_user_error(
        "alice \"x\"y\n",
        "users:1: 'y' right after a closing quote; separate fields with spaces",
    );
    one_user_error(
        "alice x\nbob y\nalice z\n",
        "users:3: user \"alice\" is already defined on line 1",
    );
    one_user_error(
        "alice x 10.0.0.5\nbob y 10.0.0.5\n",
        "users:2: address 10.0.0.5 is already the static address of the user on line 1",
    );
    one_user_error(
        "alice x max-sessions=0\n",
        "users:1: max-sessions must be an integer from 1 to 65535",
    );
    one_user_error(
        "alice x max-sessions=65536\n",
        "users:1: max-sessions must be an integer from 1 to 65535",
    );
    one_user_error(
        "alice x max-sessions=1 max-sessions=2\n",
        "users:1: max-sessions is given twice",
    );
    one_user_error(
        "alice x 10.0.0.5 max-sessions=2\n",
        "users:1: max-sessions=2 with the static address 10.0.0.5: a user with a static \
         address can have only one session",
    );
    one_user_error(
        "alice x 127.0.0.1\n",
        "users:1: address 127.0.0.1 is a loopback address",
    );
    one_user_error(
        "alice x 224.0.0.1\n",
        "users:1: address 224.0.0.1 is a multicast, reserved or broadcast address",
    );
    one_user_error("\"\" x\n", "users:1: the user name is empty");
    one_user_error("alice \"\"\n", "users:1: the secret is empty");
    one_user_error(
        &format!("alice {}\n", "s".repeat(256)),
        "users:1: the secret is 256 bytes long; at most 255 (PAP's limit)",
    );
    one_user_error(
        &format!("{} x\n", "n".repeat(254)),
        "users:1: the user name is 254 bytes long; at most 253",
    );
    one_user_error(
        "alice \"a\tb\"\n",
        "users:1: control character '\\t' in a field",
    );
}

/// A secret written with an unquoted space spills into the option fields; the error
/// must not repeat any of it.
#[test]
fn users_file_errors_never_contain_secrets() {
    let errors = user_errors("alice my hunter2 secret\nbob s 10.0.0.1 topsecret\n");
    assert_eq!(
        errors,
        [
            "users:1: field 3 is neither an IPv4 address, \"*\" nor max-sessions=N (quote a \
             secret that contains spaces)",
            "users:2: field 4 is not max-sessions=N (quote a secret that contains spaces)",
        ]
    );
    for error in &errors {
        assert!(
            !error.contains("hunter2") && !error.contains("topsecret"),
            "{error}"
        );
    }
    // Debug of a user or a table shows no secret either.
    let table = users("alice hunter2\n");
    let debug = format!("{table:?} {:?}", table.get(b"alice").unwrap());
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("UserSecret(..)"), "{debug}");
}

#[test]
fn users_file_reports_every_error_in_order() {
    let errors = user_errors("a\nok x\n\"b\nc x max-sessions=9x\n");
    assert_eq!(
        errors,
        [
            "users:1: a user needs a secret: expected NAME SECRET [ADDRESS] [max-sessions=N]",
            "users:3: unterminated quote",
            "users:4: max-sessions must be an integer from 1 to 65535",
        ]
    );
}

#[test]
fn users_load_and_reload_keep_the_old_table_on_error() {
    let dir = temp_dir("reload");
    let path = dir.join("users");
    let missing = Users::load(&path).unwrap_err().to_string();
    assert!(
        missing.starts_with(&format!("{}: cannot read: ", path.display())),
        "{missing}"
    );

    std::fs::write(&path, "alice one\n").unwrap();
    let mut table = Users::load(&path).unwrap();
    assert_eq!(table.path(), Some(path.as_path()));
    assert_eq!(table.get(b"alice").unwrap().secret.expose(), b"one");

    // A broken file: errors with the file name and line, and the old table stays.
    std::fs::write(&path, "alice two\nbob\n").unwrap();
    let errors = table.reload().unwrap_err();
    assert_eq!(
        errors.to_string(),
        format!(
            "{}:2: a user needs a secret: expected NAME SECRET [ADDRESS] [max-sessions=N]",
            path.display()
        )
    );
    assert_eq!(table.get(b"alice").unwrap().secret.expose(), b"one");
    assert!(table.get(b"bob").is_none());

    // A good file replaces the whole table.
    std::fs::write(&path, "bob three\n").unwrap();
    table.reload().unwrap();
    assert!(table.get(b"alice").is_none());
    assert_eq!(table.get(b"bob").unwrap().secret.expose(), b"three");

    std::fs::write(&path, b"alice \xff\n").unwrap();
    assert_eq!(
        Users::load(&path).unwrap_err().to_string(),
        format!("{}:1: not valid UTF-8", path.display())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn users_checked_against_the_config() {
    let config = Config::default();
    let table = users("a x 10.9.9.9\nb y 10.200.0.1\n");
    assert_eq!(
        table.check_against(&config).unwrap_err().to_string(),
        "<users>:2: address 10.200.0.1 of user \"b\" is ppp.local_address, the concentrator's own"
    );
    assert!(users("a x 10.200.0.2\n").check_against(&config).is_ok());
}

#[test]
fn users_insert_refuses_duplicates() {
    let mut table = users("alice x 10.0.0.1\n");
    assert!(table.insert(User::new("alice", "y").unwrap()).is_err());
    let mut taken = User::new("bob", "y").unwrap();
    taken.address = Some(Ipv4Addr::new(10, 0, 0, 1));
    assert!(table.insert(taken).is_err());
    table.insert(User::new("bob", "y").unwrap()).unwrap();
    assert_eq!(table.len(), 2);
    assert!(User::new("", "y").is_err());
    assert!(User::new("x", "").is_err());
}

// --- authentication -------------------------------------------------------------------

#[test]
fn pap_accepts_the_secret_only() {
    let table = users("alice \"open sesame\" 10.0.0.9\n");
    let identity = verify_pap(&table, b"alice", b"open sesame").unwrap();
    assert_eq!(
        identity,
        Identity {
            name: "alice".to_owned(),
            address: Some(Ipv4Addr::new(10, 0, 0, 9)),
            max_sessions: Some(1),
        }
    );
    assert_eq!(
        verify_pap(&table, b"alice", b"open sesamE"),
        Err(AuthError::BadSecret)
    );
    assert_eq!(
        verify_pap(&table, b"alice", b"open sesame "),
        Err(AuthError::BadSecret)
    );
    assert_eq!(verify_pap(&table, b"alice", b""), Err(AuthError::BadSecret));
    assert_eq!(
        verify_pap(&table, b"bob", b"open sesame"),
        Err(AuthError::UnknownUser)
    );
}

#[test]
fn chap_md5_verifies_against_the_vector() {
    // The crypto module's independently computed vector: ID 0x2a, "s3cr3t", 0..16.
    let challenge: [u8; 16] = core::array::from_fn(|i| i as u8);
    let response = hex!("c26509fed6bab294085336fe900671f5");
    let table = users("alice s3cr3t\n");
    assert_eq!(
        verify_chap_md5(&table, b"alice", 0x2a, &challenge, &response)
            .unwrap()
            .name,
        "alice"
    );
    assert_eq!(
        verify_chap_md5(&table, b"alice", 0x2b, &challenge, &response),
        Err(AuthError::BadSecret)
    );
    let mut bad = response;
    bad[0] ^= 0x80;
    assert_eq!(
        verify_chap_md5(&table, b"alice", 0x2a, &challenge, &bad),
        Err(AuthError::BadSecret)
    );
    assert_eq!(
        verify_chap_md5(&table, b"alice", 0x2a, &challenge, &response[..15]),
        Err(AuthError::Malformed)
    );
    assert_eq!(
        verify_chap_md5(&table, b"eve", 0x2a, &challenge, &response),
        Err(AuthError::UnknownUser)
    );
}

// RFC 2759 §9.2.
const RFC2759_AUTH_CHALLENGE: [u8; 16] = hex!("5B5D7C7D7B3F2F3E3C2C602132262628");
const RFC2759_PEER_CHALLENGE: [u8; 16] = hex!("21402324255E262A28295F2B3A337C7E");
const RFC2759_NT_RESPONSE: [u8; 24] = hex!("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF");
const RFC2759_AUTH_RESPONSE: &str = "S=407A5589115FD0D6209F510FE9C04566932CDA56";
// RFC 3079 §3.5.3 (same exchange).
const RFC3079_MASTER_KEY: [u8; 16] = hex!("FDECE3717A8C838CB388E527AE3CDD31");

#[test]
fn mschapv2_verifies_the_rfc_2759_vector() {
    let table = users("User clientPass\n");
    let (identity, keys) = verify_mschapv2(
        &table,
        b"User",
        &RFC2759_AUTH_CHALLENGE,
        &RFC2759_PEER_CHALLENGE,
        &RFC2759_NT_RESPONSE,
    )
    .unwrap();
    assert_eq!(identity.name, "User");
    assert_eq!(keys.authenticator_response.as_str(), RFC2759_AUTH_RESPONSE);
    assert_eq!(keys.master_key.as_bytes(), &RFC3079_MASTER_KEY);
    assert!(!format!("{keys:?}").contains("FDEC"));

    // A DOMAIN\ prefix: the challenge hash ignores it, the lookup falls back to it.
    let (identity, keys) = verify_mschapv2(
        &table,
        b"CORP\\User",
        &RFC2759_AUTH_CHALLENGE,
        &RFC2759_PEER_CHALLENGE,
        &RFC2759_NT_RESPONSE,
    )
    .unwrap();
    assert_eq!(identity.name, "User");
    assert_eq!(keys.authenticator_response.as_str(), RFC2759_AUTH_RESPONSE);

    let mut bad = RFC2759_NT_RESPONSE;
    bad[23] ^= 1;
    let verify = |name: &[u8], response: &[u8]| {
        verify_mschapv2(
            &table,
            name,
            &RFC2759_AUTH_CHALLENGE,
            &RFC2759_PEER_CHALLENGE,
            response,
        )
        .map(|(identity, _)| identity.name)
    };
    assert_eq!(verify(b"User", &bad), Err(AuthError::BadSecret));
    assert_eq!(
        verify(b"User", &RFC2759_NT_RESPONSE[..23]),
        Err(AuthError::Malformed)
    );
    assert_eq!(
        verify(b"user", &RFC2759_NT_RESPONSE),
        Err(AuthError::UnknownUser)
    );
    // Another user's password does not verify.
    let other = users("User otherPass\n");
    assert_eq!(
        verify_mschapv2(
            &other,
            b"User",
            &RFC2759_AUTH_CHALLENGE,
            &RFC2759_PEER_CHALLENGE,
            &RFC2759_NT_RESPONSE
        )
        .map(|(identity, _)| identity.name),
        Err(AuthError::BadSecret)
    );
}

#[test]
fn local_authenticator_enforces_per_user_limits_and_counts() {
    let table = users("alice a max-sessions=2\nbob b 10.0.0.2\ncarol c\n");
    let mut aaa = LocalAuthenticator::new(table);
    let first = aaa.pap(b"alice", b"a").unwrap();
    let second = aaa.pap(b"alice", b"a").unwrap();
    assert_eq!(
        aaa.pap(b"alice", b"a").unwrap_err(),
        AuthError::LimitReached { limit: 2 }
    );
    assert_eq!(aaa.active_sessions("alice"), 2);
    aaa.end_session(first.ticket);
    assert_eq!(aaa.active_sessions("alice"), 1);
    let third = aaa.pap(b"alice", b"a").unwrap();
    assert_eq!(third.ticket.user(), "alice");

    // A static address means one session.
    let bob = aaa.pap(b"bob", b"b").unwrap();
    assert_eq!(bob.identity.address, Some(Ipv4Addr::new(10, 0, 0, 2)));
    assert_eq!(
        aaa.pap(b"bob", b"b").unwrap_err(),
        AuthError::LimitReached { limit: 1 }
    );
    // No limit: many sessions.
    let carols: Vec<Grant> = (0..100).map(|_| aaa.pap(b"carol", b"c").unwrap()).collect();
    assert_eq!(aaa.total_sessions(), 2 + 1 + 100);
    assert_eq!(aaa.pap(b"carol", b"x").unwrap_err(), AuthError::BadSecret);
    assert_eq!(aaa.pap(b"zed", b"x").unwrap_err(), AuthError::UnknownUser);
    let challenge = [7u8; 16];
    let response = chap::response(9, b"c", &challenge);
    let chap_grant = aaa.chap_md5(b"carol", 9, &challenge, &response).unwrap();
    assert_eq!(
        aaa.chap_md5(b"carol", 9, &challenge, &response[..3])
            .unwrap_err(),
        AuthError::Malformed
    );
    for grant in carols {
        aaa.end_session(grant.ticket);
    }
    aaa.end_session(chap_grant.ticket);
    aaa.end_session(second.ticket);
    aaa.end_session(third.ticket);
    aaa.end_session(bob.ticket);
    assert_eq!(aaa.total_sessions(), 0);
    assert_eq!(aaa.active_sessions("carol"), 0);
    assert_eq!(
        aaa.counters(),
        AuthCounters {
            accepted: 2 + 1 + 1 + 100 + 1,
            unknown_user: 1,
            bad_secret: 1,
            malformed: 1,
            limit_reached: 2,
            sessions_ended: 2 + 1 + 1 + 100 + 1,
            reloads: 0,
            reload_failures: 0,
        }
    );
}

#[test]
fn local_authenticator_mschapv2_and_reload() {
    let dir = temp_dir("authreload");
    let path = dir.join("users");
    std::fs::write(&path, "User clientPass max-sessions=1\n").unwrap();
    let mut aaa = LocalAuthenticator::new(Users::load(&path).unwrap());
    let (grant, keys) = aaa
        .mschapv2(
            b"User",
            &RFC2759_AUTH_CHALLENGE,
            &RFC2759_PEER_CHALLENGE,
            &RFC2759_NT_RESPONSE,
        )
        .unwrap();
    assert_eq!(keys.authenticator_response.as_str(), RFC2759_AUTH_RESPONSE);
    assert_eq!(
        aaa.mschapv2(
            b"User",
            &RFC2759_AUTH_CHALLENGE,
            &RFC2759_PEER_CHALLENGE,
            &RFC2759_NT_RESPONSE,
        )
        .unwrap_err(),
        AuthError::LimitReached { limit: 1 }
    );
    // A failed reload keeps the old users and counts.
    std::fs::write(&path, "User\n").unwrap();
    assert!(aaa.reload().is_err());
    assert!(aaa.users().get(b"User").is_some());
    // A good one replaces them; the session in progress keeps its ticket.
    std::fs::write(&path, "User newPass max-sessions=1\n").unwrap();
    aaa.reload().unwrap();
    assert_eq!(aaa.active_sessions("User"), 1);
    assert_eq!(
        aaa.mschapv2(
            b"User",
            &RFC2759_AUTH_CHALLENGE,
            &RFC2759_PEER_CHALLENGE,
            &RFC2759_NT_RESPONSE,
        )
        .unwrap_err(),
        AuthError::BadSecret
    );
    aaa.end_session(grant.ticket);
    let hash = PasswordHash::from_password("newPass").unwrap();
    let response = generate_nt_response(
        &RFC2759_AUTH_CHALLENGE,
        &RFC2759_PEER_CHALLENGE,
        b"User",
        &hash,
    );
    let (grant, _) = aaa
        .mschapv2(
            b"User",
            &RFC2759_AUTH_CHALLENGE,
            &RFC2759_PEER_CHALLENGE,
            &response,
        )
        .unwrap();
    aaa.end_session(grant.ticket);
    let counters = aaa.counters();
    assert_eq!((counters.reloads, counters.reload_failures), (2, 1));
    assert_eq!(
        (
            counters.accepted,
            counters.limit_reached,
            counters.bad_secret
        ),
        (2, 1, 1)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn failure_descriptions_are_log_safe() {
    assert_eq!(
        describe_failure(b"alice", AuthError::BadSecret),
        "user \"alice\": wrong secret"
    );
    assert_eq!(
        describe_failure(b"a\"b\\c\n\x00\xff", AuthError::UnknownUser),
        "user \"a\\\"b\\\\c\\x0a\\x00\\xff\": unknown user"
    );
    let long = vec![b'x'; 100];
    assert_eq!(
        LogSafeName(&long).to_string(),
        format!("\"{}\"...(100 bytes)", "x".repeat(64))
    );
    assert_eq!(
        AuthError::LimitReached { limit: 3 }.to_string(),
        "per-user session limit reached (3 sessions)"
    );
    assert!(AuthError::LimitReached { limit: 3 }.is_temporary());
    assert!(!AuthError::BadSecret.is_temporary() && !AuthError::UnknownUser.is_temporary());
    assert!(PoolError::Exhausted.is_temporary() && !PoolError::NoPools.is_temporary());
}

// --- pools ----------------------------------------------------------------------------

fn pool(name: &str, ranges: &[&str]) -> PoolConfig {
    PoolConfig {
        name: name.to_owned(),
        ranges: ranges.iter().map(|r| r.parse().unwrap()).collect(),
        dns: Vec::new(),
    }
}

fn ip(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

#[test]
fn cidr_pool_excludes_network_and_broadcast() {
    let mut pools = Pools::new(&[pool("p", &["192.0.2.0/24"])], &[]);
    let id = pools.id_of("p").unwrap();
    let mut seen = HashSet::new();
    for _ in 0..254 {
        let (got, address) = pools.allocate(None).unwrap();
        assert_eq!(got, id);
        assert!(seen.insert(address), "{address} handed out twice");
    }
    let expected: HashSet<Ipv4Addr> = (1..=254).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect();
    assert_eq!(seen, expected);
    assert_eq!(pools.allocate(None), Err(PoolError::Exhausted));
    assert_eq!(pools.allocate(Some(id)), Err(PoolError::Exhausted));
    let counters = pools.counters(id).unwrap();
    assert_eq!(
        counters,
        PoolCounters {
            size: 254,
            used: 254,
            reserved: 0,
            excluded: 0,
            available: 0,
            exhausted: 2,
            bad_releases: 0,
        }
    );
    pools.release(ip("192.0.2.77")).unwrap();
    assert_eq!(pools.allocate(None), Ok((id, ip("192.0.2.77"))));
}

#[test]
fn ranges_single_addresses_and_small_cidrs() {
    let config = pool(
        "p",
        &[
            "10.0.0.10-10.0.0.12",
            "10.0.1.5",
            "10.0.2.0/31",
            "10.0.3.9/32",
        ],
    );
    assert_eq!(config.usable_len(), 3 + 1 + 2 + 1);
    let mut pools = Pools::new(&[config], &[]);
    let mut got: Vec<Ipv4Addr> = (0..7).map(|_| pools.allocate(None).unwrap().1).collect();
    got.sort();
    assert_eq!(
        got,
        [
            "10.0.0.10",
            "10.0.0.11",
            "10.0.0.12",
            "10.0.1.5",
            "10.0.2.0",
            "10.0.2.1",
            "10.0.3.9"
        ]
        .map(ip)
    );
    assert_eq!(pools.allocate(None), Err(PoolError::Exhausted));
    assert_eq!(pools.pool_of(ip("10.0.0.13")), None);
    assert_eq!(pools.release(ip("10.0.0.13")), Err(PoolError::NotInPool));
}

#[test]
fn release_and_specific_errors() {
    let mut pools = Pools::new(&[pool("p", &["10.0.0.0/29"])], &[ip("10.0.0.1")]);
    let id = PoolId(0);
    // 10.0.0.1 is excluded: 5 addresses left (.2 to .6).
    assert_eq!(pools.counters(id).unwrap().available, 5);
    assert_eq!(pools.counters(id).unwrap().excluded, 1);
    assert_eq!(
        pools.allocate_specific(ip("10.0.0.1")),
        Err(PoolError::Excluded)
    );
    assert_eq!(pools.allocate_specific(ip("10.0.0.4")), Ok(Some(id)));
    assert_eq!(
        pools.allocate_specific(ip("10.0.0.4")),
        Err(PoolError::InUse)
    );
    assert!(pools.is_allocated(ip("10.0.0.4")));
    // Outside every pool: nothing to track.
    assert_eq!(pools.allocate_specific(ip("172.16.0.1")), Ok(None));
    // The network address of a CIDR is in no pool.
    assert_eq!(pools.allocate_specific(ip("10.0.0.0")), Ok(None));
    assert_eq!(pools.release(ip("10.0.0.5")), Err(PoolError::NotAllocated));
    assert_eq!(pools.counters(id).unwrap().bad_releases, 1);
    let mut handed: Vec<Ipv4Addr> = (0..4).map(|_| pools.allocate(None).unwrap().1).collect();
    handed.sort();
    assert_eq!(
        handed,
        ["10.0.0.2", "10.0.0.3", "10.0.0.5", "10.0.0.6"].map(ip)
    );
    assert_eq!(pools.allocate(None), Err(PoolError::Exhausted));
    assert_eq!(pools.release(ip("10.0.0.4")), Ok(id));
    assert!(!pools.is_allocated(ip("10.0.0.4")));
    assert_eq!(pools.allocate(None), Ok((id, ip("10.0.0.4"))));
    assert_eq!(Pools::new(&[], &[]).allocate(None), Err(PoolError::NoPools));
    assert_eq!(
        Pools::new(&[], &[]).allocate(Some(PoolId(3))),
        Err(PoolError::UnknownPool)
    );
}

#[test]
fn static_addresses_are_reserved_for_their_owner() {
    let mut pools = Pools::new(&[pool("p", &["10.0.0.1-10.0.0.4"])], &[]);
    let table = users("bob b 10.0.0.2\ncarol c 10.0.0.3\nzed z 172.16.0.1\n");
    pools.reserve_static(table.static_addresses());
    let counters = pools.counters(PoolId(0)).unwrap();
    assert_eq!((counters.reserved, counters.available), (2, 2));
    let mut dynamic: Vec<Ipv4Addr> = (0..2).map(|_| pools.allocate(None).unwrap().1).collect();
    dynamic.sort();
    assert_eq!(dynamic, ["10.0.0.1", "10.0.0.4"].map(ip));
    assert_eq!(pools.allocate(None), Err(PoolError::Exhausted));
    // The owner gets it; twice is refused.
    assert_eq!(pools.allocate_specific(ip("10.0.0.2")), Ok(Some(PoolId(0))));
    assert_eq!(
        pools.allocate_specific(ip("10.0.0.2")),
        Err(PoolError::InUse)
    );
    // Released, it is still reserved: not handed out dynamically.
    pools.release(ip("10.0.0.2")).unwrap();
    assert_eq!(pools.allocate(None), Err(PoolError::Exhausted));
    // A reload drops carol: 10.0.0.3 becomes free; bob's stays reserved.
    pools.reserve_static(users("bob b 10.0.0.2\n").static_addresses());
    assert_eq!(pools.allocate(None), Ok((PoolId(0), ip("10.0.0.3"))));
    assert_eq!(pools.allocate(None), Err(PoolError::Exhausted));
    // Reserving an address that is dynamically in use leaves it with its holder;
    // once released it is kept for the new owner.
    pools.reserve_static([ip("10.0.0.2"), ip("10.0.0.4")]);
    pools.release(ip("10.0.0.4")).unwrap();
    assert_eq!(pools.allocate(None), Err(PoolError::Exhausted));
    assert_eq!(pools.counters(PoolId(0)).unwrap().available, 0);
}

#[test]
fn several_pools_fall_through_in_order() {
    let mut pools = Pools::new(
        &[
            pool("small", &["10.0.0.1-10.0.0.2"]),
            pool("big", &["10.1.0.0/24"]),
        ],
        &[],
    );
    assert_eq!(pools.allocate(None).unwrap().0, PoolId(0));
    assert_eq!(pools.allocate(None).unwrap().0, PoolId(0));
    let (id, address) = pools.allocate(None).unwrap();
    assert_eq!(id, pools.id_of("big").unwrap());
    assert_eq!(pools.pool_of(address), Some(id));
    assert_eq!(pools.allocate(Some(PoolId(0))), Err(PoolError::Exhausted));
    assert_eq!(pools.release(address), Ok(id));
    assert_eq!(pools.get(id).unwrap().name(), "big");
    assert_eq!(pools.iter().count(), 2);
}

/// Random allocate / release / specific against a model: no address is ever handed
/// out twice, and the counters always match the model.
#[test]
fn never_twice_under_churn() {
    let mut pools = Pools::new(
        &[
            pool("a", &["10.0.0.0/26", "10.0.1.10-10.0.1.40"]),
            pool("b", &["10.0.2.0/28"]),
        ],
        &[ip("10.0.0.1")],
    );
    let total = 62 - 1 + 31 + 14;
    let mut held: Vec<Ipv4Addr> = Vec::new();
    let mut set: HashSet<Ipv4Addr> = HashSet::new();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let roll = next();
        if roll % 3 != 0 || held.is_empty() {
            match pools.allocate(None) {
                Ok((_, address)) => {
                    assert!(set.insert(address), "{address} handed out twice");
                    assert!(address != ip("10.0.0.1"));
                    held.push(address);
                }
                Err(error) => {
                    assert_eq!(error, PoolError::Exhausted);
                    assert_eq!(held.len(), total);
                }
            }
        } else {
            let index = (next() % held.len() as u64) as usize;
            let address = held.swap_remove(index);
            set.remove(&address);
            pools.release(address).unwrap();
            // Sometimes take it straight back as a specific address.
            if roll % 2 == 0 {
                assert!(pools.allocate_specific(address).unwrap().is_some());
                set.insert(address);
                held.push(address);
            }
        }
        let used: u32 = pools.iter().map(|(_, p)| p.counters().used).sum();
        assert_eq!(used as usize, held.len());
        for (_, pool) in pools.iter() {
            pool.check_invariants();
        }
    }
}

/// A /16 (65,533 addresses once the concentrator's own is excluded) allocated to the
/// last address and released again, twice: no duplicates, exact counters. Correct and
/// fast enough to run in the unit tests (no timing asserted).
#[test]
fn a_whole_slash_16_allocates_and_releases() {
    let config = Config::default();
    assert_eq!(
        config.pool[0].ranges,
        ["10.200.0.0/16".parse::<AddressRange>().unwrap()]
    );
    let mut pools = Pools::from_config(&config);
    let id = PoolId(0);
    assert_eq!(pools.counters(id).unwrap().available, 65533);
    for round in 0..2 {
        let mut seen = vec![false; 1 << 16];
        let mut held = Vec::with_capacity(65533);
        while let Ok((_, address)) = pools.allocate(None) {
            let low = (u32::from(address) & 0xffff) as usize;
            assert!(!seen[low], "{address} twice in round {round}");
            seen[low] = true;
            held.push(address);
        }
        assert_eq!(held.len(), 65533);
        assert!(!seen[0] && !seen[1] && !seen[0xffff]);
        let counters = pools.counters(id).unwrap();
        assert_eq!((counters.used, counters.available), (65533, 0));
        for address in held {
            pools.release(address).unwrap();
        }
        assert_eq!(pools.counters(id).unwrap().used, 0);
        assert_eq!(pools.counters(id).unwrap().available, 65533);
    }
}

/// A nearly full pool spanning several summary words: the addresses released are
/// exactly the ones handed out next, wherever the cursor is.
#[test]
fn nearly_full_pool_finds_the_last_free_addresses() {
    let mut pools = Pools::new(&[pool("p", &["10.64.0.0/18"])], &[]);
    let size = 16382;
    let mut held: Vec<Ipv4Addr> = (0..size).map(|_| pools.allocate(None).unwrap().1).collect();
    assert_eq!(pools.allocate(None), Err(PoolError::Exhausted));
    let mut state: u64 = 12345;
    for round in 0..50 {
        let mut released = HashSet::new();
        for _ in 0..(1 + round % 5) {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let index = (state >> 33) as usize % held.len();
            let address = held.swap_remove(index);
            pools.release(address).unwrap();
            released.insert(address);
        }
        let mut again = HashSet::new();
        while let Ok((_, address)) = pools.allocate(None) {
            again.insert(address);
            held.push(address);
        }
        assert_eq!(again, released, "round {round}");
        pools.get(PoolId(0)).unwrap().check_invariants();
    }
    assert_eq!(held.len(), size);
}

// --- demo credentials -----------------------------------------------------------------

#[test]
fn generated_password_shape() {
    let mut counter = 0u8;
    let password = generate_password(&mut |buffer: &mut [u8]| {
        for byte in buffer {
            *byte = counter;
            counter = counter.wrapping_add(1);
        }
    });
    assert_eq!(password.as_str(), "abcde-fghij-kmnpq-rstuv");
    // Only the low 5 bits matter: 0xff -> '9'.
    let password = generate_password(&mut |buffer: &mut [u8]| buffer.fill(0xff));
    assert_eq!(password.as_str(), "99999-99999-99999-99999");
}

#[test]
fn demo_credentials_file_is_private() {
    let dir = temp_dir("demo");
    let path = dir.join("run/shardvpn/demo-credentials");
    let credentials = generate_demo_credentials(&path, false).unwrap();
    assert_eq!(credentials.username, "demo");
    assert_eq!(credentials.password.len(), 23);
    assert!(!format!("{credentials:?}").contains(credentials.password.as_str()));
    let metadata = std::fs::metadata(&path).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    let parent = std::fs::metadata(path.parent().unwrap()).unwrap();
    assert_eq!(parent.permissions().mode() & 0o777, 0o700);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        format!(
            "# shardvpn demo credentials, regenerated at every start\nusername=demo\n\
             password={}\n",
            credentials.password.as_str()
        )
    );
    // The demo user authenticates with it.
    let mut table = Users::new();
    table.insert(credentials.user()).unwrap();
    assert!(verify_pap(&table, b"demo", credentials.password.as_bytes()).is_ok());

    // A second start: a new password, and an existing loose file is made private.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let again = generate_demo_credentials(&path, true).unwrap();
    assert_ne!(again.password, credentials.password);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(again.password.as_str()));
    // With a demo PSK: its own line, a different secret, hidden from Debug.
    let psk = again.psk.as_ref().unwrap();
    assert_eq!(psk.len(), 23);
    assert_ne!(psk.as_str(), again.password.as_str());
    assert!(text.ends_with(&format!("psk={}\n", psk.as_str())));
    assert!(!format!("{again:?}").contains(psk.as_str()));
    assert!(
        again
            .announcement(&path)
            .contains(&format!("IPsec pre-shared key {:?}", psk.as_str()))
    );

    // A symlink at the path is refused, and its target untouched.
    let target = dir.join("target");
    std::fs::write(&target, "untouched").unwrap();
    let link = dir.join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let error = generate_demo_credentials(&link, false).unwrap_err();
    assert!(error.to_string().contains("symbolic link"), "{error}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
    // A directory is refused.
    assert!(generate_demo_credentials(&dir, false).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reload_keeps_users_added_in_code() {
    let dir = temp_dir("added");
    let path = dir.join("users");
    std::fs::write(&path, "alice a\n").unwrap();
    let mut table = Users::load(&path).unwrap();
    let demo = DemoCredentials {
        username: DEMO_USER.to_owned(),
        password: zeroize::Zeroizing::new("abcde-fghij-kmnpq-rstuv".to_owned()),
        psk: None,
    };
    table.insert(demo.user()).unwrap();
    std::fs::write(&path, "bob b\n").unwrap();
    table.reload().unwrap();
    assert!(table.get(b"alice").is_none());
    assert!(table.get(b"bob").is_some());
    assert!(verify_pap(&table, b"demo", b"abcde-fghij-kmnpq-rstuv").is_ok());
    // A file that now defines the added user's name is refused as a whole.
    std::fs::write(&path, "carol c\ndemo other\n").unwrap();
    assert_eq!(
        table.reload().unwrap_err().to_string(),
        format!(
            "{}: user \"demo\" is already defined on line 2",
            path.display()
        )
    );
    assert!(table.get(b"bob").is_some() && table.get(b"carol").is_none());
    assert!(verify_pap(&table, b"demo", b"abcde-fghij-kmnpq-rstuv").is_ok());
    let announcement = demo.announcement(&path);
    assert_eq!(
        announcement.as_str(),
        format!(
            "demo user \"demo\", password \"abcde-fghij-kmnpq-rstuv\" (also in {}, readable \
             by root only)",
            path.display()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
