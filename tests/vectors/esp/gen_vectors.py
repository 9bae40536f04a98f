#!/usr/bin/env python3
"""Independent generator for the whole-packet ESP vectors in src/crypto/esp/.

Uses pycryptodome (pip install pycryptodome) and python's hmac/hashlib only; it shares
no code with the Rust transforms. Run: python3 gen_vectors.py  (prints Rust constants)

Layout (RFC 4303 §2): SPI(4) | Seq32(4) | IV | E(payload | 1 2 .. n | n | next hdr) | ICV
- AES-GCM (RFC 4106): nonce = salt || seq (8 bytes BE), AAD = SPI||Seq32, or
  SPI||Seq-hi||Seq-lo with ESN; ICV = 16-byte tag.
- CBC + HMAC: IV = AES-128-ECB(iv_key, 0^8 || seq BE)[:block]; ICV =
  HMAC(auth_key, header || IV || ciphertext [|| Seq-hi with ESN])[:icv_len].
"""
import hashlib
import hmac

from Crypto.Cipher import AES, DES3

PAYLOAD = b"shardvpn ESP test payload: an IPv4/UDP/L2TP frame."
NEXT_HEADER = 4


def trailer(payload_len, block):
    pad = (-(payload_len + 2)) % block
    return bytes(range(1, pad + 1)) + bytes([pad, NEXT_HEADER])


def gcm_packet(key, salt, spi, seq, esn):
    header = spi + (seq & 0xFFFFFFFF).to_bytes(4, "big")
    iv = seq.to_bytes(8, "big")
    aad = spi + (seq >> 32).to_bytes(4, "big") + header[4:] if esn else header
    pt = PAYLOAD + trailer(len(PAYLOAD), 4)
    c = AES.new(key, AES.MODE_GCM, nonce=salt + iv, mac_len=16)
    c.update(aad)
    ct, tag = c.encrypt_and_digest(pt)
    return header + iv + ct + tag


def cbc_packet(cipher, block, key, iv_key, auth, auth_key, icv_len, spi, seq, esn):
    header = spi + (seq & 0xFFFFFFFF).to_bytes(4, "big")
    iv = AES.new(iv_key, AES.MODE_ECB).encrypt(bytes(8) + seq.to_bytes(8, "big"))[:block]
    pt = PAYLOAD + trailer(len(PAYLOAD), block)
    ct = cipher.new(key, cipher.MODE_CBC, iv=iv).encrypt(pt)
    mac_input = header + iv + ct + ((seq >> 32).to_bytes(4, "big") if esn else b"")
    icv = hmac.new(auth_key, mac_input, auth).digest()[:icv_len]
    return header + iv + ct + icv


def rust(name, data):
    lines = [data[i:i + 32].hex() for i in range(0, len(data), 32)]
    body = "\n".join(f'        "{line}"' for line in lines)
    print(f"    const {name}: [u8; {len(data)}] = hex!(\n{body}\n    );")


K16 = bytes(range(16))
K32 = bytes(range(32))
K24 = bytes(range(1, 25))
IV_KEY = bytes(range(0x40, 0x50))
A20 = bytes(range(0x20, 0x34))
A32 = bytes(range(0x20, 0x40))

rust("GCM128_NO_ESN", gcm_packet(K16, bytes.fromhex("a1a2a3a4"), bytes.fromhex("c0ffee01"), 5, False))
rust("GCM256_ESN", gcm_packet(K32, bytes.fromhex("b1b2b3b4"), bytes.fromhex("c0ffee01"), 0x0000000100000005, True))
rust("AES128_CBC_SHA1_ESN", cbc_packet(AES, 16, K16, IV_KEY, hashlib.sha1, A20, 12,
                                       bytes.fromhex("c0ffee02"), 0x0000000200000007, True))
rust("AES256_CBC_SHA256_NO_ESN", cbc_packet(AES, 16, K32, IV_KEY, hashlib.sha256, A32, 16,
                                            bytes.fromhex("c0ffee03"), 9, False))
rust("AES128_CBC_SHA256_96_NO_ESN", cbc_packet(AES, 16, K16, IV_KEY, hashlib.sha256, A32, 12,
                                               bytes.fromhex("c0ffee04"), 10, False))
rust("TDES_CBC_SHA1_NO_ESN", cbc_packet(DES3, 8, K24, IV_KEY, hashlib.sha1, A20, 12,
                                        bytes.fromhex("c0ffee05"), 3, False))
rust("TDES_CBC_SHA1_ESN", cbc_packet(DES3, 8, K24, IV_KEY, hashlib.sha1, A20, 12,
                                     bytes.fromhex("c0ffee05"), 0xFFFFFFFF00000003, True))

# RFC 3602 case 5 packet with an HMAC-SHA1-96 ICV under the key 0x11 * 20.
case5 = bytes.fromhex(
    "0000432100000001e96e8c08ab465763fd098d45dd3ff893"
    "f663c25d325c18c6a9453e194e120849a4870b66cc6b9965330013b4898dc856"
    "a4699e523a55db080b59ec3a8e4b7e52775b07d1db34ed9c538ab50c551b874a"
    "a269add047ad2d5913ac19b7cfbad4a6")
rust("RFC3602_CASE5_ICV", hmac.new(bytes([0x11] * 20), case5, hashlib.sha1).digest()[:12])

# NIST SP 800-67 TDEA example, checked here too.
assert DES3.new(bytes.fromhex("0123456789abcdef23456789abcdef01456789abcdef0123"), DES3.MODE_ECB) \
    .encrypt(b"The qufck brown fox jump").hex() == "a826fd8ce53b855fcce21c8112256fe668d5c05dd9b6b900"
