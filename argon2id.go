package auth

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

const (
	argon2SaltLen = 16
	argon2KeyLen  = 32
)

// Bounds on parameters read from a stored hash, so that a tampered row can
// neither panic x/crypto (t=0 or p=0 do) nor cost unbounded memory or time.
const (
	argon2MaxMemory = 1 << 20 // KiB: 1 GiB
	argon2MaxTime   = 10
	argon2MaxLanes  = 16
	argon2MinSalt   = 8
	argon2MaxSalt   = 64
	argon2MinKey    = 16
	argon2MaxKey    = 64
)

// phcB64 is the PHC string format's base64: standard alphabet, no padding.
var phcB64 = base64.RawStdEncoding.Strict()

// argon2Hash is a parsed PHC string $argon2id$v=19$m=…,t=…,p=…$salt$key.
type argon2Hash struct {
	params    Argon2Params
	salt, key []byte
}

func (h argon2Hash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.params.Memory, h.params.Time, h.params.Threads,
		phcB64.EncodeToString(h.salt), phcB64.EncodeToString(h.key))
}

func (h argon2Hash) derive(password string, keyLen int) []byte {
	return argon2.IDKey([]byte(password), h.salt, h.params.Time, h.params.Memory, h.params.Threads, uint32(keyLen))
}

func (h argon2Hash) matches(password string) bool {
	return subtle.ConstantTimeCompare(h.derive(password, len(h.key)), h.key) == 1
}

// differsFrom reports whether any parameter of h differs from the policy's
// (memory, passes, lanes, salt or key length): argon2-cffi's rule, so that
// lowering the policy moves hashes down as raising it moves them up.
func (h argon2Hash) differsFrom(policy Argon2Params) bool {
	return h.params != policy || len(h.salt) != argon2SaltLen || len(h.key) != argon2KeyLen
}

// parseArgon2id parses a PHC argon2id string. The parameters m, t and p
// may come in any order (argon2-cffi and passlib write m,t,p; node-argon2
// writes m,p,t), each exactly once; anything else is refused, including
// the PHC format's optional keyid and data: a hash made with a secret key
// or associated data cannot be checked without them, and x/crypto's
// argon2 takes neither. The version field is required and must be 19.
func parseArgon2id(s string) (argon2Hash, error) {
	var h argon2Hash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		return h, ErrInvalidHash
	}
	var m, t, p uint64
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return h, ErrInvalidHash
	}
	var seen [3]bool
	for _, kv := range params {
		var ok bool
		switch {
		case strings.HasPrefix(kv, "m=") && !seen[0]:
			seen[0], ok = true, parseParam(kv, "m=", &m, 1, argon2MaxMemory)
		case strings.HasPrefix(kv, "t=") && !seen[1]:
			seen[1], ok = true, parseParam(kv, "t=", &t, 1, argon2MaxTime)
		case strings.HasPrefix(kv, "p=") && !seen[2]:
			seen[2], ok = true, parseParam(kv, "p=", &p, 1, argon2MaxLanes)
		}
		if !ok {
			return h, ErrInvalidHash
		}
	}
	if m < 8*p { // argon2 needs 8 KiB per lane
		return h, ErrInvalidHash
	}
	h.params = Argon2Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)}
	var err1, err2 error
	h.salt, err1 = phcB64.DecodeString(parts[4])
	h.key, err2 = phcB64.DecodeString(parts[5])
	// The decoder skips CR and LF even when strict: compare the re-encoding.
	if err1 != nil || err2 != nil || phcB64.EncodeToString(h.salt) != parts[4] || phcB64.EncodeToString(h.key) != parts[5] ||
		len(h.salt) < argon2MinSalt || len(h.salt) > argon2MaxSalt ||
		len(h.key) < argon2MinKey || len(h.key) > argon2MaxKey {
		return h, ErrInvalidHash
	}
	return h, nil
}

// parseParam parses "name=decimal" within [lo, hi], refusing leading zeros
// and signs so that every accepted hash has one spelling.
func parseParam(s, name string, v *uint64, lo, hi uint64) bool {
	digits, ok := strings.CutPrefix(s, name)
	if !ok || digits == "" || len(digits) > 10 || digits[0] == '0' || digits[0] == '+' {
		return false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	*v = n
	return err == nil && n >= lo && n <= hi
}

// checkArgon2Policy enforces OWASP's argon2id minimums for new hashes.
func checkArgon2Policy(p Argon2Params) error {
	floor := map[uint32]uint32{1: 47104, 2: 19456, 3: 12288, 4: 9216}[p.Time]
	if p.Time >= 5 {
		floor = 7168
	}
	if p.Time < 1 || p.Time > argon2MaxTime || p.Threads < 1 || p.Threads > argon2MaxLanes ||
		p.Memory > argon2MaxMemory || p.Memory < floor {
		return fmt.Errorf("auth: argon2id parameters m=%d,t=%d,p=%d are below the OWASP minimum or out of bounds",
			p.Memory, p.Time, p.Threads)
	}
	return nil
}
