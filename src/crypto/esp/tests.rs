//! Tests across every suite: whole-packet vectors generated independently
//! (tests/vectors/esp/gen_vectors.py, python3 + pycryptodome + hmac), round trips,
//! tampering and ESN.

use super::*;
use hex_literal::hex;

const PAYLOAD: &[u8] = b"shardvpn ESP test payload: an IPv4/UDP/L2TP frame.";
const NEXT_HEADER: u8 = 4;
const IV_KEY: [u8; IV_KEY_LEN] = hex!("404142434445464748494a4b4c4d4e4f");

fn k(range: core::ops::Range<u8>) -> Vec<u8> {
    range.collect()
}

/// Builds a packet the way the data plane does and seals it.
fn seal(t: &AnyTransform, spi: [u8; 4], seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut packet = vec![0u8; t.packet_len(payload.len())];
    packet[..4].copy_from_slice(&spi);
    packet[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
    let at = t.payload_offset();
    packet[at..at + payload.len()].copy_from_slice(payload);
    t.encode_trailer(&mut packet, payload.len(), NEXT_HEADER)
        .unwrap();
    t.seal(seq, &mut packet).unwrap();
    packet
}

fn transform(suite: Suite, esn: Esn) -> AnyTransform {
    let enc: Vec<u8> = (1..=suite.encryption_key_len() as u8).collect();
    let auth: Vec<u8> = (0x80..0x80 + suite.integrity_key_len() as u8).collect();
    AnyTransform::with_iv_key(suite, esn, &enc, &auth, &mut IV_KEY.clone()).unwrap()
}

const ALL_SUITES: [Suite; 9] = [
    Suite::AesGcm16 {
        key: AesKeySize::Aes128,
    },
    Suite::AesGcm16 {
        key: AesKeySize::Aes256,
    },
    Suite::AesCbc {
        key: AesKeySize::Aes128,
        integrity: Integrity::HmacSha1_96,
    },
    Suite::AesCbc {
        key: AesKeySize::Aes256,
        integrity: Integrity::HmacSha1_96,
    },
    Suite::AesCbc {
        key: AesKeySize::Aes128,
        integrity: Integrity::HmacSha256_128,
    },
    Suite::AesCbc {
        key: AesKeySize::Aes256,
        integrity: Integrity::HmacSha256_96,
    },
    Suite::AesCbc {
        key: AesKeySize::Aes256,
        integrity: Integrity::HmacSha512_256,
    },
    Suite::TripleDesCbc {
        integrity: Integrity::HmacSha1_96,
    },
    Suite::TripleDesCbc {
        integrity: Integrity::HmacSha384_192,
    },
];

const AES128_CBC_SHA1_ESN: [u8; 100] = hex!(
    "c0ffee0200000007f65b9a618fedad60f43d8cbdba65b7c94b8fec10a3232130"
    "1e2db88529a5fd74c089d0ce15abf90c5b97094b85f38e4703cfeaf19948a905"
    "76f08775a1d6f801819ea00a7166b2252a5d541c100bc475f860908ace9dbc25"
    "88bd2212"
);
const AES256_CBC_SHA256_NO_ESN: [u8; 104] = hex!(
    "c0ffee0300000009e58c0bb6d9817cd92d329f89360fb5ff8a2df8d69657cd41"
    "0e020c87f45a9013cedc1e2c2634d2b944a22d31fd8d433dcf9db21bd76d10c4"
    "18bfbb6ca4497e63002ed21c5286943784d67c7cb338ff0c861c4b9146bf3277"
    "fb2f16694bd7f390"
);
const AES128_CBC_SHA256_96_NO_ESN: [u8; 100] = hex!(
    "c0ffee040000000a6ce8a50eea55841d05c1a77966efdfe2f856c8494323ea76"
    "f388e53d216e05b03460ab5388280fe5d45be861d4daa824d810da2a410bf6aa"
    "9708226220f936ce59a5f8c3c424fb1ef1d79d3900c9b16aff761f0ae3a722b3"
    "373ea458"
);
const TDES_CBC_SHA1_NO_ESN: [u8; 84] = hex!(
    "c0ffee050000000306df9e8ba942b371968d751194652ff1e841c9feda99fdb8"
    "1a63829db66289e353a167c88b86d237d6996df82675e802b06608a4c766b706"
    "f32eadd295c0ecd2836fed17371fa2cc4816ffb7"
);
const TDES_CBC_SHA1_ESN: [u8; 84] = hex!(
    "c0ffee05000000034bb11601635d2a05320019e63ee502f26ddf6b82e8592cfe"
    "2bb2a1d16811cb7748fcb615cce55f29d57b7d48e2676fe5eac05ca3269ae869"
    "78185a54dbdb20053faf39af0d04fd48f7136c96"
);
fn check_vector(suite: Suite, esn: Esn, enc: &[u8], auth: &[u8], seq: u64, expected: &[u8]) {
    let t = AnyTransform::with_iv_key(suite, esn, enc, auth, &mut IV_KEY.clone()).unwrap();
    let spi: [u8; 4] = expected[..4].try_into().unwrap();
    let mut packet = seal(&t, spi, seq, PAYLOAD);
    assert_eq!(packet, expected, "{suite:?} {esn:?}");
    let range = t.open(seq, &mut packet).unwrap();
    assert_eq!(&packet[range], PAYLOAD);
    assert_eq!(t.next_header(&packet), Some(NEXT_HEADER));
}

#[test]
fn vector_aes128_cbc_hmac_sha1_96_esn() {
    check_vector(
        Suite::AesCbc {
            key: AesKeySize::Aes128,
            integrity: Integrity::HmacSha1_96,
        },
        Esn::Enabled,
        &k(0..16),
        &k(0x20..0x34),
        0x0000_0002_0000_0007,
        &AES128_CBC_SHA1_ESN,
    );
}

#[test]
fn vector_aes256_cbc_hmac_sha256_128() {
    check_vector(
        Suite::AesCbc {
            key: AesKeySize::Aes256,
            integrity: Integrity::HmacSha256_128,
        },
        Esn::Disabled,
        &k(0..32),
        &k(0x20..0x40),
        9,
        &AES256_CBC_SHA256_NO_ESN,
    );
}

#[test]
fn vector_aes128_cbc_hmac_sha256_96_android() {
    check_vector(
        Suite::AesCbc {
            key: AesKeySize::Aes128,
            integrity: Integrity::HmacSha256_96,
        },
        Esn::Disabled,
        &k(0..16),
        &k(0x20..0x40),
        10,
        &AES128_CBC_SHA256_96_NO_ESN,
    );
}

#[test]
fn vector_3des_cbc_hmac_sha1_96() {
    let suite = Suite::TripleDesCbc {
        integrity: Integrity::HmacSha1_96,
    };
    check_vector(
        suite,
        Esn::Disabled,
        &k(1..25),
        &k(0x20..0x34),
        3,
        &TDES_CBC_SHA1_NO_ESN,
    );
    check_vector(
        suite,
        Esn::Enabled,
        &k(1..25),
        &k(0x20..0x34),
        0xFFFF_FFFF_0000_0003,
        &TDES_CBC_SHA1_ESN,
    );
}

#[test]
fn round_trip_every_suite_esn_and_length() {
    for suite in ALL_SUITES {
        for esn in [Esn::Disabled, Esn::Enabled] {
            let t = transform(suite, esn);
            for len in [0usize, 1, 2, 3, 13, 14, 15, 16, 17, 64, 255, 1400] {
                let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                let seq = 0x0000_0003_8000_0001 + len as u64;
                let seq = if esn == Esn::Disabled {
                    seq & 0xFFFF_FFFF
                } else {
                    seq
                };
                let mut packet = seal(&t, [1, 2, 3, 4], seq, &payload);
                assert_eq!(
                    (packet.len() - t.payload_offset() - t.icv_len()) % t.block_size(),
                    0
                );
                if len >= 8 {
                    assert_ne!(
                        &packet[t.payload_offset()..t.payload_offset() + len],
                        &payload[..],
                        "{suite:?}: payload not encrypted"
                    );
                }
                let range = t.open(seq, &mut packet).unwrap();
                assert_eq!(&packet[range], &payload[..], "{suite:?} {esn:?} {len}");
                assert_eq!(t.next_header(&packet), Some(NEXT_HEADER));
            }
        }
    }
}

#[test]
fn tampering_any_byte_fails_authentication() {
    for suite in ALL_SUITES {
        for esn in [Esn::Disabled, Esn::Enabled] {
            let t = transform(suite, esn);
            let seq = 77;
            let sealed = seal(&t, [9, 8, 7, 6], seq, &PAYLOAD[..33]);
            for at in 0..sealed.len() {
                let mut packet = sealed.clone();
                packet[at] ^= 0x01;
                let result = t.open(seq, &mut packet);
                if (4..8).contains(&at) {
                    // The sequence number no longer matches what the caller inferred.
                    assert_eq!(result, Err(CryptoError::SequenceMismatch), "{suite:?} {at}");
                    // And if the caller trusted the forged header, the ICV fails.
                    let forged_seq =
                        u64::from(u32::from_be_bytes(packet[4..8].try_into().unwrap()));
                    let mut packet = packet.clone();
                    assert_eq!(
                        t.open(forged_seq, &mut packet),
                        Err(CryptoError::AuthenticationFailed),
                        "{suite:?} {at}"
                    );
                } else {
                    assert_eq!(
                        result,
                        Err(CryptoError::AuthenticationFailed),
                        "{suite:?} {at}"
                    );
                }
            }
        }
    }
}

#[test]
fn wrong_esn_high_bits_fail_authentication() {
    for suite in ALL_SUITES {
        let t = transform(suite, Esn::Enabled);
        let seq = 0x0000_0005_0000_0010;
        let sealed = seal(&t, [1, 1, 1, 1], seq, PAYLOAD);
        for wrong in [
            0x0000_0004_0000_0010,
            0x0000_0006_0000_0010,
            0x0000_0000_0000_0010,
        ] {
            let mut packet = sealed.clone();
            assert_eq!(
                t.open(wrong, &mut packet),
                Err(CryptoError::AuthenticationFailed)
            );
        }
        let mut packet = sealed.clone();
        assert!(t.open(seq, &mut packet).is_ok());
        // Without ESN the high bits are not authenticated: ignored on receipt.
        let plain = transform(suite, Esn::Disabled);
        let mut packet = seal(&plain, [1, 1, 1, 1], 0x10, PAYLOAD);
        assert!(plain.open(0x0000_0007_0000_0010, &mut packet).is_ok());
    }
}

#[test]
fn wrong_key_fails_authentication() {
    for suite in ALL_SUITES {
        let t = transform(suite, Esn::Disabled);
        let mut packet = seal(&t, [1, 1, 1, 1], 1, PAYLOAD);
        let enc = vec![0x55; suite.encryption_key_len()];
        let auth: Vec<u8> = (0x80..0x80 + suite.integrity_key_len() as u8).collect();
        let other =
            AnyTransform::with_iv_key(suite, Esn::Disabled, &enc, &auth, &mut IV_KEY.clone())
                .unwrap();
        let result = other.open(1, &mut packet);
        match suite {
            // CBC+HMAC authenticates with the (same) integrity key: the ICV passes and
            // the decryption produces garbage, possibly with an impossible pad length.
            Suite::AesCbc { .. } | Suite::TripleDesCbc { .. } => {
                assert_ne!(result, Err(CryptoError::AuthenticationFailed))
            }
            Suite::AesGcm16 { .. } => assert_eq!(result, Err(CryptoError::AuthenticationFailed)),
        }
    }
}

#[test]
fn sequence_checks() {
    for suite in ALL_SUITES {
        let t = transform(suite, Esn::Disabled);
        let mut packet = vec![0u8; t.packet_len(10)];
        packet[4..8].copy_from_slice(&5u32.to_be_bytes());
        assert_eq!(t.seal(6, &mut packet), Err(CryptoError::SequenceMismatch));
        assert_eq!(
            t.seal(0x1_0000_0005, &mut packet),
            Err(CryptoError::SequenceExhausted)
        );
        let esn = transform(suite, Esn::Enabled);
        assert_eq!(esn.seal(0x1_0000_0005, &mut packet), Ok(()));
    }
}

#[test]
fn short_packets_rejected_without_panic() {
    for suite in ALL_SUITES {
        let t = transform(suite, Esn::Disabled);
        let sealed = seal(&t, [1, 1, 1, 1], 1, &[]);
        for len in 0..sealed.len() {
            let mut packet = sealed[..len].to_vec();
            assert!(t.open(1, &mut packet).is_err(), "{suite:?} {len}");
            let mut packet = vec![0u8; len];
            if len >= 8 {
                packet[4..8].copy_from_slice(&1u32.to_be_bytes());
            }
            // Too short or misaligned to seal (the minimum is header, IV, one block).
            let minimum = t.packet_len(0);
            if len < minimum {
                assert_eq!(
                    t.seal(1, &mut packet),
                    Err(CryptoError::BadLength),
                    "{suite:?} {len}"
                );
            }
        }
    }
}

#[test]
fn bad_pad_length_is_bad_padding() {
    // A sender that claims more padding than there is: authenticated, so not a forgery.
    for suite in ALL_SUITES {
        let t = transform(suite, Esn::Disabled);
        let mut packet = vec![0u8; t.packet_len(4)];
        packet[4..8].copy_from_slice(&1u32.to_be_bytes());
        let icv = t.icv_len();
        let len = packet.len();
        packet[len - icv - 2] = 200;
        t.seal(1, &mut packet).unwrap();
        assert_eq!(
            t.open(1, &mut packet),
            Err(CryptoError::BadPadding),
            "{suite:?}"
        );
    }
}

#[test]
fn constructor_checks_key_lengths() {
    let gcm = Suite::AesGcm16 {
        key: AesKeySize::Aes128,
    };
    assert_eq!(
        AnyTransform::new(gcm, Esn::Disabled, &[0; 20], &[0; 1]).unwrap_err(),
        CryptoError::KeyLength {
            expected: 0,
            got: 1
        }
    );
    let cbc = Suite::AesCbc {
        key: AesKeySize::Aes256,
        integrity: Integrity::HmacSha256_128,
    };
    assert_eq!(
        AnyTransform::new(cbc, Esn::Disabled, &[0; 32], &[0; 20]).unwrap_err(),
        CryptoError::KeyLength {
            expected: 32,
            got: 20
        }
    );
    assert!(AnyTransform::new(cbc, Esn::Disabled, &[0; 32], &[0; 32]).is_ok());
}

#[test]
fn random_iv_keys_differ_per_sa() {
    let suite = Suite::AesCbc {
        key: AesKeySize::Aes128,
        integrity: Integrity::HmacSha1_96,
    };
    let a = AnyTransform::new(suite, Esn::Disabled, &[7; 16], &[7; 20]).unwrap();
    let b = AnyTransform::new(suite, Esn::Disabled, &[7; 16], &[7; 20]).unwrap();
    let pa = seal(&a, [0; 4], 1, PAYLOAD);
    let pb = seal(&b, [0; 4], 1, PAYLOAD);
    assert_ne!(pa[8..24], pb[8..24]);
    // Successive IVs of one SA differ and do not follow from each other.
    let pa2 = seal(&a, [0; 4], 2, PAYLOAD);
    assert_ne!(pa[8..24], pa2[8..24]);
}

#[test]
fn trailer_layout() {
    let t = transform(
        Suite::AesCbc {
            key: AesKeySize::Aes128,
            integrity: Integrity::HmacSha1_96,
        },
        Esn::Disabled,
    );
    assert_eq!(t.pad_len(64), 14); // RFC 3602 case 5
    assert_eq!(t.pad_len(14), 0);
    assert_eq!(t.packet_len(64), 8 + 16 + 80 + 12);
    let g = transform(
        Suite::AesGcm16 {
            key: AesKeySize::Aes128,
        },
        Esn::Disabled,
    );
    assert_eq!(g.pad_len(51), 3);
    assert_eq!(g.packet_len(51), 8 + 8 + 56 + 16);
    let mut packet = vec![0u8; t.packet_len(3)];
    t.encode_trailer(&mut packet, 3, 17).unwrap();
    assert_eq!(
        &packet[24 + 3..24 + 16],
        &hex!("0102030405060708090a0b0b11")
    );
    assert_eq!(
        t.encode_trailer(&mut packet, 15, 17),
        Err(CryptoError::BadLength)
    );
}

#[test]
fn debug_never_shows_keys() {
    for suite in ALL_SUITES {
        let enc = vec![0xa7; suite.encryption_key_len()];
        let auth = vec![0xa7; suite.integrity_key_len()];
        let t = AnyTransform::new(suite, Esn::Enabled, &enc, &auth).unwrap();
        let text = format!("{t:?}").to_lowercase();
        assert!(!text.contains("a7") && !text.contains("167"), "{text}");
    }
}
