//! AES-GCM-16 in ESP (RFC 4106), by `ring::aead`.
//!
//! - Keying material = key (16 or 32 bytes) || 4-byte salt (RFC 4106 §8.1).
//! - Nonce = salt || 8-byte IV (RFC 4106 §4); the IV is the 64-bit sequence number, big
//!   endian (unique per SA, RFC 4106 §3.1; see the parent module).
//! - AAD = SPI || Seq32, or SPI || Seq-hi || Seq-lo with ESN (RFC 4106 §5).
//! - ICV = the 16-byte GCM tag (RFC 4106 §6). The IV is sent in clear, not encrypted.
//!
//! The receiver takes the IV from the packet, never from its own counter: other
//! implementations choose IVs differently (Linux uses salted sequence numbers).

use core::fmt;
use core::ops::Range;

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};

use super::{AesKeySize, CryptoError, ESP_HEADER_LEN, ESP_MIN_ALIGN, Esn, Transform};

/// Salt length (RFC 4106 §4).
pub const SALT_LEN: usize = 4;
/// IV length (RFC 4106 §3.1).
pub const IV_LEN: usize = 8;
/// ICV length of the "-16" variant (RFC 4106 §6).
pub const ICV_LEN: usize = 16;
/// Smallest packet: header, IV, pad length and next header, ICV.
const MIN_PACKET_LEN: usize = ESP_HEADER_LEN + IV_LEN + super::ESP_TRAILER_LEN + ICV_LEN;

/// AES-GCM-16 with a 128- or 256-bit key.
pub struct AesGcm {
    key: LessSafeKey,
    salt: [u8; SALT_LEN],
    esn: Esn,
}

impl AesGcm {
    /// Keys the transform from `key || salt` (20 or 36 bytes).
    pub fn new(size: AesKeySize, esn: Esn, keying_material: &[u8]) -> Result<Self, CryptoError> {
        let key_len = size.key_len();
        super::check_len(keying_material, key_len + SALT_LEN)?;
        let (key, salt) = keying_material.split_at(key_len);
        let unbound =
            UnboundKey::new(algorithm(size), key).map_err(|_| CryptoError::KeyLength {
                expected: key_len + SALT_LEN,
                got: keying_material.len(),
            })?;
        let mut salt_bytes = [0u8; SALT_LEN];
        salt_bytes.copy_from_slice(salt);
        Ok(AesGcm {
            key: LessSafeKey::new(unbound),
            salt: salt_bytes,
            esn,
        })
    }

    #[inline]
    fn nonce(&self, iv: &[u8; IV_LEN]) -> Nonce {
        let mut nonce = [0u8; aead::NONCE_LEN];
        nonce[..SALT_LEN].copy_from_slice(&self.salt);
        nonce[SALT_LEN..].copy_from_slice(iv);
        Nonce::assume_unique_for_key(nonce)
    }

    /// RFC 4106 §5: the AAD is the header itself (`SPI || Seq32`) without ESN, so it is
    /// borrowed in place; with ESN it is `SPI || Seq-hi || Seq-lo`, built in `buffer`.
    #[inline]
    fn aad<'a>(&self, header: &'a [u8], seq: u64, buffer: &'a mut [u8; 12]) -> &'a [u8] {
        match self.esn {
            Esn::Disabled => &header[..ESP_HEADER_LEN],
            Esn::Enabled => {
                buffer[..4].copy_from_slice(&header[..4]);
                buffer[4..8].copy_from_slice(&((seq >> 32) as u32).to_be_bytes());
                buffer[8..12].copy_from_slice(&header[4..8]);
                buffer
            }
        }
    }

    /// GCM encryption with an explicit nonce and AAD, for the McGrew-Viega vectors whose
    /// AAD does not fit ESP's. The same ring calls as `seal`.
    #[cfg(test)]
    fn seal_raw(&self, nonce: [u8; 12], aad: &[u8], in_out: &mut [u8]) -> [u8; ICV_LEN] {
        let tag = self
            .key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
            .expect("in-range length");
        let mut out = [0u8; ICV_LEN];
        out.copy_from_slice(tag.as_ref());
        out
    }

    #[cfg(test)]
    fn open_raw<'a>(
        &self,
        nonce: [u8; 12],
        aad: &[u8],
        in_out: &'a mut [u8],
    ) -> Option<&'a mut [u8]> {
        self.key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
            .ok()
    }
}

fn algorithm(size: AesKeySize) -> &'static aead::Algorithm {
    match size {
        AesKeySize::Aes128 => &aead::AES_128_GCM,
        AesKeySize::Aes256 => &aead::AES_256_GCM,
    }
}

impl Transform for AesGcm {
    #[inline]
    fn iv_len(&self) -> usize {
        IV_LEN
    }

    #[inline]
    fn icv_len(&self) -> usize {
        ICV_LEN
    }

    #[inline]
    fn block_size(&self) -> usize {
        // GCM is a stream mode: only ESP's own 4-byte alignment applies.
        ESP_MIN_ALIGN
    }

    #[inline]
    fn esn(&self) -> Esn {
        self.esn
    }

    #[inline]
    fn seal(&self, seq: u64, packet: &mut [u8]) -> Result<(), CryptoError> {
        // RFC 4303 §2.4: payload + trailer 4-byte aligned. Only checked when sealing;
        // on receipt a misaligned but authentic packet is accepted.
        if packet.len() < MIN_PACKET_LEN
            || !(packet.len() - ESP_HEADER_LEN - IV_LEN - ICV_LEN).is_multiple_of(ESP_MIN_ALIGN)
        {
            return Err(CryptoError::BadLength);
        }
        super::check_seq(packet, seq, self.esn, true)?;
        let iv = seq.to_be_bytes();
        let (head, rest) = packet.split_at_mut(ESP_HEADER_LEN + IV_LEN);
        head[ESP_HEADER_LEN..].copy_from_slice(&iv);
        let mut buffer = [0u8; 12];
        let aad = self.aad(head, seq, &mut buffer);
        let (body, icv) = rest.split_at_mut(rest.len() - ICV_LEN);
        let tag = self
            .key
            .seal_in_place_separate_tag(self.nonce(&iv), Aad::from(aad), body)
            .map_err(|_| CryptoError::BadLength)?;
        icv.copy_from_slice(tag.as_ref());
        Ok(())
    }

    #[inline]
    fn open(&self, seq: u64, packet: &mut [u8]) -> Result<Range<usize>, CryptoError> {
        if packet.len() < MIN_PACKET_LEN {
            return Err(CryptoError::BadLength);
        }
        super::check_seq(packet, seq, self.esn, false)?;
        let start = ESP_HEADER_LEN + IV_LEN;
        let (head, rest) = packet.split_at_mut(start);
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&head[ESP_HEADER_LEN..]);
        let mut buffer = [0u8; 12];
        let aad = self.aad(head, seq, &mut buffer);
        let plain = self
            .key
            .open_in_place(self.nonce(&iv), Aad::from(aad), rest)
            .map_err(|_| CryptoError::AuthenticationFailed)?;
        super::payload_range(start, plain)
    }
}

impl Drop for AesGcm {
    fn drop(&mut self) {
        // Overwrite ring's key schedule and GHASH table with those of an all-zero key
        // (see the parent module: no safe way to zeroize ring's key in place).
        let size = if self.key.algorithm() == &aead::AES_256_GCM {
            AesKeySize::Aes256
        } else {
            AesKeySize::Aes128
        };
        if let Ok(zero) = UnboundKey::new(algorithm(size), &[0u8; 32][..size.key_len()]) {
            self.key = LessSafeKey::new(zero);
        }
        zeroize::Zeroize::zeroize(&mut self.salt);
        core::hint::black_box(&self.key);
    }
}

impl fmt::Debug for AesGcm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AesGcm")
            .field("algorithm", self.key.algorithm())
            .field("esn", &self.esn)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    // McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Appendix B, test
    // cases 4 (AES-128) and 16 (AES-256): 60-byte plaintext, 20-byte AAD, 96-bit IV.
    // Bytes cross-checked with pycryptodome's AES.MODE_GCM.
    const TC_IV: [u8; 12] = hex!("cafebabefacedbaddecaf888");
    const TC_AAD: [u8; 20] = hex!("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    const TC_PLAINTEXT: [u8; 60] = hex!(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
    );
    const TC4_KEY: [u8; 16] = hex!("feffe9928665731c6d6a8f9467308308");
    const TC4_CIPHERTEXT: [u8; 60] = hex!(
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
        "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
    );
    const TC4_TAG: [u8; 16] = hex!("5bc94fbc3221a5db94fae95ae7121a47");
    const TC16_KEY: [u8; 32] =
        hex!("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    const TC16_CIPHERTEXT: [u8; 60] = hex!(
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
    );
    const TC16_TAG: [u8; 16] = hex!("76fc6ece0f4e1768cddf8853bb2d551b");

    /// The nonce is salt || IV, so the test case's 12-byte IV is split the same way.
    fn transform(size: AesKeySize, key: &[u8]) -> AesGcm {
        let mut material = key.to_vec();
        material.extend_from_slice(&TC_IV[..SALT_LEN]);
        AesGcm::new(size, Esn::Disabled, &material).unwrap()
    }

    fn check_case(size: AesKeySize, key: &[u8], ciphertext: &[u8; 60], tag: &[u8; 16]) {
        let gcm = transform(size, key);
        let mut buf = TC_PLAINTEXT;
        assert_eq!(&gcm.seal_raw(TC_IV, &TC_AAD, &mut buf), tag);
        assert_eq!(&buf, ciphertext);
        let mut sealed = [&buf[..], &tag[..]].concat();
        assert_eq!(
            gcm.open_raw(TC_IV, &TC_AAD, &mut sealed).unwrap(),
            &TC_PLAINTEXT[..]
        );
        let mut forged = [&ciphertext[..], &tag[..]].concat();
        forged[0] ^= 0x80;
        assert!(gcm.open_raw(TC_IV, &TC_AAD, &mut forged).is_none());
    }

    #[test]
    fn mcgrew_viega_test_case_4_aes128() {
        check_case(AesKeySize::Aes128, &TC4_KEY, &TC4_CIPHERTEXT, &TC4_TAG);
    }

    #[test]
    fn mcgrew_viega_test_case_16_aes256() {
        check_case(AesKeySize::Aes256, &TC16_KEY, &TC16_CIPHERTEXT, &TC16_TAG);
    }

    // Whole ESP packets through the transform. Generated independently with python3 +
    // pycryptodome (tests/vectors/esp/gen_vectors.py):
    //   nonce = salt || seq.to_bytes(8, 'big'); aad = SPI || Seq32 (or SPI || hi || lo);
    //   ct, tag = AES.new(key, AES.MODE_GCM, nonce=nonce).update(aad).encrypt_and_digest(pt)
    // with pt = payload || 01 02 .. pad || pad_len || next header (4).
    const GCM128_NO_ESN: [u8; 84] = hex!(
        "c0ffee010000000500000000000000053c7fa2142d940344b70cf40e38fc1d23"
        "a0e7774d11eb82acaf9b81e4e302c252b96c1401dc0a118cf5cffed45ff25d8d"
        "e922caee6c9227686638a42e08719e9ffdad8ce4"
    );
    const GCM256_ESN: [u8; 84] = hex!(
        "c0ffee0100000005000000010000000511ebee5fdbf44a4a8058b70dcdccdbb1"
        "0c87c8540ae6fa976b12c7415274f91bb5e375e68101f98be9fefbe150b0f556"
        "48fac3ce2beb0dcc4942458ac759e46e7152e9aa"
    );
    const ESP_PAYLOAD: &[u8] = b"shardvpn ESP test payload: an IPv4/UDP/L2TP frame.";

    fn esp_check(size: AesKeySize, esn: Esn, material: &[u8], seq: u64, expected: &[u8]) {
        let gcm = AesGcm::new(size, esn, material).unwrap();
        let len = gcm.packet_len(ESP_PAYLOAD.len());
        assert_eq!(len, expected.len());
        let mut packet = vec![0u8; len];
        packet[..4].copy_from_slice(&hex!("c0ffee01"));
        packet[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
        let at = gcm.payload_offset();
        packet[at..at + ESP_PAYLOAD.len()].copy_from_slice(ESP_PAYLOAD);
        gcm.encode_trailer(&mut packet, ESP_PAYLOAD.len(), 4)
            .unwrap();
        gcm.seal(seq, &mut packet).unwrap();
        assert_eq!(packet, expected);
        let range = gcm.open(seq, &mut packet).unwrap();
        assert_eq!(&packet[range], ESP_PAYLOAD);
        assert_eq!(gcm.next_header(&packet), Some(4));
    }

    #[test]
    fn esp_packet_aes128_gcm_no_esn() {
        esp_check(
            AesKeySize::Aes128,
            Esn::Disabled,
            &hex!("000102030405060708090a0b0c0d0e0f" "a1a2a3a4"),
            5,
            &GCM128_NO_ESN,
        );
    }

    #[test]
    fn esp_packet_aes256_gcm_esn() {
        esp_check(
            AesKeySize::Aes256,
            Esn::Enabled,
            &hex!(
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
                "b1b2b3b4"
            ),
            0x0000_0001_0000_0005,
            &GCM256_ESN,
        );
    }

    #[test]
    fn rejects_bad_key_length() {
        assert_eq!(
            AesGcm::new(AesKeySize::Aes128, Esn::Disabled, &[0; 16]).unwrap_err(),
            CryptoError::KeyLength {
                expected: 20,
                got: 16
            }
        );
        assert!(AesGcm::new(AesKeySize::Aes256, Esn::Disabled, &[0; 20]).is_err());
    }
}
