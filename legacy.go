package auth

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"

	"golang.org/x/crypto/scrypt"
)

// A LegacyScheme is a family of password-hash formats written by another
// framework. [Passwords.Verify] checks them only when the policy enables
// them with [WithLegacy], never writes them, and answers rehash == true
// after every successful match, so each user moves to the policy's scheme
// on their next login.
type LegacyScheme uint8

const (
	// DjangoHashers verifies what Django's hashers write:
	// "pbkdf2_sha256$<iterations>$<salt>$<base64 key>" (PBKDF2-HMAC-SHA256,
	// 32-byte key), "argon2$argon2id$v=19$…" (argon2id in the PHC format),
	// "bcrypt_sha256$$2b$…" (bcrypt over the hex SHA-256 of the password)
	// and "bcrypt$$2b$…" (plain bcrypt, subject to the 72-byte rule of
	// [WithInsecureBcryptTruncation]). Markers of unusable passwords ("!…")
	// never match.
	DjangoHashers LegacyScheme = 1 << iota
	// WerkzeugHashes verifies Werkzeug's generate_password_hash output:
	// "pbkdf2:sha256:<iterations>$<salt>$<hex key>" (also sha512) and
	// "scrypt:<N>:<r>:<p>$<salt>$<hex key>" (64-byte key). A "pbkdf2:sha256"
	// without iterations, whose count depended on the Werkzeug version, is
	// refused.
	WerkzeugHashes
	// PasslibPBKDF2 verifies passlib's pbkdf2_sha256:
	// "$pbkdf2-sha256$<rounds>$<salt>$<checksum>" in passlib's adapted
	// base64 ("." for "+", no padding), 32-byte checksum.
	PasslibPBKDF2
	// BetterAuthScrypt verifies Better Auth's default "<salt hex>:<key hex>":
	// scrypt with N=16384, r=16, p=1 and a 64-byte key over the NFKC form of
	// the password, the salt being the hex string's ASCII bytes. It needs
	// [WithNFKC].
	BetterAuthScrypt

	allLegacy = DjangoHashers | WerkzeugHashes | PasslibPBKDF2 | BetterAuthScrypt
)

// String returns the scheme's Go name, as in [WithLegacy]'s argument.
func (s LegacyScheme) String() string {
	switch s {
	case DjangoHashers:
		return "DjangoHashers"
	case WerkzeugHashes:
		return "WerkzeugHashes"
	case PasslibPBKDF2:
		return "PasslibPBKDF2"
	case BetterAuthScrypt:
		return "BetterAuthScrypt"
	}
	return fmt.Sprintf("LegacyScheme(%d)", uint8(s))
}

// WithLegacy lets [Passwords.Verify] check hashes in the given formats of
// other frameworks, for a service that takes over another one's users. They
// are verify-only: new hashes always use the policy's scheme, and a match
// answers rehash == true. Parameters read from a stored hash are bounded
// (PBKDF2 iterations ≤ 5,000,000; scrypt N a power of two ≤ 2^20, r ≤ 32,
// p ≤ 16, 128·N·r ≤ 64 MiB, N·r·p ≤ 2^21; salts ≤ 128 bytes), so a
// tampered row fails with [ErrInvalidHash] rather than stall the server.
// [NewPasswords] returns an error for an unknown scheme.
func WithLegacy(schemes ...LegacyScheme) PasswordOption {
	return func(ps *Passwords) {
		for _, s := range schemes {
			if s == 0 || s&^allLegacy != 0 {
				ps.badLegacy, ps.hasBadLegacy = s, true
			}
			ps.legacy |= s
		}
	}
}

// WithNFKC gives the Unicode NFKC normalization (Unicode Standard Annex
// #15) that [BetterAuthScrypt] applies to a password before hashing
// (JavaScript's password.normalize("NFKC")), usually norm.NFKC.String from
// golang.org/x/text/unicode/norm. A normalized password over four times the
// policy's byte limit fails with [ErrPasswordTooLong]. It is an option rather than a dependency
// of this module so that the module needs only golang-jwt and x/crypto; it
// is used for nothing else: the policy's own hashes take the password's
// bytes as given.
func WithNFKC(normalize func(string) string) PasswordOption {
	return func(ps *Passwords) { ps.nfkc = normalize }
}

// WithInsecureBcryptTruncation lets a password longer than 72 bytes match a
// stored bcrypt hash of its first 72 bytes, as passlib, Python's bcrypt
// before 5.0, bcryptjs and node's bcrypt computed them silently. Without it
// such a password fails with [ErrPasswordTooLong]. It is a compatibility
// escape hatch for imported hashes: verify-only (new bcrypt hashes still
// refuse more than 72 bytes), and a match answers rehash == true so that the
// whole password is hashed with the policy, which moves the user off the
// truncation when the policy is argon2id. The bytes past 72 are not
// checked, so enable it only while such users remain.
func WithInsecureBcryptTruncation() PasswordOption {
	return func(ps *Passwords) { ps.bcryptTruncation = true }
}

// Bounds on parameters read from a legacy hash. Django 6.0 writes 1,200,000
// PBKDF2 iterations and Werkzeug 3.1 1,000,000; 5,000,000 leaves room for
// later releases while capping a tampered row at a few seconds of CPU.
// Werkzeug's scrypt default is N=2^15, r=8, p=1 (32 MiB), Better Auth's
// N=2^14, r=16, p=1 (32 MiB).
const (
	legacyMaxPBKDF2Iterations = 5_000_000
	legacyMaxScryptN          = 1 << 20
	legacyMaxScryptR          = 32
	legacyMaxScryptP          = 16
	legacyMaxScryptMemory     = 64 << 20 // bytes: 128·N·r, twice the defaults
	legacyMaxScryptWork       = 1 << 21  // N·r·p, 8 times the defaults
	legacyMaxSalt             = 128      // bytes or characters
)

// errLegacyDisabled is ErrInvalidHash for a format the policy recognises
// but has not enabled; the message names the option, never the hash.
func errLegacyDisabled(s LegacyScheme) error {
	return fmt.Errorf("%w: a %v hash needs WithLegacy(%v)", ErrInvalidHash, s, s)
}

// legacyVerifier recognises the formats of other frameworks and parses an
// enabled one into its check. Every parse error is ErrInvalidHash.
func (p *Passwords) legacyVerifier(hash, password string) (check, error) {
	var s LegacyScheme
	var parse func(hash, password string) (check, error)
	switch {
	case strings.HasPrefix(hash, "pbkdf2_sha256$"), strings.HasPrefix(hash, "argon2$"),
		strings.HasPrefix(hash, "bcrypt_sha256$"), strings.HasPrefix(hash, "bcrypt$"):
		s, parse = DjangoHashers, p.djangoCheck
	case strings.HasPrefix(hash, "pbkdf2:"), strings.HasPrefix(hash, "scrypt:"):
		s, parse = WerkzeugHashes, p.werkzeugCheck
	case strings.HasPrefix(hash, "$pbkdf2-sha256$"):
		s, parse = PasslibPBKDF2, p.passlibCheck
	case isBetterAuthHash(hash):
		s, parse = BetterAuthScrypt, p.betterAuthCheck
	default:
		return check{}, ErrInvalidHash
	}
	if p.legacy&s == 0 {
		return check{}, errLegacyDisabled(s)
	}
	return parse(hash, password)
}

// djangoCheck parses Django's "<algorithm>$…" hashes.
func (p *Passwords) djangoCheck(hash, password string) (check, error) {
	algorithm, rest, _ := strings.Cut(hash, "$")
	switch algorithm {
	case "pbkdf2_sha256":
		parts := strings.Split(rest, "$")
		if len(parts) != 3 {
			return check{}, ErrInvalidHash
		}
		iter, ok := parseLegacyInt(parts[0], 1, legacyMaxPBKDF2Iterations)
		key, err := base64.StdEncoding.Strict().DecodeString(parts[2])
		if !ok || !validSalt(parts[1]) || err != nil || len(key) != sha256.Size ||
			base64.StdEncoding.EncodeToString(key) != parts[2] {
			return check{}, ErrInvalidHash
		}
		return pbkdf2Check(sha256.New, password, []byte(parts[1]), iter, key), nil
	case "argon2":
		stored, err := parseArgon2id("$" + rest)
		if err != nil {
			return check{}, err
		}
		return p.argon2idCheck(stored, password, true), nil
	case "bcrypt_sha256":
		sum := sha256.Sum256([]byte(password))
		return p.bcryptCheck(rest, hex.EncodeToString(sum[:]), true)
	case "bcrypt":
		return p.bcryptCheck(rest, password, true)
	}
	return check{}, ErrInvalidHash
}

// werkzeugCheck parses Werkzeug's "<method>$<salt>$<hex key>".
func (p *Passwords) werkzeugCheck(stored, password string) (check, error) {
	parts := strings.Split(stored, "$")
	if len(parts) != 3 || !validSalt(parts[1]) {
		return check{}, ErrInvalidHash
	}
	method, salt, keyHex := strings.Split(parts[0], ":"), []byte(parts[1]), parts[2]
	switch {
	case len(method) == 3 && method[0] == "pbkdf2":
		var h func() hash.Hash
		switch method[1] {
		case "sha256":
			h = sha256.New
		case "sha512":
			h = sha512.New
		default:
			return check{}, ErrInvalidHash
		}
		iter, ok := parseLegacyInt(method[2], 1, legacyMaxPBKDF2Iterations)
		key, err := decodeLowerHex(keyHex)
		if !ok || err != nil || len(key) != h().Size() {
			return check{}, ErrInvalidHash
		}
		return pbkdf2Check(h, password, salt, iter, key), nil
	case len(method) == 4 && method[0] == "scrypt":
		n, okN := parseLegacyInt(method[1], 2, legacyMaxScryptN)
		r, okR := parseLegacyInt(method[2], 1, legacyMaxScryptR)
		pp, okP := parseLegacyInt(method[3], 1, legacyMaxScryptP)
		key, err := decodeLowerHex(keyHex)
		if !okN || !okR || !okP || n&(n-1) != 0 || 128*n*r > legacyMaxScryptMemory ||
			n*r*pp > legacyMaxScryptWork || err != nil || len(key) != 64 {
			return check{}, ErrInvalidHash
		}
		return scryptCheck(password, salt, n, r, pp, key), nil
	}
	return check{}, ErrInvalidHash
}

// passlibCheck parses passlib's "$pbkdf2-sha256$<rounds>$<salt>$<checksum>".
func (p *Passwords) passlibCheck(hash, password string) (check, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 5 {
		return check{}, ErrInvalidHash
	}
	iter, ok := parseLegacyInt(parts[2], 1, legacyMaxPBKDF2Iterations)
	salt, err1 := decodeAB64(parts[3])
	key, err2 := decodeAB64(parts[4])
	if !ok || err1 != nil || err2 != nil || len(salt) == 0 || len(salt) > legacyMaxSalt || len(key) != sha256.Size {
		return check{}, ErrInvalidHash
	}
	return pbkdf2Check(sha256.New, password, salt, iter, key), nil
}

// Better Auth's fixed scrypt parameters (packages/better-auth/src/crypto/password.ts).
const (
	betterAuthN      = 16384
	betterAuthR      = 16
	betterAuthP      = 1
	betterAuthKeyLen = 64
)

// isBetterAuthHash reports whether s looks like "<hex>:<hex>".
func isBetterAuthHash(s string) bool {
	salt, key, ok := strings.Cut(s, ":")
	return ok && salt != "" && key != "" && isHex(salt) && isHex(key)
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// betterAuthCheck parses Better Auth's "<salt hex>:<key hex>".
func (p *Passwords) betterAuthCheck(hash, password string) (check, error) {
	salt, keyHex, _ := strings.Cut(hash, ":")
	key, err := decodeLowerHex(keyHex)
	if err != nil || len(key) != betterAuthKeyLen || len(salt) > legacyMaxSalt {
		return check{}, ErrInvalidHash
	}
	normalized := p.nfkc(password)
	if len(normalized) > 4*p.maxBytes { // NFKC can expand a string; bound what is hashed
		return check{}, ErrPasswordTooLong
	}
	return scryptCheck(normalized, []byte(salt), betterAuthN, betterAuthR, betterAuthP, key), nil
}

func pbkdf2Check(h func() hash.Hash, password string, salt []byte, iter int, key []byte) check {
	return check{scheme: "pbkdf2", run: func() (bool, error) {
		got, err := pbkdf2.Key(h, password, salt, iter, len(key))
		if err != nil {
			return false, ErrInvalidHash
		}
		if subtle.ConstantTimeCompare(got, key) != 1 {
			return false, ErrPasswordMismatch
		}
		return true, nil
	}}
}

func scryptCheck(password string, salt []byte, n, r, p int, key []byte) check {
	return check{scheme: "scrypt", run: func() (bool, error) {
		got, err := scrypt.Key([]byte(password), salt, n, r, p, len(key))
		if err != nil {
			return false, ErrInvalidHash
		}
		if subtle.ConstantTimeCompare(got, key) != 1 {
			return false, ErrPasswordMismatch
		}
		return true, nil
	}}
}

// parseLegacyInt parses a decimal in [lo, hi] with no sign or leading zero.
func parseLegacyInt(s string, lo, hi int) (int, bool) {
	var v uint64
	ok := parseParam(s, "", &v, uint64(lo), uint64(hi))
	return int(v), ok
}

// validSalt reports whether a salt string is non-empty, bounded, and free
// of the "$" that separates the fields it sits between.
func validSalt(s string) bool {
	return s != "" && len(s) <= legacyMaxSalt && !strings.Contains(s, "$")
}

// decodeLowerHex decodes lowercase hex, as Python's bytes.hex() and
// JavaScript's hex encoders write it; any other spelling is refused.
func decodeLowerHex(s string) ([]byte, error) {
	if strings.ToLower(s) != s {
		return nil, errors.New("not lowercase hex")
	}
	return hex.DecodeString(s)
}

// passlibB64 is passlib's "adapted base64": the standard alphabet with "."
// for "+", no padding.
var passlibB64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789./").WithPadding(base64.NoPadding).Strict()

// decodeAB64 decodes passlib's adapted base64, refusing non-canonical
// spellings (the decoder skips CR and LF even when strict).
func decodeAB64(s string) ([]byte, error) {
	b, err := passlibB64.DecodeString(s)
	if err != nil || passlibB64.EncodeToString(b) != s {
		return nil, ErrInvalidHash
	}
	return b, nil
}

// checkLegacy reports a legacy configuration that cannot work.
func (p *Passwords) checkLegacy() error {
	switch {
	case p.hasBadLegacy:
		return fmt.Errorf("auth: unknown legacy scheme %v", p.badLegacy)
	case p.legacy&BetterAuthScrypt != 0 && p.nfkc == nil:
		return errors.New("auth: BetterAuthScrypt needs WithNFKC (norm.NFKC.String from golang.org/x/text/unicode/norm)")
	}
	return nil
}
