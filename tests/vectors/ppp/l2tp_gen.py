# Independent L2TP vectors (RFC 2661 §4.3 hidden AVPs, §4.4.3/§5.1.1 challenge response).
import hashlib
secret=b"tunnel-secret"
rv=bytes.fromhex("3e1f2a09c4d5e6f708192a3b4c5d6e7f")
def hide(attr, sub):
    out=bytearray(); prev=None
    for i in range(0,len(sub),16):
        blk=sub[i:i+16]
        if i==0: b=hashlib.md5(attr.to_bytes(2,"big")+secret+rv).digest()
        else: b=hashlib.md5(secret+prev).digest()
        c=bytes(x^y for x,y in zip(blk,b)); out+=c; prev=c
    return bytes(out)
# Hidden subformat for a 21-octet value (e.g. a user name), plus 5 octets padding: 2+21+5 = 28
val=b"subscriber@isp.example"[:21]
sub=len(val).to_bytes(2,"big")+val+bytes([0xaa]*5)
print("attr 30 (Proxy Authen Name) sub", sub.hex())
print("hidden", hide(30, sub).hex())
sub2=(4).to_bytes(2,"big")+bytes.fromhex("0a000001")
print("attr 22 short sub", sub2.hex(), "hidden", hide(22, sub2).hex())
ch=bytes.fromhex("0123456789abcdeffedcba9876543210")
print("sccrp resp", hashlib.md5(bytes([2])+secret+ch).hexdigest())
print("scccn resp", hashlib.md5(bytes([3])+secret+ch).hexdigest())
