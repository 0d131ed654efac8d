package auth

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// legacyVector is one hash from testdata/legacy_vectors.json, made by the
// real library named in Source (testdata/legacy/gen.py).
type legacyVector struct {
	Source     string `json:"source"`
	Legacy     string `json:"legacy"`     // the LegacyScheme it needs, or "" for argon2id/bcrypt
	Truncation bool   `json:"truncation"` // bcrypt of the first 72 bytes of a longer password
	NFKC       bool   `json:"nfkc"`       // the password is not NFKC-stable
	Password   string `json:"password"`
	Hash       string `json:"hash"`
	Valid      bool   `json:"valid"` // false: refused by design
}

var legacyVectors = sync.OnceValues(func() ([]legacyVector, error) {
	b, err := os.ReadFile("testdata/legacy_vectors.json")
	if err != nil {
		return nil, err
	}
	var f struct{ Vectors []legacyVector }
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	return f.Vectors, nil
})

func loadLegacyVectors(t testing.TB) []legacyVector {
	t.Helper()
	v, err := legacyVectors()
	if err != nil || len(v) == 0 {
		t.Fatalf("testdata/legacy_vectors.json: %d vectors, %v", len(v), err)
	}
	return v
}

// testNFKC is NFKC for the characters the vectors use (fullwidth ASCII,
// the "fi" ligature, superscript two); the root module cannot depend on
// golang.org/x/text, whose norm.NFKC.String a service passes instead.
func testNFKC(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			b.WriteRune(r - 0xFEE0)
		case r == 'ﬁ':
			b.WriteString("fi")
		case r == '²':
			b.WriteByte('2')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

var legacyByName = map[string]LegacyScheme{
	"DjangoHashers": DjangoHashers, "WerkzeugHashes": WerkzeugHashes,
	"PasslibPBKDF2": PasslibPBKDF2, "BetterAuthScrypt": BetterAuthScrypt,
}

// wrongPassword differs from pw within its first 72 bytes, so that it is
// wrong even where bcrypt truncates.
func wrongPassword(pw string) string { return "X" + pw[1:] }

// cheapDummy makes p's dummy check a bcrypt of cost 4 (~1 ms): for tests
// that refuse many hashes and count the dummy checks, not their cost.
func cheapDummy(p *Passwords) *Passwords {
	const cheap = "$2a$04$R9h/cIPz0gi.URNNX3kh2ONE7Abt5kHbdjo9podGMRoDgcnYHoCM6" // "U*U", python bcrypt
	p.dummy = func() (string, error) { return cheap, nil }
	return p
}

// The legacy tests below run many costly hashes; they do not call
// t.Parallel, so that they run before the parallel login tests, whose
// rehash must finish within the 2-second hash wait even under -race.

// countHashes returns a copy of p that records the scheme of each hash.
func countHashes(p *Passwords) (*Passwords, func() []string) {
	q := *p
	var mu sync.Mutex
	var got []string
	q.onScheme = func(s string) { mu.Lock(); got = append(got, s); mu.Unlock() }
	return &q, func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}
}

// Every vector made by a real library verifies once its scheme is enabled,
// costs one hash, asks for a rehash, and refuses a wrong password at the
// cost of its hash plus the policy's; vectors refused by design are refused
// after the policy's hash alone.
func TestLegacyVectors(t *testing.T) {
	all := newPasswords(t, WithLegacy(DjangoHashers, WerkzeugHashes, PasslibPBKDF2, BetterAuthScrypt),
		WithNFKC(testNFKC), WithInsecureBcryptTruncation())
	seen := map[string]bool{}
	for _, v := range loadLegacyVectors(t) {
		seen[v.Legacy] = true
		t.Run(v.Source, func(t *testing.T) {
			p, hashes := countHashes(all)
			rehash, err := p.Verify(t.Context(), v.Hash, v.Password)
			if !v.Valid {
				if !errors.Is(err, ErrInvalidHash) || rehash {
					t.Errorf("Verify = %v, %v; want false, ErrInvalidHash", rehash, err)
				}
				if got := hashes(); len(got) != 1 || got[0] != schemeArgon2id {
					t.Errorf("refusal ran hashes %v; want one argon2id", got)
				}
				return
			}
			if err != nil || rehash != true {
				t.Errorf("Verify(right password) = %v, %v; want true, nil", rehash, err)
			}
			if got := hashes(); len(got) != 1 {
				t.Errorf("a match ran %d hashes %v; want 1", len(got), got)
			}
			rehash, err = p.Verify(t.Context(), v.Hash, wrongPassword(v.Password))
			if !errors.Is(err, ErrPasswordMismatch) || rehash {
				t.Errorf("Verify(wrong password) = %v, %v; want false, ErrPasswordMismatch", rehash, err)
			}
			// Its own hash, then the policy's dummy: never cheaper than an
			// unknown user (passlib's 29,000 rounds would be).
			if got := hashes(); len(got) != 2 || got[1] != schemeArgon2id {
				t.Errorf("a mismatch ran hashes %v; want its own, then one argon2id", got)
			}
		})
	}
	for _, name := range []string{"", "DjangoHashers", "WerkzeugHashes", "PasslibPBKDF2", "BetterAuthScrypt"} {
		if !seen[name] {
			t.Errorf("no vector for %q", name)
		}
	}
}

// No legacy format verifies unless enabled: each fails with ErrInvalidHash
// (a bcrypt hash of a long password with ErrPasswordTooLong) after one hash
// of the policy's scheme, as for an unknown user.
func TestLegacyOptIn(t *testing.T) {
	for name, opts := range map[string][]PasswordOption{"argon2id": nil, "bcrypt": {WithBcrypt(10)}} {
		t.Run(name, func(t *testing.T) {
			p, hashes := countHashes(newPasswords(t, opts...))
			for _, v := range loadLegacyVectors(t) {
				if v.Legacy == "" && !v.Truncation {
					continue
				}
				rehash, err := p.Verify(t.Context(), v.Hash, v.Password)
				want := ErrInvalidHash
				if v.Truncation && v.Legacy == "" {
					want = ErrPasswordTooLong
				}
				if !errors.Is(err, want) || rehash {
					t.Errorf("%s: Verify = %v, %v; want false, %v", v.Source, rehash, err, want)
				}
				if err != nil && (strings.Contains(err.Error(), v.Hash) || strings.Contains(err.Error(), v.Password)) {
					t.Errorf("%s: error %q holds the hash or password", v.Source, err)
				}
				if got := hashes(); len(got) != 1 || got[0] != p.scheme {
					t.Errorf("%s: ran hashes %v; want one %s", v.Source, got, p.scheme)
				}
			}
		})
	}
}

// Enabling one scheme enables only its formats.
func TestLegacyEnablesOnlyItsFormats(t *testing.T) {
	t.Parallel()
	for name, s := range legacyByName {
		p := cheapDummy(newPasswords(t, WithLegacy(s), WithNFKC(testNFKC)))
		for _, v := range loadLegacyVectors(t) {
			if v.Legacy == "" || v.Legacy == name || !v.Valid || v.Truncation {
				continue
			}
			if _, err := p.Verify(t.Context(), v.Hash, v.Password); !errors.Is(err, ErrInvalidHash) {
				t.Errorf("WithLegacy(%s) verified %s: %v", name, v.Source, err)
			}
		}
	}
}

// Better Auth hashes NFKC(password): the normalizer given with WithNFKC is
// applied, and without the real normalization a compatibility character
// does not match.
func TestBetterAuthNFKC(t *testing.T) {
	t.Parallel()
	identity := newPasswords(t, WithLegacy(BetterAuthScrypt), WithNFKC(func(s string) string { return s }))
	nfkc := newPasswords(t, WithLegacy(BetterAuthScrypt), WithNFKC(testNFKC))
	n := 0
	for _, v := range loadLegacyVectors(t) {
		if !v.NFKC {
			continue
		}
		n++
		if _, err := identity.Verify(t.Context(), v.Hash, v.Password); !errors.Is(err, ErrPasswordMismatch) {
			t.Errorf("without NFKC: Verify = %v; want ErrPasswordMismatch", err)
		}
		if _, err := nfkc.Verify(t.Context(), v.Hash, testNFKC(v.Password)); err != nil {
			t.Errorf("the normalized form itself: Verify = %v; want nil", err)
		}
	}
	if n == 0 {
		t.Fatal("no NFKC vector")
	}
	if _, err := NewPasswords(WithLegacy(BetterAuthScrypt)); err == nil {
		t.Error("NewPasswords(WithLegacy(BetterAuthScrypt)) without WithNFKC: no error")
	}
	for _, s := range []LegacyScheme{0, 0x80} {
		if _, err := NewPasswords(WithLegacy(s)); err == nil {
			t.Errorf("NewPasswords(WithLegacy(%v)): no error", s)
		}
	}
}

// bcrypt truncation is opt-in and verify-only: with it, a long password
// matches on its first 72 bytes and asks for a rehash over the whole
// password; new bcrypt hashes still refuse it; a different 72-byte prefix
// still fails.
func TestBcryptTruncation(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 72) + "tail"
	const hash72 = "$2b$10$Fl.yFusUTElgi9aKga.NyuOkmcFJqTVs0DJs6Y5MdtsLyvdREN88C" // python bcrypt, 72 × "a"
	p := newPasswords(t, WithInsecureBcryptTruncation())
	if rehash, err := p.Verify(t.Context(), hash72, long); err != nil || !rehash {
		t.Errorf("Verify(72 bytes + tail) = %v, %v; want true, nil", rehash, err)
	}
	if rehash, err := p.Verify(t.Context(), hash72, strings.Repeat("a", 72)); err != nil || !rehash {
		t.Errorf("Verify(exactly 72 bytes) = %v, %v; want true (another scheme), nil", rehash, err)
	}
	if _, err := p.Verify(t.Context(), hash72, "b"+long[1:]); !errors.Is(err, ErrPasswordMismatch) {
		t.Errorf("Verify(other prefix) = %v; want ErrPasswordMismatch", err)
	}
	bc := newPasswords(t, WithBcrypt(10), WithInsecureBcryptTruncation())
	if _, err := bc.Hash(t.Context(), long); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("bcrypt Hash(76 bytes) with truncation = %v; want ErrPasswordTooLong", err)
	}
	if rehash, err := bc.Verify(t.Context(), mustHash(t, bc, strings.Repeat("a", 72)), long); err != nil || !rehash {
		t.Errorf("bcrypt policy, Verify(72 bytes + tail) = %v, %v; want true, nil", rehash, err)
	}
	h, err := p.Hash(t.Context(), long)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(t.Context(), h, strings.Repeat("a", 72)); !errors.Is(err, ErrPasswordMismatch) {
		t.Errorf("the rehash covers only 72 bytes: %v", err)
	}
}

// Parameters read from a legacy hash are bounded: a tampered row fails
// closed with ErrInvalidHash after one dummy hash, never the work it asks.
// (That the dummy is of the policy's scheme is TestLegacyOptIn's: here it
// is a cheap bcrypt, so the count shows which hash ran.)
func TestLegacyBounds(t *testing.T) {
	t.Parallel()
	key32 := "Qm9vAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	hex64 := strings.Repeat("ab", 32)
	hex128 := strings.Repeat("ab", 64)
	ab64key := "0v1bL5ubfxGMjIrz3HSTbm8jz8Hdfs6Y0XIJfJlQMeM"
	tampered := []string{
		"pbkdf2_sha256$5000001$salt$" + key32,
		"pbkdf2_sha256$4294967296000$salt$" + key32,
		"pbkdf2_sha256$0$salt$" + key32,
		"pbkdf2_sha256$-1$salt$" + key32,
		"pbkdf2_sha256$0260000$salt$" + key32,
		"pbkdf2_sha256$260000$$" + key32,
		"pbkdf2_sha256$260000$" + strings.Repeat("s", 129) + "$" + key32,
		"pbkdf2_sha256$260000$salt$" + key32[:40],
		"pbkdf2_sha256$260000$salt$" + key32 + "$",
		"pbkdf2_sha256$260000$salt$Qm9vAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=",
		"pbkdf2_sha1$260000$salt$" + key32,
		"argon2$argon2i$v=19$m=102400,t=2,p=8$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
		"argon2$argon2id$v=19$m=4294967295,t=2,p=8$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
		"bcrypt_sha256$$2b$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"bcrypt$$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvy",
		"pbkdf2:sha256:5000001$salt$" + hex64,
		"pbkdf2:sha256$salt$" + hex64,
		"pbkdf2:md5:1000$salt$" + strings.Repeat("ab", 16),
		"pbkdf2:sha256:1000$salt$" + strings.ToUpper(hex64),
		"pbkdf2:sha256:1000$salt$" + hex64[:62],
		"scrypt:2097152:8:1$salt$" + hex128,
		"scrypt:32768:33:1$salt$" + hex128,
		"scrypt:32768:8:17$salt$" + hex128,
		"scrypt:32767:8:1$salt$" + hex128,
		"scrypt:1048576:2:1$salt$" + hex128, // 256 MiB
		"scrypt:262144:8:4$salt$" + hex128,  // N·r·p = 2^23
		"scrypt:65536:16:1$salt$" + hex128,  // 128 MiB
		"scrypt:32768:8:16$salt$" + hex128,  // N·r·p = 2^22
		"scrypt:1:8:1$salt$" + hex128,
		"scrypt$salt$" + hex128,
		"scrypt:32768:8:1$salt$" + hex64,
		"$pbkdf2-sha256$5000001$N2bMWWuNUUqJsfY.xzhn7A$" + ab64key,
		"$pbkdf2-sha256$29000$$" + ab64key,
		"$pbkdf2-sha256$29000$N2bMWWuNUUqJsfY+xzhn7A$" + ab64key,
		"$pbkdf2-sha256$29000$N2bMWWuNUUqJsfY.xzhn7A$" + ab64key[:40],
		"$pbkdf2-sha256$29000$N2bMWWuNUUqJsfY.xzhn7A$" + ab64key + "$",
		"0123456789abcdef:" + hex64,
		"0123456789abcdef:" + strings.ToUpper(hex128),
		strings.Repeat("ab", 65) + ":" + hex128,
		"0123456789abcdef:" + hex128 + ":00",
		":" + hex128,
		"!",
	}
	p, hashes := countHashes(cheapDummy(newPasswords(t, WithLegacy(DjangoHashers, WerkzeugHashes, PasslibPBKDF2, BetterAuthScrypt), WithNFKC(testNFKC))))
	for _, h := range tampered {
		rehash, err := p.Verify(t.Context(), h, "password")
		if !errors.Is(err, ErrInvalidHash) || rehash {
			t.Errorf("Verify(%q) = %v, %v; want false, ErrInvalidHash", h, rehash, err)
		}
		if got := hashes(); len(got) != 1 || got[0] != schemeBcrypt {
			t.Errorf("Verify(%q) ran hashes %v; want one bcrypt (the dummy)", h, got)
		}
	}
}

// The PHC parameters may come in any order, each once (node-argon2 0.45
// writes m,p,t; @adonisjs/hash t,m,p).
func TestArgon2idParameterOrder(t *testing.T) {
	t.Parallel()
	p := newPasswords(t)
	h := mustHash(t, p, "password1")
	params := strings.Split(h, "$")[3] // m=19456,t=2,p=1
	kv := strings.Split(params, ",")
	for _, order := range [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
		permuted := strings.Replace(h, params, kv[order[0]]+","+kv[order[1]]+","+kv[order[2]], 1)
		if rehash, err := p.Verify(t.Context(), permuted, "password1"); err != nil || rehash {
			t.Errorf("Verify(%s) = %v, %v; want false, nil", permuted, rehash, err)
		}
	}
}

// A legacy user logs in with the old password, and that login stores the
// policy's hash; the next login uses it.
func TestLoginMigratesLegacyHashes(t *testing.T) {
	t.Parallel()
	p := newPasswords(t, WithLegacy(DjangoHashers, WerkzeugHashes, PasslibPBKDF2, BetterAuthScrypt),
		WithNFKC(testNFKC), WithInsecureBcryptTruncation())
	f := newFixture(t, WithPasswords(p), WithHashWait(time.Minute)) // -race on a busy machine
	srv := authServer(t, f)
	picked := map[string]bool{}
	i := 0
	for _, v := range loadLegacyVectors(t) {
		kind := v.Legacy
		if v.Truncation {
			kind += "+truncation"
		}
		if !v.Valid || picked[kind] || v.NFKC {
			continue
		}
		picked[kind] = true
		i++
		login, id := "legacy"+string(rune('a'+i))+"@example.com", "L"+string(rune('a'+i))
		f.users.Put(login, Account{ID: id, PasswordHash: v.Hash, Active: true})
		body, _ := json.Marshal(map[string]string{"username": login, "password": v.Password})
		if res := do(t, srv, "POST", "/auth/login", jsonType, string(body)); res.status != 200 {
			t.Errorf("%s: first login %d", v.Source, res.status)
			continue
		}
		a, _, _ := f.users.User(context.Background(), id)
		if _, err := parseArgon2id(a.PasswordHash); err != nil {
			t.Errorf("%s: stored hash not moved to the policy: %.20q", v.Source, a.PasswordHash)
		}
		if res := do(t, srv, "POST", "/auth/login", jsonType, string(body)); res.status != 200 {
			t.Errorf("%s: login with the new hash %d", v.Source, res.status)
		}
	}
	if len(picked) < 5 {
		t.Errorf("only %d kinds of legacy hash tried", len(picked))
	}
}

// Lowering the policy moves hashes down (argon2-cffi's rule): after a
// login under m=12288,t=3, the stored hash has those parameters.
func TestLoginRehashesDownToLowerPolicy(t *testing.T) {
	t.Parallel()
	lower := Argon2Params{Memory: 12288, Time: 3, Threads: 1}
	var hashes atomic.Int32
	p := newPasswords(t, WithArgon2id(lower))
	p.onHash = func() { hashes.Add(1) }
	f := newFixture(t, WithPasswords(p), WithHashWait(time.Minute)) // alice: m=19456,t=2,p=1
	srv := authServer(t, f)
	if res := do(t, srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", alicePassword)); res.status != 200 {
		t.Fatalf("login: %d", res.status)
	}
	a, _, _ := f.users.User(context.Background(), "u1")
	h, err := parseArgon2id(a.PasswordHash)
	if err != nil || h.params != lower {
		t.Fatalf("stored hash has %+v (%v); want %+v", h.params, err, lower)
	}
	if got := hashes.Load(); got != 2 {
		t.Errorf("login with a rehash ran %d hashes; want 2 (verify, then hash)", got)
	}
	hashes.Store(0)
	if res := do(t, srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", alicePassword)); res.status != 200 {
		t.Fatalf("second login: %d", res.status)
	}
	if got := hashes.Load(); got != 1 {
		t.Errorf("login at the policy ran %d hashes; want 1 (no rehash)", got)
	}
}
