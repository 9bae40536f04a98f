# Independent RADIUS vectors: python3 hashlib/hmac only.
import hashlib, hmac
S=b"xyzzy5461"
RA=bytes.fromhex("0f403f9473978057bd83d5cb98f4227a")  # RFC 2865 §7.1 Request Authenticator
def chain(secret, iv, p):
    out=bytearray(); b=hashlib.md5(secret+iv).digest()
    for i in range(0,len(p),16):
        c=bytes(x^y for x,y in zip(p[i:i+16],b)); out+=c; b=hashlib.md5(secret+c).digest()
    return bytes(out)
pw=b"a much longer password, 38 octets...!!"[:38]
pad=pw+b"\0"*((-len(pw))%16)
print("long pw", pw, len(pad), chain(S,RA,pad).hex())
# Accounting-Request: code 4 id 7, Acct-Status-Type=Start, User-Name nemo, Acct-Session-Id "0001"
attrs=bytes([40,6,0,0,0,1, 1,6])+b"nemo"+bytes([44,6])+b"0001"
L=20+len(attrs)
hdr=bytes([4,7])+L.to_bytes(2,"big")
auth=hashlib.md5(hdr+b"\0"*16+attrs+S).digest()
print("acct req", (hdr+auth+attrs).hex())
# Access-Request of RFC 2865 §7.1 with Message-Authenticator appended
req=bytes.fromhex("0100003 80f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a8011005060000000 3".replace(" ",""))
attrs=req[20:]+bytes([80,18])+b"\0"*16
L=20+len(attrs); hdr=bytes([1,0])+L.to_bytes(2,"big")
pkt=hdr+RA+attrs
ma=hmac.new(S,pkt,hashlib.md5).digest()
print("access-req+MA", (pkt[:-16]+ma).hex(), "ma", ma.hex())
# Access-Accept of §7.1 + MA: MA over packet with RA in auth field, then response auth.
acc_attrs=bytes.fromhex("060600000001"+"0f0600000000"+"0e06c0a80103")
attrs=acc_attrs+bytes([80,18])+b"\0"*16
L=20+len(attrs); hdr=bytes([2,0])+L.to_bytes(2,"big")
ma=hmac.new(S,hdr+RA+attrs,hashlib.md5).digest()
attrs=attrs[:-16]+ma
resp=hashlib.md5(hdr+RA+attrs+S).digest()
print("accept+MA", (hdr+resp+attrs).hex(), "ma", ma.hex())
# CoA-Request (43) id 9 with User-Name "nemo" + MA: MA with zero auth, then request auth.
attrs=bytes([1,6])+b"nemo"+bytes([80,18])+b"\0"*16
L=20+len(attrs); hdr=bytes([43,9])+L.to_bytes(2,"big")
ma=hmac.new(S,hdr+b"\0"*16+attrs,hashlib.md5).digest()
attrs=attrs[:-16]+ma
auth=hashlib.md5(hdr+b"\0"*16+attrs+S).digest()
print("coa+MA", (hdr+auth+attrs).hex(), "ma", ma.hex())
# MS-MPPE-Send-Key (RFC 2548 §2.4.2): salt 0x8001, key = RFC 3079 SendStartKey128
key=bytes.fromhex("8B7CDC149B993A1BA118CB153F56DCCB")
salt=bytes([0x80,0x01])
P=bytes([len(key)])+key; P+=b"\0"*((-len(P))%16)
print("mppe send key value", (salt+chain(S,RA+salt,P)).hex())
print("chap flopsy", hashlib.md5(bytes([22])+b"flopsy-pw"+bytes.fromhex("2aee86f08d0d55969ca5978e0d3367a2")).hexdigest())
