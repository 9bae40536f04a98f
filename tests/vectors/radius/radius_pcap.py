# Writes radius.pcap from the expected packets of src/crypto/radius.rs tests, for an
# independent check with Wireshark (checked 2026-11: tshark -r radius.pcap
#   -o radius.shared_secret:xyzzy5461 -o radius.validate_authenticator:TRUE -V
# decrypts both User-Passwords and reports both Access-Accept authenticators [correct]).
import struct, hashlib
def csum(b):
    s=sum(struct.unpack("!%dH"%(len(b)//2),b)); s=(s&0xffff)+(s>>16); s=(s&0xffff)+(s>>16); return ~s&0xffff
def frame(src,dst,sp,dp,payload):
    udp=struct.pack("!HHHH",sp,dp,8+len(payload),0)+payload
    if len(udp)%2: pass
    ip=struct.pack("!BBHHHBBH4s4s",0x45,0,20+len(udp),1,0,64,17,0,bytes(src),bytes(dst))
    ip=ip[:10]+struct.pack("!H",csum(ip))+ip[12:]
    return ip+udp
A=[127,0,0,1]; B=[127,0,0,2]
pk=[]
req=bytes.fromhex("0100004a0f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a80110050600000003501263b78a6b9d2f149989fbf57ea21d194c")
acc=bytes.fromhex("02000038f79c0e9ea1d0f6fad6ed99d3f8524f760606000000010f06000000000e06c0a80103501221498eb0fb73825e2183df0ef3878f91")
pk.append(frame(A,B,40000,1812,req)); pk.append(frame(B,A,1812,40000,acc))
# second exchange: id 1, long password, MS-MPPE-Send-Key in accept
RA=bytes.fromhex("0f403f9473978057bd83d5cb98f4227a")
hidden=bytes.fromhex("0dec7e8c91d254c7308c835a0a0a7a8fe8544284c3f5699599ab0b0a95d5e2afc4098a43d2b8eecf4d7149811900b894")
attrs=bytes([1,6])+b"nemo"+bytes([2,2+len(hidden)])+hidden
req2=bytes([1,1])+(20+len(attrs)).to_bytes(2,"big")+RA+attrs
mppe=bytes.fromhex("8001d7c4aaa4718a06cddca737c2f3bcd1ffef26b141dc036e4cdb731d79248c658e")
vsa=bytes([26,6+2+len(mppe)])+(311).to_bytes(4,"big")+bytes([16,2+len(mppe)])+mppe
hdr=bytes([2,1])+(20+len(vsa)).to_bytes(2,"big")
S=b"xyzzy5461"
resp=hashlib.md5(hdr+RA+vsa+S).digest()
acc2=hdr+resp+vsa
pk.append(frame(A,B,40001,1812,req2)); pk.append(frame(B,A,1812,40001,acc2))
acct=bytes.fromhex("040700261338e8dab8e10ed4ede7976bd4287ae228060000000101066e656d6f2c0630303031")
pk.append(frame(A,B,40002,1813,acct))
coa=bytes.fromhex("2b09002ca6b9d101c837b49eaed2e58273dcdd8c01066e656d6f501245f1c5ff5aa46a5f17e18a24a07fd3de")
pk.append(frame(A,B,40003,3799,coa))
with open("radius.pcap","wb") as f:
    f.write(struct.pack("<IHHiIII",0xa1b2c3d4,2,4,0,0,65535,101))
    for i,p in enumerate(pk): f.write(struct.pack("<IIII",i,0,len(p),len(p))+p)
