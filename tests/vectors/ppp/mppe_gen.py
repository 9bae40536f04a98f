import hashlib, hmac
from Crypto.Cipher import ARC4
pad1=b"\0"*40; pad2=b"\xf2"*40
def sha_key(start, sess): return hashlib.sha1(start+pad1+sess+pad2).digest()[:len(start)]
def rc4(k,d): return ARC4.new(k).encrypt(d)
start=bytes.fromhex("8B7CDC149B993A1BA118CB153F56DCCB")
s8=start[:8]
k=sha_key(s8,s8); print("init8 nosalt", k.hex())
k=sha_key(start,start); print("init16", k.hex())
# rekey RFC 3078 7.3
def change(start, sess, salt):
    interim=sha_key(start,sess)
    new=bytearray(rc4(interim,interim))
    if salt==40: new[0:3]=b"\xd1\x26\x9e"
    if salt==56: new[0]=0xd1
    return bytes(new)
def initial(start,salt):
    k=bytearray(sha_key(start,start))
    if salt==40: k[0:3]=b"\xd1\x26\x9e"
    if salt==56: k[0]=0xd1
    return bytes(k)
for bits,st in ((40,s8),(56,s8),(128,start)):
    k0=initial(st,bits)
    print(bits,"initial",k0.hex(), rc4(k0,b"test message").hex())
    k1=change(st,k0,bits); k2=change(st,k1,bits)
    print(bits,"k1",k1.hex(),"k2",k2.hex())
    # stateless: packet ccount 0 encrypted with k1, ccount1 with k2
    print(bits,"stateless pkt0", rc4(k1,b"\x00\x21hello mppe").hex(), "pkt1", rc4(k2,b"\x00\x21second").hex())
