package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"

	"github.com/golang-jwt/jwt/v5"
)

// verifyPublic checks a public-key signature as golang-jwt's SigningMethod
// Verify does, with the same standard-library check and the same errors,
// but on the signing input as bytes and without its per-call allocations:
// the digest is summed on the stack, and an ECDSA signature (r || s, RFC
// 7518 §3.4) is encoded as ASN.1 DER for ecdsa.VerifyASN1 directly rather
// than through two big.Ints and ecdsa.Verify's re-encoding, into scratch
// (room for maxECDSADER bytes). handled is false for the algorithms it
// leaves to golang-jwt (PS256).
func verifyPublic(method jwt.SigningMethod, pub any, input, sig, scratch []byte) (handled bool, err error) {
	switch method {
	case jwt.SigningMethodRS256:
		d := sha256.Sum256(input)
		return true, verifyPKCS1v15(pub, crypto.SHA256, d[:], sig)
	case jwt.SigningMethodRS384:
		d := sha512.Sum384(input)
		return true, verifyPKCS1v15(pub, crypto.SHA384, d[:], sig)
	case jwt.SigningMethodRS512:
		d := sha512.Sum512(input)
		return true, verifyPKCS1v15(pub, crypto.SHA512, d[:], sig)
	case jwt.SigningMethodES256:
		d := sha256.Sum256(input)
		return true, verifyECDSA(pub, 32, d[:], sig, scratch)
	case jwt.SigningMethodES384:
		d := sha512.Sum384(input)
		return true, verifyECDSA(pub, 48, d[:], sig, scratch)
	case jwt.SigningMethodES512:
		d := sha512.Sum512(input)
		return true, verifyECDSA(pub, 66, d[:], sig, scratch)
	case jwt.SigningMethodEdDSA:
		k, ok := pub.(ed25519.PublicKey)
		if !ok || len(k) != ed25519.PublicKeySize {
			return true, jwt.ErrInvalidKeyType
		}
		if !ed25519.Verify(k, input, sig) {
			return true, jwt.ErrEd25519Verification
		}
		return true, nil
	}
	return false, nil
}

// scratchLen is the scratch verifySignature needs: a MAC (at most 64
// bytes, HS512), or an ECDSA signature in DER (maxECDSADER).
func (k Key) scratchLen() int {
	if k.hmac {
		return 64
	}
	return maxECDSADER
}

func verifyPKCS1v15(pub any, h crypto.Hash, digest, sig []byte) error {
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return jwt.ErrInvalidKeyType
	}
	return rsa.VerifyPKCS1v15(k, h, digest, sig)
}

// verifyECDSA checks a JWS ECDSA signature, r || s with each keySize bytes
// long, as golang-jwt does: the wrong length, a zero r or s, or a failed
// check is jwt.ErrECDSAVerification.
func verifyECDSA(pub any, keySize int, digest, sig, scratch []byte) error {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return jwt.ErrInvalidKeyType
	}
	if len(sig) != 2*keySize {
		return jwt.ErrECDSAVerification
	}
	der, ok := ecdsaDER(scratch[:0], sig[:keySize], sig[keySize:])
	if !ok || !ecdsa.VerifyASN1(k, digest, der) {
		return jwt.ErrECDSAVerification
	}
	return nil
}

// maxECDSADER is the longest DER signature ecdsaDER writes: P-521's, a
// SEQUENCE with a two-byte length of two INTEGERs of 2 + 67 bytes.
const maxECDSADER = 3 + 2*(2+67)

// ecdsaDER appends the ASN.1 DER encoding of the ECDSA signature (r, s),
// big-endian unsigned integers of at most 66 bytes, to dst: SEQUENCE {
// INTEGER r, INTEGER s }, each in its minimal two's-complement form, as
// crypto/ecdsa.SignASN1 writes it (ITU-T X.690 §8.3, §10.1). ok is false if
// r or s is zero, which no valid signature has.
func ecdsaDER(dst, r, s []byte) (_ []byte, ok bool) {
	r, s = trimZeros(r), trimZeros(s)
	if len(r) == 0 || len(s) == 0 {
		return dst, false
	}
	intLen := func(v []byte) int { return 2 + len(v) + int(v[0]>>7) } // a 0x00 before a high bit
	n := intLen(r) + intLen(s)
	dst = append(dst, 0x30)
	if n >= 0x80 {
		dst = append(dst, 0x81) // n < 256: one length byte follows
	}
	dst = append(dst, byte(n))
	for _, v := range [2][]byte{r, s} {
		dst = append(dst, 0x02, byte(intLen(v)-2))
		if v[0]&0x80 != 0 {
			dst = append(dst, 0)
		}
		dst = append(dst, v...)
	}
	return dst, true
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}
