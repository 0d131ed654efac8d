package auth

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// Hashes written by other implementations (generated with Debian's
// python3-argon2 21.1.0, python3-passlib 1.7.4, python3-bcrypt 3.2.2, the
// reference argon2 command, and node's bcrypt 6.0.0 and bcryptjs 2.4.3 from
// npm), plus two published vectors: PHP's password_verify example and
// Openwall's crypt_blowfish test.
var foreignHashes = []struct {
	name, hash, password string
	rehashArgon          bool // under the default argon2id policy
	rehashBcrypt12       bool // under WithBcrypt(12)
}{
	{"argon2-cffi default", "$argon2id$v=19$m=102400,t=2,p=8$07JcwdMPBEkUlAupy+gklA$2RLacpu8OTnqahKX7fbXUQ", "correct horse battery staple", true, true},
	{"argon2-cffi OWASP", "$argon2id$v=19$m=19456,t=2,p=1$9kWkd0v+rSkCk696xVTJpA$UFaZdSmXNxv/NNtCmnJkhQ", "pässwörd 🔑", true, true},
	{"passlib argon2", "$argon2id$v=19$m=102400,t=2,p=8$gxBirDXGOAdgrLXWeu/9Hw$N3SNHTVMimss6WMegmiKfg", "secret", true, true},
	{"reference argon2", "$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo", "password", true, true},
	{"passlib bcrypt 12", "$2b$12$rKTjvcVdzAjoQqxQEWqo1.nDFufvzuC7q7SBD0lnAF3Delc76SXYK", "secret", true, false},
	{"pybcrypt 2b 10", "$2b$10$A4bsYZECVz8yQI3j3jeFq.iN/9ZEFObmtt0UrTwkdDdLX0Qs4B5pe", "hunter2", true, true},
	{"node bcrypt 2b 10", "$2b$10$rkxzePQ7dngGXMWUHXHlbeRhmSfJC9MWQRZqQOSxtdIWd5d2iBhfa", "native node secret", true, true},
	{"node bcryptjs 2a 10", "$2a$10$ZQvUsGpI5y1AbIsL/72WKeyAORDExn8niiUfp5WRjubsBLFu6Q8Qm", "node secret", true, true},
	{"PHP 2y 10", "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a", "rasmuslerdorf", true, true},
	{"Openwall 2a 05", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U", true, true},
}

func newPasswords(t testing.TB, opts ...PasswordOption) *Passwords {
	t.Helper()
	p, err := NewPasswords(opts...)
	if err != nil {
		t.Fatalf("NewPasswords: %v", err)
	}
	return p
}

func TestVerifyForeignHashes(t *testing.T) {
	t.Parallel()
	argon := newPasswords(t)
	bc := newPasswords(t, WithBcrypt(12))
	for _, tt := range foreignHashes {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rehash, err := argon.Verify(t.Context(), tt.hash, tt.password)
			if err != nil || rehash != tt.rehashArgon {
				t.Errorf("argon2id policy: Verify = %v, %v; want %v, nil", rehash, err, tt.rehashArgon)
			}
			rehash, err = bc.Verify(t.Context(), tt.hash, tt.password)
			if err != nil || rehash != tt.rehashBcrypt12 {
				t.Errorf("bcrypt policy: Verify = %v, %v; want %v, nil", rehash, err, tt.rehashBcrypt12)
			}
			rehash, err = argon.Verify(t.Context(), tt.hash, tt.password+"x")
			if !errors.Is(err, ErrPasswordMismatch) || rehash {
				t.Errorf("wrong password: Verify = %v, %v; want false, ErrPasswordMismatch", rehash, err)
			}
		})
	}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	policies := map[string]*Passwords{
		"argon2id": newPasswords(t),
		"bcrypt":   newPasswords(t, WithBcrypt(10)),
	}
	// Bytes are hashed as given: no trimming, no Unicode normalization.
	tests := []struct {
		name, password, other string
	}{
		{"ascii", "correct horse", "Correct horse"},
		{"emoji", "🔑🔑🔑🔑", "🔑🔑🔑"},
		{"NFC is not NFD", "caf\u00e9", "cafe\u0301"},
		{"spaces kept", " secret ", "secret"},
		{"NUL kept", "pa\x00ss", "pa"},
		{"72 bytes", strings.Repeat("a", 72), strings.Repeat("a", 71)},
	}
	for name, p := range policies {
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				h, err := p.Hash(t.Context(), tt.password)
				if err != nil {
					t.Fatalf("Hash: %v", err)
				}
				if strings.Contains(h, tt.password) {
					t.Errorf("hash %q contains the password", h)
				}
				if rehash, err := p.Verify(t.Context(), h, tt.password); err != nil || rehash {
					t.Errorf("Verify(own hash) = %v, %v; want false, nil", rehash, err)
				}
				if _, err := p.Verify(t.Context(), h, tt.other); !errors.Is(err, ErrPasswordMismatch) {
					t.Errorf("Verify(%q) = %v; want ErrPasswordMismatch", tt.other, err)
				}
			})
		}
	}
}

func TestHashFormat(t *testing.T) {
	t.Parallel()
	h, err := newPasswords(t).Hash(t.Context(), "secret password")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := parseArgon2id(h)
	if err != nil {
		t.Fatalf("parseArgon2id(%q): %v", h, err)
	}
	if parsed.params != DefaultArgon2Params || len(parsed.salt) != 16 || len(parsed.key) != 32 {
		t.Errorf("hash %q: params %+v, salt %d bytes, key %d bytes; want %+v, 16, 32",
			h, parsed.params, len(parsed.salt), len(parsed.key), DefaultArgon2Params)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not a PHC argon2id string with the default parameters", h)
	}
	h2, _ := newPasswords(t).Hash(t.Context(), "secret password")
	if h == h2 {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	b, err := newPasswords(t, WithBcrypt(11)).Hash(t.Context(), "secret password")
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(b)); err != nil || cost != 11 || !strings.HasPrefix(b, "$2a$") && !strings.HasPrefix(b, "$2b$") {
		t.Errorf("bcrypt hash %q: cost %d, %v; want a $2a$/$2b$ hash of cost 11", b, cost, err)
	}
}

// x/crypto's CompareHashAndPassword ignores bytes past 72; Verify must not.
func TestBcrypt72ByteLimit(t *testing.T) {
	t.Parallel()
	const hash72 = "$2b$10$Fl.yFusUTElgi9aKga.NyuOkmcFJqTVs0DJs6Y5MdtsLyvdREN88C" // python bcrypt, 72 × "a"
	long := strings.Repeat("a", 72) + "x"
	if err := bcrypt.CompareHashAndPassword([]byte(hash72), []byte(long)); err != nil {
		t.Fatalf("x/crypto no longer ignores byte 73 (%v): this test needs a new premise", err)
	}
	p := newPasswords(t)
	if _, err := p.Verify(t.Context(), hash72, strings.Repeat("a", 72)); err != nil {
		t.Errorf("Verify(72 bytes) = %v; want nil", err)
	}
	if _, err := p.Verify(t.Context(), hash72, long); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("Verify(73 bytes) = %v; want ErrPasswordTooLong", err)
	}
	bc := newPasswords(t, WithBcrypt(10))
	if _, err := bc.Hash(t.Context(), long); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("bcrypt Hash(73 bytes) = %v; want ErrPasswordTooLong", err)
	}
}

func TestHashRejects(t *testing.T) {
	t.Parallel()
	argon := newPasswords(t)
	bc := newPasswords(t, WithBcrypt(10))
	tests := []struct {
		name     string
		p        *Passwords
		password string
		want     error
	}{
		{"empty argon2id", argon, "", ErrPasswordTooShort},
		{"empty bcrypt", bc, "", ErrPasswordTooShort},
		{"73 bytes bcrypt", bc, strings.Repeat("x", 73), ErrPasswordTooLong},
		{"1025 bytes argon2id", argon, strings.Repeat("x", 1025), ErrPasswordTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			p := *tt.p // the policies are shared: count on a copy
			p.onHash = func() { calls.Add(1) }
			h, err := p.Hash(t.Context(), tt.password)
			if !errors.Is(err, tt.want) || h != "" {
				t.Errorf("Hash = %q, %v; want \"\", %v", h, err, tt.want)
			}
			if calls.Load() != 0 {
				t.Errorf("a refused password was hashed %d times", calls.Load())
			}
		})
	}
	if h, err := argon.Hash(t.Context(), strings.Repeat("é", 512)); err != nil || h == "" {
		t.Errorf("argon2id Hash(1024 bytes) = %q, %v; want a hash", h, err)
	}
	if _, err := argon.Verify(t.Context(), foreignHashes[0].hash, strings.Repeat("x", 1025)); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("Verify(1025 bytes) = %v; want ErrPasswordTooLong", err)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	p := newPasswords(t)
	tests := []struct {
		name, password string
		want           error
	}{
		{"7 characters", "1234567", ErrPasswordTooShort},
		{"8 characters", "12345678", nil},
		{"8 emoji count as 8", "🔑🔑🔑🔑🔑🔑🔑🔑", nil},
		{"64 emoji", strings.Repeat("🔑", 64), nil},
		{"too many bytes", strings.Repeat("🔑", 257), ErrPasswordTooLong},
	}
	for _, tt := range tests {
		if got := p.Check(tt.password); !errors.Is(got, tt.want) {
			t.Errorf("%s: Check = %v; want %v", tt.name, got, tt.want)
		}
	}
	if got := newPasswords(t, WithBcrypt(10)).Check(strings.Repeat("🔑", 19)); !errors.Is(got, ErrPasswordTooLong) {
		t.Errorf("bcrypt Check(76 bytes) = %v; want ErrPasswordTooLong", got)
	}
}

func TestRehash(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	argon := newPasswords(t)
	stronger := newPasswords(t, WithArgon2id(Argon2Params{Memory: 47104, Time: 2, Threads: 1}))
	bc10 := newPasswords(t, WithBcrypt(10))
	bc11 := newPasswords(t, WithBcrypt(11))
	argonHash, _ := argon.Hash(ctx, "password1")
	bc10Hash, _ := bc10.Hash(ctx, "password1")
	bc11Hash, _ := bc11.Hash(ctx, "password1")
	tests := []struct {
		name   string
		p      *Passwords
		hash   string
		rehash bool
	}{
		{"argon2id at policy", argon, argonHash, false},
		{"argon2id below policy memory", stronger, argonHash, true},
		{"argon2id above policy", argon, mustHash(t, stronger, "password1"), true},
		{"bcrypt under argon2id policy", argon, bc10Hash, true},
		{"argon2id under bcrypt policy", bc10, argonHash, true},
		{"bcrypt at policy cost", bc10, bc10Hash, false},
		{"bcrypt below policy cost", bc11, bc10Hash, true},
		{"bcrypt above policy cost", bc10, bc11Hash, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if rehash, err := tt.p.Verify(ctx, tt.hash, "password1"); err != nil || rehash != tt.rehash {
				t.Errorf("Verify(right password) = %v, %v; want %v, nil", rehash, err, tt.rehash)
			}
			if rehash, err := tt.p.Verify(ctx, tt.hash, "password2"); !errors.Is(err, ErrPasswordMismatch) || rehash {
				t.Errorf("Verify(wrong password) = %v, %v; want false, ErrPasswordMismatch", rehash, err)
			}
		})
	}
}

func mustHash(t testing.TB, p *Passwords, pw string) string {
	t.Helper()
	h, err := p.Hash(t.Context(), pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// invalidHashes are stored hashes that must be refused with ErrInvalidHash,
// without a panic and without costing what their parameters ask.
var invalidHashes = []string{
	"",
	"garbage",
	"$argon2id$v=16$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=19456,t=0,p=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=19456,t=2,p=0$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=19456,t=4294967295,p=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=19456,t=2,p=255$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=16,t=2,p=4$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=019456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=+19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$t=2,m=19456,m=19456$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=19456,t=2,p=1,p=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=19456,t=2$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=19456,t=2,x=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=19456,t=2,p=1,data=YWQ$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=19456,,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$M=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"!",
	"!unusable-django-marker",
	"$argon2id$v=19$m=19456,t=2,p=1,keyid=x$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=19456,t=2,p=1$$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AA",
	"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA==$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK_oH9p7VIiV56G-64Zo_8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo$",
	"$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
	"$argon2d$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
	"$2a$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
	"$2a$17$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
	"$2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
	"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe",
	"$2a$05$",
	"$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
	"$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
	"$pbkdf2-sha256$29000$N2bMWWuNUUqJsfY.xzhn7A$0v1bL5ubfxGMjIrz3HSTbm8jz8Hdfs6Y0XIJfJlQMeM",
}

// An unusable stored hash is refused with ErrInvalidHash after exactly one
// hash of the policy's scheme (the dummy check), never one its own
// parameters ask for.
// (Not parallel: ~90 dummy hashes, see legacy_test.go.)
func TestVerifyInvalidHashes(t *testing.T) {
	for name, opts := range map[string][]PasswordOption{"argon2id": nil, "bcrypt": {WithBcrypt(10)}} {
		t.Run(name, func(t *testing.T) {
			testVerifyInvalidHashes(t, newPasswords(t, opts...))
		})
	}
}

func testVerifyInvalidHashes(t *testing.T, p *Passwords) {
	for _, h := range invalidHashes {
		if h == "" {
			continue // the dummy path, tested below
		}
		var calls atomic.Int32
		var schemes []string
		q := *p
		q.onHash = func() { calls.Add(1) }
		q.onScheme = func(s string) { schemes = append(schemes, s) }
		rehash, err := q.Verify(t.Context(), h, "password")
		if !errors.Is(err, ErrInvalidHash) || rehash {
			t.Errorf("Verify(%q) = %v, %v; want false, ErrInvalidHash", h, rehash, err)
		}
		if calls.Load() != 1 || len(schemes) != 1 || schemes[0] != p.scheme {
			t.Errorf("Verify(%q) ran hashes %v; want one %s", h, schemes, p.scheme)
		}
		if err != nil && strings.Contains(err.Error(), h) {
			t.Errorf("error %q contains the stored hash", err)
		}
	}
}

// An unknown user is verified against the dummy hash: one hash, as for a
// known user, and always a mismatch.
func TestVerifyUnknownUserRunsOneHash(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]PasswordOption{"argon2id": nil, "bcrypt": {WithBcrypt(10)}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newPasswords(t, opts...)
			var calls atomic.Int32
			p.onHash = func() { calls.Add(1) }
			known := mustHash(t, p, "password1")
			for range 2 {
				calls.Store(0)
				if rehash, err := p.Verify(t.Context(), "", "password1"); !errors.Is(err, ErrPasswordMismatch) || rehash {
					t.Errorf("Verify(no hash) = %v, %v; want false, ErrPasswordMismatch", rehash, err)
				}
				if got := calls.Load(); got != 1 {
					t.Errorf("unknown user: %d hashes; want 1", got)
				}
				calls.Store(0)
				p.Verify(t.Context(), known, "wrong password")
				if got := calls.Load(); got != 1 {
					t.Errorf("known user: %d hashes; want 1", got)
				}
			}
		})
	}
}

func TestNewPasswordsRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []PasswordOption
	}{
		{"bcrypt cost 0", []PasswordOption{WithBcrypt(0)}},
		{"bcrypt cost 9", []PasswordOption{WithBcrypt(9)}},
		{"bcrypt cost 17", []PasswordOption{WithBcrypt(17)}},
		{"argon2id below OWASP for t=2", []PasswordOption{WithArgon2id(Argon2Params{Memory: 19455, Time: 2, Threads: 1})}},
		{"argon2id below OWASP for t=1", []PasswordOption{WithArgon2id(Argon2Params{Memory: 19456, Time: 1, Threads: 1})}},
		{"argon2id t=0", []PasswordOption{WithArgon2id(Argon2Params{Memory: 65536, Time: 0, Threads: 1})}},
		{"argon2id p=0", []PasswordOption{WithArgon2id(Argon2Params{Memory: 65536, Time: 2, Threads: 0})}},
		{"argon2id m over 1 GiB", []PasswordOption{WithArgon2id(Argon2Params{Memory: 1<<20 + 1, Time: 2, Threads: 1})}},
		{"no hash slots", []PasswordOption{WithMaxConcurrentHashes(0)}},
		{"min length 0", []PasswordOption{WithPasswordLength(0, 64)}},
		{"max below min", []PasswordOption{WithPasswordLength(8, 7)}},
	}
	for _, tt := range tests {
		if p, err := NewPasswords(tt.opts...); err == nil || p != nil {
			t.Errorf("%s: NewPasswords = %v, %v; want an error", tt.name, p, err)
		}
	}
	for _, p := range []Argon2Params{{47104, 1, 1}, {12288, 3, 1}, {9216, 4, 1}, {7168, 5, 1}, {65536, 3, 4}} {
		if _, err := NewPasswords(WithArgon2id(p)); err != nil {
			t.Errorf("NewPasswords(%+v) = %v; want OWASP's pairs accepted", p, err)
		}
	}
}

func TestHashWaitsForSlot(t *testing.T) {
	t.Parallel()
	p := newPasswords(t, WithMaxConcurrentHashes(1))
	if err := p.acquire(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Hash(ctx, "password1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with every slot busy and a done context = %v; want context.Canceled", err)
	}
	if _, err := p.Verify(ctx, foreignHashes[1].hash, "password1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with every slot busy and a done context = %v; want context.Canceled", err)
	}
	p.release()
	if _, err := p.Hash(t.Context(), "password1"); err != nil {
		t.Errorf("Hash after the slot was freed = %v", err)
	}
}

func TestHashConcurrencyBound(t *testing.T) {
	t.Parallel()
	const bound, callers = 2, 6
	p := newPasswords(t, WithMaxConcurrentHashes(bound))
	var active, peak atomic.Int32
	entered := make(chan struct{}, callers)
	proceed := make(chan struct{})
	p.onHash = func() {
		n := active.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		entered <- struct{}{}
		<-proceed
		active.Add(-1)
	}
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if _, err := p.Hash(context.Background(), "password1"); err != nil {
				t.Error(err)
			}
		})
	}
	for range callers {
		<-entered // at most `bound` callers can be inside at once
		proceed <- struct{}{}
	}
	wg.Wait()
	if got := peak.Load(); got > bound || got < 1 {
		t.Errorf("peak concurrent hashes = %d; want 1..%d", got, bound)
	}
}

func FuzzParseArgon2id(f *testing.F) {
	for _, h := range invalidHashes {
		f.Add(h)
	}
	for _, h := range foreignHashes {
		f.Add(h.hash)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseArgon2id(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidHash) {
				t.Fatalf("parseArgon2id(%q) = %v; want ErrInvalidHash", s, err)
			}
			return
		}
		p := h.params
		if p.Time < 1 || p.Time > argon2MaxTime || p.Threads < 1 || p.Threads > argon2MaxLanes ||
			p.Memory > argon2MaxMemory || p.Memory < 8*uint32(p.Threads) ||
			len(h.salt) < argon2MinSalt || len(h.key) < argon2MinKey {
			t.Fatalf("parseArgon2id(%q) accepted out-of-bounds parameters %+v", s, h)
		}
		// The parameters may come in any order, but each number has one
		// spelling: the canonical form has the same length and parses alike.
		if c := h.String(); len(c) != len(s) {
			t.Fatalf("parseArgon2id(%q) accepted a non-canonical spelling of %q", s, c)
		} else if h2, err := parseArgon2id(c); err != nil || h2.String() != c {
			t.Fatalf("canonical form %q of %q does not parse back: %v", c, s, err)
		}
	})
}

// FuzzVerifyHash feeds stored hashes of every format, legacy ones enabled,
// to Verify: it never panics, never accepts a hash that does not match,
// and refuses anything it cannot use with ErrInvalidHash (or
// ErrPasswordTooLong) after exactly one dummy hash.
func FuzzVerifyHash(f *testing.F) {
	for _, h := range invalidHashes {
		f.Add(h)
	}
	f.Add("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")
	if vs, err := legacyVectors(); err == nil {
		for _, v := range vs {
			f.Add(v.Hash)
		}
	}
	p, err := NewPasswords(WithLegacy(DjangoHashers, WerkzeugHashes, PasslibPBKDF2, BetterAuthScrypt), WithNFKC(testNFKC))
	if err != nil {
		f.Fatal(err)
	}
	// The dummy check is what every refusal costs: a cheap bcrypt here, so
	// that the fuzzer spends its executions on parsing, not on argon2id.
	cheapDummy(p)
	var hashes atomic.Int32
	p.onHash = func() { hashes.Add(1) }
	f.Fuzz(func(t *testing.T, hash string) {
		// Well-formed costly hashes (argon2id may ask for a GiB, bcrypt for
		// 2^16 rounds, PBKDF2 for millions of iterations) are slow and not
		// what this target is about: their parsing is tested by tables.
		_, perr := p.verifier(hash, "U*U")
		if perr == nil {
			if c, err := bcrypt.Cost([]byte(hash)); err != nil || c > 6 {
				return
			}
		}
		hashes.Store(0)
		_, err := p.Verify(context.Background(), hash, "U*U")
		// A refused hash costs the dummy; a usable one its own hash, plus
		// the dummy when it fails (a cheap bcrypt is never at the policy).
		want := int32(1)
		if perr == nil && err != nil {
			want = 2
		}
		if n := hashes.Load(); n != want {
			t.Fatalf("Verify(%q) = %v after %d hashes; want %d", hash, err, n, want)
		}
		if err == nil && hash != "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW" {
			// bcrypt's base64 has unused bits, so other spellings can match:
			// confirm with x/crypto that it is a genuine match.
			if bcrypt.CompareHashAndPassword([]byte(hash), []byte("U*U")) != nil {
				t.Fatalf("Verify accepted %q", hash)
			}
		}
		if err != nil && !errors.Is(err, ErrInvalidHash) && !errors.Is(err, ErrPasswordMismatch) && !errors.Is(err, ErrPasswordTooLong) {
			t.Fatalf("Verify(%q) = %v", hash, err)
		}
	})
}

func BenchmarkPasswords(b *testing.B) {
	ctx := context.Background()
	for _, pc := range []struct {
		name string
		opts []PasswordOption
	}{
		{"argon2id-default", nil},
		{"bcrypt-12", []PasswordOption{WithBcrypt(12)}},
	} {
		p := newPasswords(b, pc.opts...)
		hash, err := p.Hash(ctx, "correct horse battery staple")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(pc.name+"/hash", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Hash(ctx, "correct horse battery staple")
			}
		})
		b.Run(pc.name+"/verify", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Verify(ctx, hash, "correct horse battery staple")
			}
		})
		// An unknown user should cost what a known one does: compare with
		// verify above as a ratio.
		b.Run(pc.name+"/verify-unknown-user", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Verify(ctx, "", "correct horse battery staple")
			}
		})
	}
}

// Issue 11: by default hashing takes at most half the cores, so a flood of
// logins leaves the other half to requests that do not hash.
func TestHashSlotsDefaultHalfTheCores(t *testing.T) {
	for _, procs := range []int{1, 2, 3, 8} {
		old := runtime.GOMAXPROCS(procs)
		p := newPasswords(t)
		runtime.GOMAXPROCS(old)
		if want := max(procs/2, 1); cap(p.slots) != want {
			t.Errorf("GOMAXPROCS=%d: %d hash slots; want %d", procs, cap(p.slots), want)
		}
	}
	if p := newPasswords(t, WithMaxConcurrentHashes(5)); cap(p.slots) != 5 {
		t.Errorf("WithMaxConcurrentHashes(5): %d slots", cap(p.slots))
	}
}
