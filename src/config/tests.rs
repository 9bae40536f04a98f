use super::*;

/// Every error for `text`, rendered, in order.
fn errors(text: &str) -> Vec<String> {
    match Config::parse(text, "t.toml") {
        Ok(config) => panic!("expected errors for {text:?}, parsed {config:?}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// `text` has exactly one error, `expected`.
#[track_caller]
fn one_error(text: &str, expected: &str) {
    assert_eq!(errors(text), [expected], "for {text:?}");
}

fn parses(text: &str) -> Config {
    Config::parse(text, "t.toml").unwrap_or_else(|errors| panic!("{text:?}:\n{errors}"))
}

// --- defaults -------------------------------------------------------------------------

#[test]
fn embedded_default_is_the_default_and_valid() {
    assert_eq!(Config::embedded(), Config::default());
    assert_eq!(Config::default().validate(), Ok(()));
    // Spot-check the values the brief fixes, so a drift in both places is still caught.
    let d = Config::default().dataplane;
    assert_eq!(d.shards, Shards::Auto);
    assert_eq!((d.batch, d.buffers, d.buffer_size), (64, 4096, 2048));
    assert_eq!(
        (d.max_sessions, d.max_tunnels, d.max_sas, d.max_routes),
        (65536, 16384, 32768, 65536)
    );
    assert_eq!((d.punt_queue, d.command_queue), (1024, 4096));
    assert!(d.pin_cores);
    assert_eq!((d.tun_name.as_str(), d.tun_mtu), ("shardvpn0", 1400));
    let l = Config::default().listen;
    assert_eq!(l.address.to_string(), "0.0.0.0");
    assert_eq!((l.ike_port, l.nat_t_port, l.l2tp_port), (500, 4500, 1701));
    assert!(l.raw_esp);
}

#[test]
fn empty_file_and_empty_sections_are_the_default() {
    assert_eq!(parses(""), Config::default());
    assert_eq!(
        parses("# nothing\n\n[dataplane]\n[listen]\n"),
        Config::default()
    );
}

/// The embedded file writes every key of every section (so it documents them all) and
/// no other: compared against the serialized `Default`, which has every field.
#[test]
fn default_toml_writes_every_key() {
    let written: toml::Table = toml::from_str(DEFAULT_TOML).unwrap();
    let all = toml::Table::try_from(Config::default()).unwrap();
    let keys = |table: &toml::Table| -> Vec<String> {
        let mut keys = Vec::new();
        for (section, value) in table {
            keys.push(section.clone());
            // A section is a table, or an array of tables (`[[pool]]`).
            let tables: Vec<&toml::Table> = match value {
                toml::Value::Array(array) => array
                    .iter()
                    .map(|t| t.as_table().expect("arrays of tables"))
                    .collect(),
                other => vec![other.as_table().expect("sections are tables")],
            };
            for (i, table) in tables.iter().enumerate() {
                for key in table.keys() {
                    keys.push(format!("{section}[{i}].{key}"));
                }
            }
        }
        keys.sort();
        keys
    };
    assert_eq!(keys(&written), keys(&all));
}

/// Each key line in the embedded file has a comment right above it.
#[test]
fn default_toml_comments_every_key() {
    let lines: Vec<&str> = DEFAULT_TOML.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.contains(" = ") && !line.starts_with('#') {
            assert!(
                i > 0 && lines[i - 1].starts_with('#'),
                "no comment above line {}: {line}",
                i + 1
            );
        }
    }
}

#[test]
fn serialized_default_parses_back() {
    let text = toml::to_string(&Config::default()).unwrap();
    assert_eq!(parses(&text), Config::default());
    let mut config = Config::default();
    config.dataplane.shards = Shards::Count(7);
    let text = toml::to_string(&config).unwrap();
    assert!(text.contains("shards = 7"), "{text}");
    assert_eq!(parses(&text), config);
}

// --- shards ---------------------------------------------------------------------------

#[test]
fn shards_auto_resolves_to_the_cpu_count() {
    let config = parses("[dataplane]\nshards = \"auto\"\n");
    assert_eq!(config.dataplane.shards, Shards::Auto);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let expected = u32::try_from(cpus).unwrap().clamp(1, MAX_SHARDS);
    assert_eq!(config.dataplane.shard_count(), expected);
    assert!(config.dataplane.shard_count() >= 1);
}

#[test]
fn shards_count_is_used_as_is() {
    let config = parses("[dataplane]\nshards = 3\n");
    assert_eq!(config.dataplane.shards, Shards::Count(3));
    assert_eq!(config.dataplane.shard_count(), 3);
    assert_eq!(
        parses("[dataplane]\nshards = 1024\n")
            .dataplane
            .shard_count(),
        1024
    );
}

#[test]
fn shards_must_be_positive_bounded_or_auto() {
    one_error(
        "[dataplane]\nshards = 0\n",
        "t.toml:2: dataplane.shards: must be between 1 and 1024, not 0",
    );
    one_error(
        "[dataplane]\n\nshards = 1025\n",
        "t.toml:3: dataplane.shards: must be between 1 and 1024, not 1025",
    );
    one_error(
        "[dataplane]\nshards = 99999999999\n",
        "t.toml:2: dataplane.shards: must be between 1 and 1024, not 4294967295",
    );
    one_error(
        "[dataplane]\nshards = -2\n",
        "t.toml:2: dataplane.shards: expected a number of shards or \"auto\", found -2",
    );
    one_error(
        "[dataplane]\nshards = \"Auto\"\n",
        "t.toml:2: dataplane.shards: expected a number of shards or \"auto\", found \"Auto\"",
    );
    one_error(
        "[dataplane]\nshards = true\n",
        "t.toml:2: dataplane.shards: invalid type: boolean `true`, expected a number of \
         shards or \"auto\"",
    );
}

// --- each validation rule, at the line of its value -----------------------------------

#[test]
fn batch_range() {
    one_error(
        "[dataplane]\nbatch = 0\n",
        "t.toml:2: dataplane.batch: must be between 1 and 1024, not 0",
    );
    one_error(
        "# a comment\n[dataplane]\npin_cores = false\nbatch = 1025\n",
        "t.toml:4: dataplane.batch: must be between 1 and 1024, not 1025",
    );
    assert_eq!(parses("[dataplane]\nbatch = 1024\n").dataplane.batch, 1024);
    assert_eq!(parses("[dataplane]\nbatch = 1\n").dataplane.batch, 1);
}

#[test]
fn buffers_power_of_two_and_range() {
    one_error(
        "[dataplane]\nbuffers = 100\n",
        "t.toml:2: dataplane.buffers: must be a power of two, not 100",
    );
    one_error(
        "[dataplane]\nbuffers = 32\n",
        "t.toml:2: dataplane.buffers: must be between 64 and 32768, not 32",
    );
    one_error(
        "[dataplane]\nbuffers = 0\n",
        "t.toml:2: dataplane.buffers: must be a power of two, not 0",
    );
    // Too big for the field's u16: the deserializer gives the same message.
    one_error(
        "[dataplane]\nbuffers = 65536\n",
        "t.toml:2: dataplane.buffers: must be between 64 and 32768, not 65536",
    );
    assert_eq!(parses("[dataplane]\nbuffers = 64\n").dataplane.buffers, 64);
    assert_eq!(
        parses("[dataplane]\nbuffers = 32768\n").dataplane.buffers,
        32768
    );
}

#[test]
fn buffer_size_range() {
    one_error(
        "[dataplane]\nbuffer_size = 1023\n",
        "t.toml:2: dataplane.buffer_size: must be between 1024 and 65535, not 1023",
    );
    one_error(
        "[dataplane]\nbuffer_size = 65536\n",
        "t.toml:2: dataplane.buffer_size: must be between 1024 and 65535, not 65536",
    );
    one_error(
        "[dataplane]\nbuffer_size = -1\n",
        "t.toml:2: dataplane.buffer_size: must be between 1024 and 65535, not -1",
    );
}

#[test]
fn buffer_size_must_hold_an_mtu_packet() {
    // Both written: buffer_size is blamed.
    one_error(
        "[dataplane]\ntun_mtu = 1500\nbuffer_size = 1700\n",
        "t.toml:3: dataplane.buffer_size: must be at least tun_mtu + 256 = 1756 to hold a \
         full-size packet with its encapsulation, not 1700",
    );
    // Only the buffer size written.
    one_error(
        "[dataplane]\nbuffer_size = 1024\n",
        "t.toml:2: dataplane.buffer_size: must be at least tun_mtu + 256 = 1656 to hold a \
         full-size packet with its encapsulation, not 1024",
    );
    // Only the MTU written: the MTU is blamed, with the default buffer size.
    one_error(
        "[dataplane]\n\ntun_mtu = 9000\n",
        "t.toml:3: dataplane.tun_mtu: needs dataplane.buffer_size of at least tun_mtu + 256 \
         = 9256 to hold a full-size packet with its encapsulation, but it is 2048",
    );
    // Exactly enough is fine.
    parses("[dataplane]\ntun_mtu = 9000\nbuffer_size = 9256\n");
    // A programmatic config reports it without a line.
    let mut config = Config::default();
    config.dataplane.tun_mtu = 1900;
    assert_eq!(
        config.validate().unwrap_err().to_string(),
        "<config>: dataplane.buffer_size: must be at least tun_mtu + 256 = 2156 to hold a \
         full-size packet with its encapsulation, not 2048"
    );
}

#[test]
fn table_bounds() {
    for (key, bad, high) in [
        ("max_sessions", 0, 1_048_576),
        ("max_sessions", 1_048_577, 1_048_576),
        ("max_tunnels", 0, 65535),
        ("max_tunnels", 65536, 65535),
        ("max_sas", 0, 1_048_576),
        ("max_sas", 1_048_577, 1_048_576),
        ("max_routes", 0, 1_048_576),
        ("max_routes", 1_048_577, 1_048_576),
        ("punt_queue", 0, 1_048_576),
        ("punt_queue", 1_048_577, 1_048_576),
        ("command_queue", 0, 1_048_576),
        ("command_queue", 1_048_577, 1_048_576),
    ] {
        one_error(
            &format!("[dataplane]\npin_cores = true\n{key} = {bad}\n"),
            &format!("t.toml:3: dataplane.{key}: must be between 1 and {high}, not {bad}"),
        );
    }
    let config = parses(
        "[dataplane]\nmax_sessions = 1\nmax_tunnels = 65535\nmax_sas = 1048576\n\
         max_routes = 7\npunt_queue = 1\ncommand_queue = 1048576\n",
    );
    let d = config.dataplane;
    assert_eq!(
        (d.max_sessions, d.max_tunnels, d.max_sas, d.max_routes),
        (1, 65535, 1_048_576, 7)
    );
    assert_eq!((d.punt_queue, d.command_queue), (1, 1_048_576));
}

#[test]
fn tun_name_rules() {
    for (name, message) in [
        ("", "must not be empty"),
        (
            "sixteen-bytes-xx",
            "must be at most 15 bytes, not 16 (\"sixteen-bytes-xx\")",
        ),
        ("a/b", "must not contain '/' (\"a/b\")"),
        ("a:b", "must not contain ':' (\"a:b\")"),
        ("vpn%d", "must not contain '%' (\"vpn%d\")"),
        ("a b", "must not contain ' ' (\"a b\")"),
        ("a\\tb", "must not contain '\\t' (\"a\\tb\")"),
        (".", "\".\" is not a valid interface name"),
        ("..", "\"..\" is not a valid interface name"),
    ] {
        one_error(
            &format!("[dataplane]\n\n\ntun_name = \"{name}\"\n"),
            &format!("t.toml:4: dataplane.tun_name: {message}"),
        );
    }
    assert_eq!(
        parses("[dataplane]\ntun_name = \"fifteen-bytes-x\"\n")
            .dataplane
            .tun_name,
        "fifteen-bytes-x"
    );
}

#[test]
fn tun_mtu_range() {
    one_error(
        "[dataplane]\ntun_mtu = 575\n",
        "t.toml:2: dataplane.tun_mtu: must be between 576 and 9000, not 575",
    );
    one_error(
        "[dataplane]\nbuffer_size = 65535\ntun_mtu = 9001\n",
        "t.toml:3: dataplane.tun_mtu: must be between 576 and 9000, not 9001",
    );
    assert_eq!(
        parses("[dataplane]\ntun_mtu = 576\n").dataplane.tun_mtu,
        576
    );
}

#[test]
fn ports_non_zero() {
    one_error(
        "[listen]\nl2tp_port = 0\n",
        "t.toml:2: listen.l2tp_port: must not be 0 (the kernel would pick a random port)",
    );
    one_error(
        "[listen]\nike_port = 65536\n",
        "t.toml:2: listen.ike_port: must be between 1 and 65535, not 65536",
    );
    one_error(
        "[listen]\nnat_t_port = -1\n",
        "t.toml:2: listen.nat_t_port: must be between 1 and 65535, not -1",
    );
}

#[test]
fn ports_distinct() {
    // Against a default: the written key is blamed, whichever it is.
    one_error(
        "[listen]\nike_port = 4500\n",
        "t.toml:2: listen.ike_port: port 4500 is also listen.nat_t_port; the ports must differ",
    );
    one_error(
        "[listen]\nl2tp_port = 500\n",
        "t.toml:2: listen.l2tp_port: port 500 is also listen.ike_port; the ports must differ",
    );
    // Both written: the one further down is blamed.
    one_error(
        "[listen]\nl2tp_port = 600\nike_port = 600\n",
        "t.toml:3: listen.ike_port: port 600 is also listen.l2tp_port; the ports must differ",
    );
    // Moving the defaults out of the way makes it valid.
    let config = parses("[listen]\nike_port = 4500\nnat_t_port = 4501\n");
    assert_eq!(
        (config.listen.ike_port, config.listen.nat_t_port),
        (4500, 4501)
    );
}

#[test]
fn listen_address_and_raw_esp() {
    let config = parses("[listen]\naddress = \"2001:db8::1\"\nraw_esp = false\n");
    assert_eq!(config.listen.address.to_string(), "2001:db8::1");
    assert!(!config.listen.raw_esp);
    one_error(
        "[listen]\naddress = \"10.0.0.256\"\n",
        "t.toml:2: listen.address: invalid IP address syntax",
    );
}

#[test]
fn all_validation_errors_are_reported_in_file_order() {
    let text = "[listen]\n\
                nat_t_port = 500\n\
                [dataplane]\n\
                tun_name = \"a/b\"\n\
                batch = 0\n\
                buffers = 100\n";
    assert_eq!(
        errors(text),
        [
            "t.toml:2: listen.nat_t_port: port 500 is also listen.ike_port; the ports must differ",
            "t.toml:4: dataplane.tun_name: must not contain '/' (\"a/b\")",
            "t.toml:5: dataplane.batch: must be between 1 and 1024, not 0",
            "t.toml:6: dataplane.buffers: must be a power of two, not 100",
        ]
    );
    let rendered = Config::parse(text, "t.toml").unwrap_err().to_string();
    assert_eq!(rendered.lines().count(), 4);
}

#[test]
fn dotted_keys_and_inline_tables_report_their_lines() {
    one_error(
        "\ndataplane.batch = 0\n",
        "t.toml:2: dataplane.batch: must be between 1 and 1024, not 0",
    );
    one_error(
        "dataplane = { pin_cores = true,\n  batch = 0 }\n",
        "t.toml:2: dataplane.batch: must be between 1 and 1024, not 0",
    );
}

#[test]
fn crlf_line_endings_count_lines() {
    one_error(
        "[dataplane]\r\n\r\nbatch = 0\r\n",
        "t.toml:3: dataplane.batch: must be between 1 and 1024, not 0",
    );
}

// --- unknown keys, types, syntax ------------------------------------------------------

#[test]
fn unknown_key_names_its_path_and_line() {
    one_error(
        "[listen]\naddress = \"::\"\nike_prot = 500\n",
        "t.toml:3: listen.ike_prot: unknown field `ike_prot`, expected one of `address`, \
         `ike_port`, `nat_t_port`, `l2tp_port`, `raw_esp`, `pptp_port`",
    );
    one_error(
        "[dataplane]\n[radios]\nserver = \"x\"\n",
        "t.toml:2: radios: unknown field `radios`, expected one of `dataplane`, `listen`, \
         `aaa`, `ppp`, `l2tp`, `ike`, `pptp`, `radius`, `limits`, `mgmt`, `metrics`, `pool`",
    );
}

#[test]
fn wrong_type_names_its_path_and_line() {
    one_error(
        "[dataplane]\nbatch = 64\npin_cores = 1\n",
        "t.toml:3: dataplane.pin_cores: invalid type: integer `1`, expected a boolean",
    );
    one_error(
        "[dataplane]\nbatch = \"64\"\n",
        "t.toml:2: dataplane.batch: invalid type: string \"64\", expected an integer from 1 \
         to 1024",
    );
    one_error(
        "[dataplane]\ntun_mtu = 1400.0\n",
        "t.toml:2: dataplane.tun_mtu: invalid type: floating point `1400.0`, expected an \
         integer from 576 to 9000",
    );
    one_error(
        "\nlisten = 3\n",
        "t.toml:2: listen: invalid type: integer `3`, expected a table of listen settings",
    );
}

#[test]
fn syntax_error_line() {
    let errors = errors("[dataplane]\nbatch = 64\ntun_name = \"unterminated\npin_cores = true\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("t.toml:3: syntax error: "),
        "{errors:?}"
    );
    let errors = self::errors("[dataplane]\n\nbatch = 64\n[dataplane\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("t.toml:4: "), "{errors:?}");
    assert!(errors[0].contains("syntax error: "), "{errors:?}");
    // When the parser recovers far enough, the key is named too.
    let errors = self::errors("[dataplane]\nbatch = \n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("t.toml:2: dataplane.batch: syntax error: "),
        "{errors:?}"
    );
    // A duplicate key is a syntax error at the second occurrence.
    let errors = self::errors("[dataplane]\nbatch = 1\n\nbatch = 2\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors,
        ["t.toml:4: syntax error: duplicate key (at `batch`)"]
    );
}

// --- load ---------------------------------------------------------------------------

#[test]
fn load_reports_a_missing_file() {
    let path = "/nonexistent/shardvpn-config-test.toml";
    let errors = Config::load(path).unwrap_err();
    assert_eq!(errors.len(), 1);
    let error = &errors.as_slice()[0];
    assert_eq!((error.line, error.key.as_deref()), (None, None));
    let rendered = error.to_string();
    assert!(
        rendered.starts_with(&format!("{path}: cannot read: ")),
        "{rendered}"
    );
    assert!(rendered.contains("No such file"), "{rendered}");
}

#[test]
fn load_reads_and_names_the_file() {
    let dir = std::env::temp_dir().join(format!("shardvpn-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, "[dataplane]\nshards = 2\n").unwrap();
    assert_eq!(
        Config::load(&good).unwrap().dataplane.shards,
        Shards::Count(2)
    );
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[dataplane]\nshards = 2\nbatch = 0\n").unwrap();
    assert_eq!(
        Config::load(&bad).unwrap_err().to_string(),
        format!(
            "{}:3: dataplane.batch: must be between 1 and 1024, not 0",
            bad.display()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn error_fields_are_structured() {
    let errors = Config::parse("[dataplane]\nbatch = 0\n", "f.toml").unwrap_err();
    assert_eq!(
        errors.as_slice(),
        [ConfigError {
            origin: "f.toml".to_owned(),
            line: Some(2),
            key: Some("dataplane.batch".to_owned()),
            message: "must be between 1 and 1024, not 0".to_owned(),
        }]
    );
}

// --- the path <-> line machinery later sections rely on -------------------------------

/// Arrays of tables (`[[pool]]`, for the pools and users sections to come) report as
/// `pool[1].name` at the element's line, both for validation errors (path -> line) and
/// for toml's span-only errors (span -> path).
#[test]
fn array_elements_have_paths_and_lines() {
    use super::error::{line_of, path_at, render_path, report_span};
    use super::validate::Validator;

    let text = "[[pool]]\nname = \"a\"\n\n[[pool]]\nname = \"\"\nsize = 4\n";
    let document = DeTable::parse(text).unwrap();
    let mut validator = Validator::new(Some((document.get_ref(), text)));
    validator.section("pool", |v| {
        v.element(1, |v| {
            assert!(v.is_set("name") && !v.is_set("range"));
            v.error("name", "must not be empty");
            v.error("range", "is required");
        })
    });
    let reported: Vec<(String, Option<usize>)> = validator
        .into_errors()
        .into_iter()
        .map(|(path, _)| {
            let line = report_span(document.get_ref(), &path).map(|s| line_of(text, s.start));
            (render_path(&path), line)
        })
        .collect();
    // An unset key in an array element points at that element's `[[pool]]` header.
    assert_eq!(
        reported,
        [
            ("pool[1].name".to_owned(), Some(5)),
            ("pool[1].range".to_owned(), Some(4))
        ]
    );
    let offset = text.find("size").unwrap();
    let path = path_at(document.get_ref(), offset).unwrap();
    assert_eq!(render_path(&path), "pool[1].size");
}

#[test]
fn line_of_counts_newlines_and_clamps() {
    use super::error::line_of;
    assert_eq!(line_of("", 0), 1);
    assert_eq!(line_of("a\nb\n", 0), 1);
    assert_eq!(line_of("a\nb\n", 2), 2);
    assert_eq!(line_of("a\nb\n", 4), 3);
    assert_eq!(line_of("a\nb\n", 100), 3);
}

#[test]
fn unset_key_in_a_written_section_points_at_its_header() {
    use super::error::{Segment, line_of, report_span};
    let text = "\n\n[listen]\nraw_esp = false\n";
    let document = DeTable::parse(text).unwrap();
    let path = [
        Segment::Key("listen".to_owned()),
        Segment::Key("ike_port".to_owned()),
    ];
    let span = report_span(document.get_ref(), &path).unwrap();
    assert_eq!(line_of(text, span.start), 3);
}

// --- [aaa], [ppp], [l2tp], [limits], [[pool]] -----------------------------------------

#[test]
fn new_sections_defaults() {
    let config = Config::default();
    let a = &config.aaa;
    assert_eq!(a.users_file(), None);
    assert_eq!(a.backend, AaaBackend::Local);
    assert_eq!(a.demo_user, DemoUser::Auto);
    assert!(a.demo_user_enabled());
    assert_eq!(
        a.demo_credentials_file.to_str(),
        Some("/run/shardvpn/demo-credentials")
    );
    let p = &config.ppp;
    assert_eq!(
        p.auth,
        [AuthMethod::MsChapV2, AuthMethod::Chap, AuthMethod::Pap]
    );
    assert_eq!(p.mru, 1400);
    assert_eq!(
        p.dns,
        ["1.1.1.1", "9.9.9.9"].map(|a| a.parse::<std::net::Ipv4Addr>().unwrap())
    );
    assert!(p.nbns.is_empty());
    assert_eq!((p.echo_interval, p.echo_failures), (30, 3));
    assert_eq!((p.session_timeout, p.idle_timeout), (0, 0));
    assert!(p.ipv6);
    assert_eq!(p.local_address.to_string(), "10.200.0.1");
    assert_eq!(p.proxy_lcp, ProxyLcp::Accept);
    assert_eq!(p.rate_limit, "");
    assert_eq!(p.default_rate_limit(), None);
    let l = &config.l2tp;
    assert!(l.enabled);
    assert_eq!(l.hostname, "shardvpn");
    assert!(l.secret.is_empty());
    assert_eq!(l.hello_interval, 60);
    assert_eq!(
        (
            l.retransmit_initial_ms,
            l.retransmit_max_ms,
            l.retransmit_retries
        ),
        (1000, 8000, 5)
    );
    assert_eq!(l.receive_window, 16);
    assert!(!l.hide_avps);
    assert!(l.lac_addresses.is_empty());
    // No LAC listed: plain L2TP from nowhere (clients must use IPsec).
    assert!(!l.lac_allowed("203.0.113.9".parse().unwrap()));
    let m = &config.limits;
    assert_eq!(
        (m.max_sessions, m.max_starting, m.max_sessions_per_tunnel),
        (100_000, 1000, 65535)
    );
    assert_eq!(config.pool.len(), 1);
    assert_eq!(config.pool[0].name, "default");
    assert_eq!(config.pool[0].ranges[0].to_string(), "10.200.0.0/16");
    assert_eq!(config.pool[0].usable_len(), 65534);
    assert!(config.pool[0].contains(config.ppp.local_address));
    assert_eq!(config.dns_for(config.pool_named("default")), config.ppp.dns);
    // Writing the sections empty changes nothing; `[[pool]]` written replaces the pool.
    assert_eq!(
        parses("[aaa]\n[ppp]\n[l2tp]\n[limits]\n"),
        Config::default()
    );
}

#[test]
fn relative_paths_in_a_file_are_relative_to_its_directory() {
    let dir = std::env::temp_dir().join(format!("shardvpn-config-rel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("x.toml");
    std::fs::write(&file, "[aaa]\nusers_file = \"users\"\n").unwrap();
    let config = Config::load(&file).unwrap();
    let abs_dir = std::path::absolute(&dir).unwrap();
    assert_eq!(config.aaa.users_file, abs_dir.join("users"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn idle_timeout_is_accepted() {
    let c = parses("[ppp]\nidle_timeout = 600\n");
    assert_eq!(c.ppp.idle_timeout, 600);
}

#[test]
fn aaa_rules() {
    one_error(
        "[aaa]\nbackend = \"ldap\"\n",
        "t.toml:2: aaa.backend: unknown variant `ldap`, expected `local` or `radius`",
    );
    one_error(
        "[aaa]\nusers_file = \"users\"\n",
        "t.toml:2: aaa.users_file: must be an absolute path when the config is not read \
         from a file (in a file, relative paths are relative to its directory), not \"users\"",
    );
    one_error(
        "[aaa]\ndemo_user = \"yes\"\n",
        "t.toml:2: aaa.demo_user: expected true, false or \"auto\", found \"yes\"",
    );
    one_error(
        "[aaa]\ndemo_credentials_file = \"creds\"\n",
        "t.toml:2: aaa.demo_credentials_file: must be an absolute path, not \"creds\"",
    );
    one_error(
        "[aaa]\ndemo_user = true\ndemo_credentials_file = \"\"\n",
        "t.toml:3: aaa.demo_credentials_file: must be set while the demo user is enabled",
    );
    // A users file turns the "auto" demo user off; true / false force it.
    let with_file = parses("[aaa]\nusers_file = \"/etc/shardvpn/users\"\n");
    assert_eq!(
        with_file.aaa.users_file(),
        Some(std::path::Path::new("/etc/shardvpn/users"))
    );
    assert!(!with_file.aaa.demo_user_enabled());
    let forced = parses("[aaa]\nusers_file = \"/etc/u\"\ndemo_user = true\n");
    assert!(forced.aaa.demo_user_enabled());
    let off = parses("[aaa]\ndemo_user = false\n");
    assert!(!off.aaa.demo_user_enabled());
    // With the demo user off, a relative or empty credentials path does not matter.
    parses("[aaa]\ndemo_user = false\ndemo_credentials_file = \"\"\n");
}

#[test]
fn ppp_rules() {
    one_error(
        "[ppp]\nauth = [\"chap\", \"eap\"]\n",
        "t.toml:2: ppp.auth[1]: unknown variant `eap`, expected one of `mschapv2`, `chap`, \
         `pap`",
    );
    one_error(
        "[ppp]\nauth = [\n  \"chap\",\n  \"pap\",\n  \"chap\",\n]\n",
        "t.toml:5: ppp.auth[2]: \"chap\" is listed twice",
    );
    one_error(
        "[ppp]\nauth = []\n",
        "t.toml:2: ppp.auth: must name at least one method (\"mschapv2\", \"chap\", \"pap\")",
    );
    one_error(
        "[ppp]\nmru = 500\n",
        "t.toml:2: ppp.mru: must be between 576 and 9000, not 500",
    );
    one_error(
        "[ppp]\nmru = 70000\n",
        "t.toml:2: ppp.mru: must be between 576 and 9000, not 70000",
    );
    one_error(
        "[ppp]\ndns = [\"1.1.1.1\", \"8.8.8.8\", \"9.9.9.9\"]\n",
        "t.toml:2: ppp.dns[2]: at most 2 servers (IPCP has a primary and a secondary, RFC \
         1877), not 3",
    );
    one_error(
        "[ppp]\nnbns = [\"10.0.0.1\", \"127.0.0.1\"]\n",
        "t.toml:2: ppp.nbns[1]: 127.0.0.1 is a loopback address",
    );
    one_error(
        "[ppp]\ndns = [\"1.1.1\"]\n",
        "t.toml:2: ppp.dns[0]: invalid IPv4 address syntax",
    );
    one_error(
        "[ppp]\necho_interval = 3601\n",
        "t.toml:2: ppp.echo_interval: must be between 0 and 3600, not 3601",
    );
    one_error(
        "[ppp]\necho_failures = 0\n",
        "t.toml:2: ppp.echo_failures: must be between 1 and 100, not 0",
    );
    one_error(
        "[ppp]\nsession_timeout = -1\n",
        "t.toml:2: ppp.session_timeout: must be between 0 and 4294967295, not -1",
    );
    one_error(
        "[ppp]\nlocal_address = \"0.0.0.0\"\n",
        "t.toml:2: ppp.local_address: 0.0.0.0 is in 0.0.0.0/8 (\"this network\")",
    );
    one_error(
        "[ppp]\nlocal_address = \"255.255.255.255\"\n",
        "t.toml:2: ppp.local_address: 255.255.255.255 is in 240.0.0.0/4 (reserved or \
         broadcast)",
    );
    one_error(
        "[ppp]\nproxy_lcp = \"ignore\"\n",
        "t.toml:2: ppp.proxy_lcp: unknown variant `ignore`, expected `accept` or \
         `renegotiate`",
    );
    let config = parses(
        "[ppp]\nauth = [\"pap\"]\ndns = []\nnbns = [\"10.0.0.2\"]\nipv6 = false\n\
         proxy_lcp = \"renegotiate\"\nsession_timeout = 600\n",
    );
    assert_eq!(config.ppp.auth, [AuthMethod::Pap]);
    assert!(config.ppp.dns.is_empty() && !config.ppp.ipv6);
    assert_eq!(config.ppp.proxy_lcp, ProxyLcp::Renegotiate);
    assert_eq!(config.ppp.session_timeout, 600);
}

#[test]
fn l2tp_rules() {
    one_error(
        "[l2tp]\nhostname = \"\"\n",
        "t.toml:2: l2tp.hostname: must not be empty (RFC 2661 requires a Host Name)",
    );
    one_error(
        "[l2tp]\nhostname = \"a\\tb\"\n",
        "t.toml:2: l2tp.hostname: must not contain control characters",
    );
    one_error(
        "[l2tp]\nretransmit_max_ms = 7999\n",
        "t.toml:2: l2tp.retransmit_max_ms: must be between 8000 and 120000 (RFC 2661 §5.8: \
         the cap must be at least 8 s), not 7999",
    );
    one_error(
        "[l2tp]\nretransmit_initial_ms = 9000\n",
        "t.toml:2: l2tp.retransmit_initial_ms: must not exceed l2tp.retransmit_max_ms \
         (8000), not 9000",
    );
    one_error(
        "[l2tp]\nretransmit_initial_ms = 99\n",
        "t.toml:2: l2tp.retransmit_initial_ms: must be between 100 and 120000, not 99",
    );
    one_error(
        "[l2tp]\nretransmit_retries = 0\n",
        "t.toml:2: l2tp.retransmit_retries: must be between 1 and 100, not 0",
    );
    one_error(
        "[l2tp]\nreceive_window = 0\n",
        "t.toml:2: l2tp.receive_window: must be between 1 and 1024, not 0",
    );
    one_error(
        "[l2tp]\nhello_interval = 4000\n",
        "t.toml:2: l2tp.hello_interval: must be between 0 and 3600, not 4000",
    );
    one_error(
        "[l2tp]\nhide_avps = true\n",
        "t.toml:2: l2tp.hide_avps: is not supported: the LNS sends no secret in an AVP, so \
         there is nothing to hide (hidden AVPs from LACs are always accepted)",
    );
    one_error(
        "[l2tp]\nlac_addresses = [\"192.0.2.1/24\"]\n",
        "t.toml:2: l2tp.lac_addresses[0]: \"192.0.2.1/24\" has host bits set; did you mean \
         \"192.0.2.0/24\"?",
    );
    one_error(
        "[l2tp]\nlac_addresses = [\"192.0.2.0/33\"]\n",
        "t.toml:2: l2tp.lac_addresses[0]: prefix length must be from 0 to 32, not \"33\"",
    );
    one_error(
        "[l2tp]\nlac_addresses = [\"lac.example\"]\n",
        "t.toml:2: l2tp.lac_addresses[0]: \"lac.example\" is not an IP address",
    );
    one_error(
        "[l2tp]\nlac_addresses = [\"10.0.0.0/8\", \"10.0.0.0/8\"]\n",
        "t.toml:2: l2tp.lac_addresses[1]: 10.0.0.0/8 is listed twice",
    );
    let config = parses(
        "[l2tp]\nsecret = \"tunnel pass\"\nhide_avps = false\n\
         lac_addresses = [\"192.0.2.0/24\", \"2001:db8::/32\", \"198.51.100.7\"]\n",
    );
    let l = &config.l2tp;
    assert_eq!(l.secret.expose(), "tunnel pass");
    // The secret never shows in Debug.
    assert!(!format!("{config:?}").contains("tunnel pass"));
    let allowed = |a: &str| l.lac_allowed(a.parse().unwrap());
    assert!(allowed("192.0.2.200"));
    assert!(allowed("::ffff:192.0.2.1"));
    assert!(allowed("2001:db8:1::5"));
    assert!(allowed("198.51.100.7"));
    assert!(!allowed("198.51.100.8"));
    assert!(!allowed("192.0.3.1"));
    assert!(!allowed("2001:db9::1"));
    // Round trip through TOML, secret and networks included.
    let text = toml::to_string(&config).unwrap();
    assert!(
        text.contains("\"198.51.100.7\"") && text.contains("\"2001:db8::/32\""),
        "{text}"
    );
    assert_eq!(parses(&text), config);
}

#[test]
fn limits_rules() {
    one_error(
        "[limits]\nmax_sessions = 0\n",
        "t.toml:2: limits.max_sessions: must be between 1 and 16000000, not 0",
    );
    one_error(
        "[limits]\nmax_starting = 16000001\n",
        "t.toml:2: limits.max_starting: must be between 1 and 16000000, not 16000001",
    );
    one_error(
        "[limits]\nmax_sessions_per_tunnel = 65536\n",
        "t.toml:2: limits.max_sessions_per_tunnel: must be between 1 and 65535, not 65536",
    );
    let config = parses("[limits]\nmax_sessions = 10\n");
    assert_eq!(config.limits.effective_max_starting(), 10);
    assert_eq!(Config::default().limits.effective_max_starting(), 1000);
}

#[test]
fn pools_parse_and_replace_the_default() {
    let text = "[[pool]]\nname = \"a\"\nranges = [\"10.0.0.0/24\", \"10.0.1.5-10.0.1.9\", \
                \"10.0.2.7\"]\ndns = [\"10.0.0.53\"]\n\n[[pool]]\nname = \"b\"\n\
                ranges = [\"10.1.0.0/16\"]\n";
    let config = parses(text);
    assert_eq!(config.pool.len(), 2);
    let a = config.pool_named("a").unwrap();
    assert_eq!(a.usable_len(), 254 + 5 + 1);
    assert_eq!(
        config.dns_for(Some(a)),
        ["10.0.0.53".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    assert_eq!(config.dns_for(config.pool_named("b")), config.ppp.dns);
    let serialized = toml::to_string(&config).unwrap();
    assert_eq!(parses(&serialized), config);
    // `pool = []`: no pools at all.
    assert!(parses("pool = []\n").pool.is_empty());
}

#[test]
fn pool_overlaps_are_errors_naming_both_lines() {
    let text = "[[pool]]\n\
                name = \"a\"\n\
                ranges = [\"10.0.0.0/24\"]\n\
                [[pool]]\n\
                name = \"b\"\n\
                ranges = [\n  \"10.1.0.0/24\",\n  \"10.0.0.128-10.0.0.130\",\n]\n";
    one_error(
        text,
        "t.toml:8: pool[1].ranges[1]: 10.0.0.128-10.0.0.130 overlaps 10.0.0.0/24 (pool \"a\", \
         line 3); an address must belong to one pool only",
    );
    // Within one pool; and a later range starting lower is still the one blamed.
    one_error(
        "[[pool]]\nname = \"a\"\nranges = [\"10.0.0.5-10.0.0.9\", \"10.0.0.0/24\"]\n",
        "t.toml:3: pool[0].ranges[1]: 10.0.0.0/24 overlaps 10.0.0.5-10.0.0.9 (pool \"a\", \
         line 3); an address must belong to one pool only",
    );
    // Touching is not overlapping.
    parses("[[pool]]\nname = \"a\"\nranges = [\"10.0.0.0-10.0.0.9\", \"10.0.0.10-10.0.0.20\"]\n");
    // The network address of a CIDR counts.
    one_error(
        "[[pool]]\nname = \"a\"\nranges = [\"10.0.0.0/24\"]\n[[pool]]\nname = \"b\"\n\
         ranges = [\"10.0.0.0\"]\n",
        "t.toml:6: pool[1].ranges[0]: 10.0.0.0 overlaps 10.0.0.0/24 (pool \"a\", line 3); an \
         address must belong to one pool only",
    );
}

#[test]
fn pool_rules() {
    one_error(
        "[[pool]]\nranges = [\"10.0.0.0/24\"]\n",
        "t.toml:1: pool[0].name: every pool needs a name",
    );
    one_error(
        "[[pool]]\nname = \"a\"\n",
        "t.toml:1: pool[0].ranges: a pool needs at least one address range",
    );
    one_error(
        "[[pool]]\nname = \"a b\"\nranges = [\"10.0.0.0/24\"]\n",
        "t.toml:2: pool[0].name: may contain only A-Z, a-z, 0-9, '_', '.' and '-', not ' '",
    );
    one_error(
        &format!(
            "[[pool]]\nname = \"{}\"\nranges = [\"10.0.0.0/24\"]\n",
            "n".repeat(33)
        ),
        "t.toml:2: pool[0].name: must be at most 32 bytes, not 33",
    );
    one_error(
        "[[pool]]\nname = \"a\"\nranges = [\"10.0.0.0/24\"]\n\n[[pool]]\nname = \"a\"\n\
         ranges = [\"10.1.0.0/24\"]\n",
        "t.toml:6: pool[1].name: \"a\" is already the name of pool[0] (line 2)",
    );
    one_error(
        "[[pool]]\nname = \"a\"\nranges = [\"10.0.0.1/24\"]\n",
        "t.toml:3: pool[0].ranges[0]: \"10.0.0.1/24\" has host bits set; did you mean \
         \"10.0.0.0/24\"?",
    );
    one_error(
        "[[pool]]\nname = \"a\"\nranges = [\"10.0.0.9-10.0.0.1\"]\n",
        "t.toml:3: pool[0].ranges[0]: \"10.0.0.9-10.0.0.1\" is backwards: the first address \
         must not be above the last",
    );
    one_error(
        "[[pool]]\nname = \"a\"\nranges = [\"10.0.0.0/24x\"]\n",
        "t.toml:3: pool[0].ranges[0]: prefix length must be from 0 to 32, not \"24x\"",
    );
    one_error(
        "[[pool]]\nname = \"a\"\nranges = [\"ten\"]\n",
        "t.toml:3: pool[0].ranges[0]: \"ten\" is not an address range (\"A-B\", \
         \"NETWORK/LEN\" or one address)",
    );
    one_error(
        "[[pool]]\nname = \"a\"\nranges = [\"127.0.0.0/30\"]\n",
        "t.toml:3: pool[0].ranges[0]: 127.0.0.0/30 includes addresses in 127.0.0.0/8 \
         (loopback), which no subscriber may have",
    );
    one_error(
        "[[pool]]\nname = \"a\"\nranges = [\"223.255.255.0-224.0.0.5\"]\n",
        "t.toml:3: pool[0].ranges[0]: 223.255.255.0-224.0.0.5 includes addresses in \
         224.0.0.0/3 (multicast, reserved, broadcast), which no subscriber may have",
    );
    one_error(
        "[[pool]]\nname = \"a\"\nranges = [\"10.0.0.0/7\"]\n",
        "t.toml:3: pool[0].ranges: a pool may have at most 16777216 addresses (a /8), not \
         33554430",
    );
    one_error(
        "[[pool]]\nname = \"a\"\nranges = [\"10.0.0.0/24\"]\ndns = [\"1.1.1.1\", \"1.0.0.1\", \
         \"9.9.9.9\"]\n",
        "t.toml:4: pool[0].dns[2]: at most 2 servers (IPCP has a primary and a secondary, RFC \
         1877), not 3",
    );
    one_error(
        "[[pool]]\nname = \"a\"\nranges = [\"10.0.0.0/24\"]\nsize = 4\n",
        "t.toml:4: pool[0].size: unknown field `size`, expected one of `name`, `ranges`, `dns`",
    );
    // A /8 is the largest pool.
    assert_eq!(
        parses("[[pool]]\nname = \"a\"\nranges = [\"10.0.0.0/8\"]\n").pool[0].usable_len(),
        (1 << 24) - 2
    );
}

#[test]
fn every_new_rule_reported_together_in_file_order() {
    let text = "[ppp]\nmru = 1\n[l2tp]\nhide_avps = true\n[limits]\nmax_sessions = 0\n\
                [[pool]]\nname = \"\"\nranges = [\"10.0.0.0/24\"]\n";
    assert_eq!(
        errors(text),
        [
            "t.toml:2: ppp.mru: must be between 576 and 9000, not 1",
            "t.toml:4: l2tp.hide_avps: is not supported: the LNS sends no secret in an AVP, so \
             there is nothing to hide (hidden AVPs from LACs are always accepted)",
            "t.toml:6: limits.max_sessions: must be between 1 and 16000000, not 0",
            "t.toml:8: pool[0].name: every pool needs a name",
        ]
    );
}

#[test]
fn ike_defaults_and_policy() {
    let c = Config::default();
    let p = c.ike.policy();
    assert!(c.ike.enabled && p.legacy && !p.allow_md5 && p.nat_t);
    assert_eq!(p.phase1.len(), c.ike.proposals.len());
    assert_eq!(p.esp.len(), c.ike.esp_proposals.len());
    assert!(p.default_psk.is_none() && p.psks.is_empty());
    assert_eq!(p.phase2_lifetime.as_secs(), 3600);
    assert_eq!(p.pfs_groups.len(), c.ike.pfs_groups.len());

    let config = parses(
        "[ike]\npsk = \"top-secret-psk\"\nlegacy = false\npfs = \"required\"\n\
         dpd_interval = 0\nproposals = [\"aes128-sha1-ecp256\", \"3des-sha1-modp1024\"]\n\
         [[ike.peer]]\naddress = \"198.51.100.0/24\"\npsk = \"net-key\"\n\
         [[ike.peer]]\nid = \"road.example.net\"\npsk = \"id-key\"\n",
    );
    let p = config.ike.policy();
    assert_eq!(
        p.default_psk.as_deref().map(Vec::as_slice),
        Some(&b"top-secret-psk"[..])
    );
    assert_eq!(p.pfs, crate::proto::ike::Pfs::Required);
    assert!(p.dpd_interval.is_zero());
    let c = p.psk_candidates("198.51.100.9".parse().unwrap());
    let keys: Vec<&[u8]> = c.iter().map(|(_, k)| *k).collect();
    assert_eq!(keys, [&b"net-key"[..], b"id-key", b"top-secret-psk"]);
    assert_eq!(c[1].0, Some("road.example.net"));
    // Not legacy: the 3DES/MODP-1024 proposal is listed but not accepted.
    assert!(!p.accepts_phase1(&"3des-sha1-modp1024".parse().unwrap()));
    // Secrets never in Debug.
    let debug = format!("{config:?} {p:?}");
    for secret in ["top-secret-psk", "net-key", "id-key"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
}

#[test]
fn ike_errors_name_their_lines() {
    one_error(
        "[ike]\nproposals = [\"aes128-sha1-modp2048\", \"aes-sha1-modp2048\"]\n",
        "t.toml:2: ike.proposals[1]: unknown encryption algorithm `aes`",
    );
    one_error(
        "[ike]\nesp_proposals = [\"aes128-sha9\"]\n",
        "t.toml:2: ike.esp_proposals[0]: unknown hash / integrity algorithm `sha9`",
    );
    one_error(
        "[ike]\nesp_proposals = [\"aes128-sha1-modp2048\"]\n",
        "t.toml:2: ike.esp_proposals[0]: \"aes128-sha1-modp2048\": a PFS group does not \
         belong here (the groups accepted are ike.pfs_groups)",
    );
    one_error(
        "[ike]\nlegacy = false\nproposals = [\"3des-sha1-modp1024\"]\n",
        "t.toml:3: ike.proposals: no proposal is usable: every one needs ike.legacy or \
         ike.allow_md5",
    );
    one_error(
        "[ike]\nproposals = []\n",
        "t.toml:2: ike.proposals: must list at least one proposal",
    );
    one_error(
        "[ike]\npfs_groups = [\"modp768\"]\n",
        "t.toml:2: ike.pfs_groups[0]: unknown group \"modp768\" (modp1024, modp1536, \
         modp2048, ecp256, ecp384)",
    );
    one_error(
        "[ike]\ndpd_interval = 60\ndpd_timeout = 60\n",
        "t.toml:3: ike.dpd_timeout: must be longer than ike.dpd_interval (60 s), not 60",
    );
    one_error(
        "[ike]\nphase2_lifetime = 10\n",
        "t.toml:2: ike.phase2_lifetime: must be between 60 and 86400, not 10",
    );
    one_error(
        "[ike]\npfs = \"sometimes\"\n",
        "t.toml:2: ike.pfs: unknown variant `sometimes`, expected one of `optional`, \
         `required`, `refused`",
    );
    one_error(
        "[[ike.peer]]\naddress = \"192.0.2.0/24\"\nid = \"x\"\npsk = \"k\"\n",
        "t.toml:3: ike.peer[0].id: give either address or id, not both",
    );
    one_error(
        "[[ike.peer]]\nid = \"road\"\npsk = \"\"\n",
        "t.toml:3: ike.peer[0].psk: must not be empty",
    );
}

#[test]
fn pptp_defaults_and_rules() {
    let c = Config::default();
    assert!(!c.pptp.enabled);
    assert_eq!(c.pptp.mppe, crate::config::MppeRequirement::Require);
    assert_eq!(c.pptp.strengths(), (false, true));
    let c = parses("[pptp]\nenabled = true\nmppe_strength = [\"40\", \"128\"]\n");
    assert!(c.pptp.enabled);
    assert_eq!(c.pptp.strengths(), (true, true));
    one_error(
        "[listen]\naddress = \"::\"\n[pptp]\nenabled = true\n",
        "t.toml:4: pptp.enabled: PPTP's GRE data is IPv4 only: listen.address (::) must be \
         an IPv4 address (\"0.0.0.0\" for all) when pptp is enabled",
    );
    one_error(
        "[pptp]\nmppe_strength = [\"56\"]\n",
        "t.toml:2: pptp.mppe_strength[0]: \"56\" is not an MPPE key length (\"40\" or \"128\")",
    );
    one_error(
        "[pptp]\nmppe = \"optional\"\n",
        "t.toml:2: pptp.mppe: calls without encryption need pptp.allow_unencrypted = true \
         (PPTP without MPPE sends everything in clear text)",
    );
    one_error(
        "[pptp]\nallow_pap_chap = true\n",
        "t.toml:2: pptp.allow_pap_chap: MPPE keys come from MS-CHAPv2: with pptp.mppe = \
         \"require\" PAP and CHAP cannot be allowed",
    );
    one_error(
        "[pptp]\nmppe_strength = []\n",
        "t.toml:2: pptp.mppe_strength: must list a key length (\"128\", \"40\") unless \
         pptp.mppe = \"none\"",
    );
    let c = parses(
        "[pptp]\nmppe = \"none\"\nallow_unencrypted = true\nallow_pap_chap = true\n\
         mppe_strength = []\n",
    );
    assert_eq!(c.pptp.mppe, crate::config::MppeRequirement::None);
}

#[test]
fn radius_rules() {
    let c = Config::default();
    assert_eq!(c.radius.nas_identifier, "shardvpn");
    assert!(c.radius.server.is_empty());
    let c = parses(
        "[aaa]\nbackend = \"radius\"\n[radius]\ninterim_interval = 300\n\
         dae_listen = \"127.0.0.1:3799\"\n[[radius.server]]\naddress = \"127.0.0.1\"\n\
         secret = \"s3\"\n[[radius.dae_client]]\naddress = \"127.0.0.1\"\nsecret = \"d\"\n",
    );
    assert_eq!(c.aaa.backend, crate::config::AaaBackend::Radius);
    let s = &c.radius.server[0];
    assert_eq!(s.auth_addr(), Some("127.0.0.1:1812".parse().unwrap()));
    assert_eq!(s.acct_addr(), Some("127.0.0.1:1813".parse().unwrap()));
    assert_eq!(c.radius.dae_addr(), Some("127.0.0.1:3799".parse().unwrap()));
    assert!(
        !format!("{c:?}").contains("s3"),
        "secrets stay out of Debug"
    );
    one_error(
        "[aaa]\nbackend = \"radius\"\n",
        "t.toml: radius.server: aaa.backend uses RADIUS: list a [[radius.server]] with an \
         auth_port",
    );
    one_error(
        "[[radius.server]]\naddress = \"10.0.0.1\"\n",
        "t.toml:1: radius.server[0].secret: must not be empty",
    );
    one_error(
        "[radius]\ninterim_interval = 5\n",
        "t.toml:2: radius.interim_interval: must be 0 (none) or at least 10 seconds (RFC 2869 \
         §5.16 recommends 600)",
    );
    one_error(
        "[radius]\ndae_listen = \"127.0.0.1:3799\"\n",
        "t.toml:2: radius.dae_listen: no [[radius.dae_client]] is listed: nobody could use \
         the listener",
    );
    one_error(
        "[aaa]\nfallback_local = true\nusers_file = \"/etc/u\"\n",
        "t.toml:2: aaa.fallback_local: only means something with backend = \"radius\"",
    );
}
// --- [mgmt] ----------------------------------------------------------------------------

#[test]
fn mgmt_socket_defaults_and_checks() {
    let d = Config::default().mgmt;
    assert!(d.enabled);
    assert_eq!(d.socket, std::path::PathBuf::from(DEFAULT_MGMT_SOCKET));
    let c = parses("[mgmt]\nsocket = \"/tmp/x/ctl.sock\"\n");
    assert_eq!(c.mgmt.socket, std::path::PathBuf::from("/tmp/x/ctl.sock"));
    one_error(
        "[mgmt]\nsocket = \"\"\n",
        "t.toml:2: mgmt.socket: must name a path (or set enabled = false for no management socket)",
    );
    one_error(
        "[mgmt]\nsocket = \"ctl.sock\"\n",
        "t.toml:2: mgmt.socket: must be an absolute path",
    );
    let long = format!("/{}", "a".repeat(MAX_SOCKET_PATH));
    one_error(
        &format!("[mgmt]\nsocket = \"{long}\"\n"),
        "t.toml:2: mgmt.socket: is 108 bytes long; a Unix socket path holds at most 107",
    );
    // Disabled: the path is not checked.
    assert!(
        !parses("[mgmt]\nenabled = false\nsocket = \"\"\n")
            .mgmt
            .enabled
    );
    one_error(
        "[mgmt]\nenable = true\n",
        "t.toml:2: mgmt.enable: unknown field `enable`, expected `enabled` or `socket`",
    );
}

#[test]
fn mgmt_socket_relative_to_the_config_file() {
    let dir = std::env::temp_dir().join(format!("shardvpn-mgmt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.toml");
    std::fs::write(&file, "[mgmt]\nsocket = \"run/ctl.sock\"\n").unwrap();
    let c = Config::load(&file).unwrap();
    assert_eq!(
        c.mgmt.socket,
        std::path::absolute(&dir).unwrap().join("run/ctl.sock")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ppp_rate_limit_is_parsed_and_checked() {
    let config = parses("[ppp]\nrate_limit = \"10M/20M 125k\"\n");
    let limit = config.ppp.default_rate_limit().unwrap();
    assert_eq!((limit.up_bps, limit.down_bps), (10_000_000, 20_000_000));
    assert_eq!(
        (limit.up_burst, limit.down_burst),
        (Some(125_000), Some(125_000))
    );
    let errors = errors("[ppp]\nrate_limit = \"10 Mbit\"\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("ppp.rate_limit"), "{errors:?}");
    assert!(errors[0].starts_with("t.toml:2: "), "{errors:?}");
}

// --- [metrics] -------------------------------------------------------------------------

#[test]
fn metrics_listen_defaults_and_checks() {
    let d = Config::default().metrics;
    assert_eq!(d.listen, crate::config::DEFAULT_METRICS_LISTEN);
    assert_eq!(d.address(), Some("127.0.0.1:9477".parse().unwrap()));
    let c = parses("[metrics]\nlisten = \"[::1]:9100\"\n");
    assert_eq!(c.metrics.address(), Some("[::1]:9100".parse().unwrap()));
    assert_eq!(parses("[metrics]\nlisten = \"\"\n").metrics.address(), None);
    one_error(
        "[metrics]\nlisten = \"localhost:9477\"\n",
        "t.toml:2: metrics.listen: \"localhost:9477\" is not an IP:PORT address (e.g. \
         \"127.0.0.1:9477\", \"[::1]:9477\"; \"\" for no metrics endpoint)",
    );
    one_error(
        "[metrics]\nport = 9477\n",
        "t.toml:2: metrics.port: unknown field `port`, expected `listen`",
    );
}

#[test]
fn dataplane_cpus_pick_where_shards_run() {
    let c = parses("[dataplane]\ncpus = [2, 3, 5]\n");
    assert_eq!(c.dataplane.cpus, [2, 3, 5]);
    assert_eq!(
        c.dataplane.shard_count(),
        3,
        "auto: one shard per listed CPU"
    );
    let c = parses("[dataplane]\nshards = 2\ncpus = [4]\n");
    assert_eq!(c.dataplane.shard_count(), 2);
    assert!(Config::default().dataplane.cpus.is_empty());
    one_error(
        "[dataplane]\ncpus = [1, 1]\n",
        "t.toml:2: dataplane.cpus[1]: CPU 1 is listed twice",
    );
    one_error(
        "[dataplane]\ncpus = [1024]\n",
        "t.toml:2: dataplane.cpus[0]: CPU 1024 is beyond the 1024 CPUs Linux's affinity masks name",
    );
    one_error(
        "[dataplane]\npin_cores = false\ncpus = [1]\n",
        "t.toml:3: dataplane.cpus: pins shards: it needs pin_cores = true",
    );
}
