package auth

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// unusableHashes are stored values a login cannot check the password
// against: each must still cost one hash of the policy's scheme (Django
// CVE-2024-39329: a marker or foreign hash failed in microseconds, so login
// time told which names exist).
var unusableHashes = []struct{ name, hash string }{
	{"Django unusable marker", "!Zx3dVhE9e1c4tSRsN6u8Ykbn7oIg2pQAfvWw0XmL"},
	{"bare marker", "!"},
	{"garbage", "garbage"},
	{"argon2id out-of-bounds memory", "$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo"},
	{"argon2id t=0", "$argon2id$v=19$m=19456,t=0,p=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo"},
	{"argon2i unsupported", "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"},
	{"bcrypt cost 31", "$2a$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
	{"bcrypt truncated", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe"},
	{"passlib pbkdf2 not enabled", "$pbkdf2-sha256$29000$N2bMWWuNUUqJsfY.xzhn7A$0v1bL5ubfxGMjIrz3HSTbm8jz8Hdfs6Y0XIJfJlQMeM"},
	{"Django pbkdf2 not enabled", "pbkdf2_sha256$260000$abcdefghijklmnopqrstuv$Qm9vAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
	{"Werkzeug scrypt not enabled", "scrypt:32768:8:1$abcdefghijklmnop$00"},
	{"Better Auth not enabled", "0123456789abcdef0123456789abcdef:" + strings.Repeat("ab", 64)},
	{"scrypt PHC", "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E"},
}

// Every credential failure through the login handler costs one hash of the
// policy's scheme: unknown user, and any stored value the policy cannot use,
// under both policies; a wrong password for a user whose hash is at the
// policy (active or disabled) costs that one hash, and for one whose hash is
// not (the fixture's argon2id users under a bcrypt policy), that hash and
// the policy's dummy. Each scheme run is recorded, not just counted.
//
// Not parallel, like the legacy tests: ~30 costly hashes.
func TestLoginFailureCostsOneHash(t *testing.T) {
	for name, opts := range map[string][]PasswordOption{"argon2id": nil, "bcrypt": {WithBcrypt(10)}} {
		t.Run(name, func(t *testing.T) {
			p := newPasswords(t, opts...)
			var mu sync.Mutex
			var schemes []string
			p.onScheme = func(s string) { mu.Lock(); schemes = append(schemes, s); mu.Unlock() }
			f := newFixture(t, WithPasswords(p), WithHashWait(time.Minute)) // -race on a busy machine
			srv := authServer(t, f)
			for i, h := range unusableHashes {
				f.users.Put(h.name+"@example.com", Account{ID: "x" + string(rune('a'+i)), PasswordHash: h.hash, Active: true})
			}
			want := map[string][]string{"nobody@example.com": {p.scheme}}
			for _, login := range []string{"ghost@example.com", "alice@example.com"} { // argon2id hashes
				want[login] = []string{schemeArgon2id}
				if p.scheme != schemeArgon2id {
					want[login] = []string{schemeArgon2id, p.scheme}
				}
			}
			for _, h := range unusableHashes {
				want[h.name+"@example.com"] = []string{p.scheme}
			}
			for login, want := range want {
				mu.Lock()
				schemes = nil
				mu.Unlock()
				res := do(t, srv, "POST", "/auth/login", formType, form("username", login, "password", "wrong password"))
				if res.status != 401 {
					t.Errorf("login as %s: status %d; want 401", login, res.status)
				}
				mu.Lock()
				if !slices.Equal(schemes, want) {
					t.Errorf("login as %s: hashes %v; want %v", login, schemes, want)
				}
				mu.Unlock()
			}
		})
	}
}

// Many goroutines failing at once on unusable hashes still cost one hash
// each: the count is per call, not per policy.
func TestVerifyUnusableHashConcurrent(t *testing.T) {
	t.Parallel()
	p := newPasswords(t, WithBcrypt(10))
	var hashes atomic.Int32
	p.onHash = func() { hashes.Add(1) }
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p.Verify(context.Background(), unusableHashes[i%len(unusableHashes)].hash, "password")
		})
	}
	wg.Wait()
	if got := hashes.Load(); got != n {
		t.Errorf("%d failing calls ran %d hashes; want %d", n, got, n)
	}
}

// CheckPassword, the re-authentication check, costs one hash per failure
// too, whatever the stored value.
func TestCheckPasswordFailureCostsOneHash(t *testing.T) {
	p := newPasswords(t)
	var hashes atomic.Int32
	p.onHash = func() { hashes.Add(1) }
	f := newFixture(t, WithPasswords(p), WithHashWait(time.Minute))
	ids := []string{"no-such-user", "u3"} // unknown, disabled
	for i, h := range unusableHashes {
		id := "c" + string(rune('a'+i))
		f.users.Put(id+"@example.com", Account{ID: id, PasswordHash: h.hash, Active: true})
		ids = append(ids, id)
	}
	for _, id := range ids {
		hashes.Store(0)
		r := httptest.NewRequest("POST", "/auth/password", nil)
		if _, err := f.a.CheckPassword(r, id, "wrong password"); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("CheckPassword(%s) = %v; want ErrInvalidCredentials", id, err)
		}
		if got := hashes.Load(); got != 1 {
			t.Errorf("CheckPassword(%s): %d hashes; want 1", id, got)
		}
	}
}

// A wrong password against a usable hash costs that hash, plus the policy's
// dummy when the hash is not at the policy, so no failure is quicker than
// an unknown user's; at the policy it costs the one hash.
func TestVerifyMismatchNeverCheaperThanDummy(t *testing.T) {
	t.Parallel()
	p := newPasswords(t)
	const openwall = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW" // "U*U", bcrypt cost 5
	weak := mustHash(t, newPasswords(t, WithArgon2id(Argon2Params{Memory: 7168, Time: 5, Threads: 1})), "U*U")
	tests := []struct {
		name string
		hash string
		want []string
	}{
		{"at the policy", mustHash(t, p, "U*U"), []string{schemeArgon2id}},
		{"bcrypt cost 5", openwall, []string{schemeBcrypt, schemeArgon2id}},
		{"argon2id other parameters", weak, []string{schemeArgon2id, schemeArgon2id}},
	}
	for _, tt := range tests {
		q, hashes := countHashes(p)
		if _, err := q.Verify(t.Context(), tt.hash, "wrong"); !errors.Is(err, ErrPasswordMismatch) {
			t.Errorf("%s: Verify = %v; want ErrPasswordMismatch", tt.name, err)
		}
		if got := hashes(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: ran hashes %v; want %v", tt.name, got, tt.want)
		}
		if _, err := q.Verify(t.Context(), tt.hash, "U*U"); err != nil {
			t.Errorf("%s: Verify(right) = %v", tt.name, err)
		}
		if got := hashes(); len(got) != 1 {
			t.Errorf("%s: a match ran hashes %v; want one", tt.name, got)
		}
	}
}

// A bcrypt string that parses (cost, length) but whose salt x/crypto cannot
// decode fails inside the compare, before any hashing: the dummy still runs.
func TestVerifyBadBcryptSaltCostsDummy(t *testing.T) {
	t.Parallel()
	p, hashes := countHashes(newPasswords(t))
	bad := "$2a$05$" + strings.Repeat("!", 53)
	if _, err := bcrypt.Cost([]byte(bad)); err != nil || len(bad) != bcryptHashLen {
		t.Fatalf("premise: %q should pass the parse (%v)", bad, err)
	}
	if _, err := p.Verify(t.Context(), bad, "U*U"); !errors.Is(err, ErrInvalidHash) {
		t.Errorf("Verify = %v; want ErrInvalidHash", err)
	}
	if got := hashes(); !slices.Equal(got, []string{schemeBcrypt, schemeArgon2id}) {
		t.Errorf("ran hashes %v; want the (empty) bcrypt attempt, then one argon2id", got)
	}
}
