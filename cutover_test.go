package auth

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// fastAPIToken mints a token as the FastAPI tutorial does: HS256 with the
// old service's secret, header {"alg":"HS256","typ":"JWT"}, no jti.
func fastAPIToken(t *testing.T, secret []byte, sub, typ string, exp time.Time) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "exp": exp.Unix(), "type": typ}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Issue 13: an old service's tokens must survive the cut-over window,
// beside this package's own, without breaking the handlers.
func TestCutover(t *testing.T) {
	t.Parallel()
	oldSecret := []byte("the FastAPI app's SECRET_KEY, 32+ bytes long!!")
	oldKey, err := NewHMACKey("", "HS256", oldSecret)
	if err != nil {
		t.Fatal(err)
	}
	var f *fixture
	clock := func() time.Time { return f.clock() }
	old, err := NewExternalIssuer(oldKey, nil, WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	oldRefresh := func(tok string) (*Claims, error) {
		var c Claims
		_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return oldSecret, nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(clock))
		if err != nil || c.Type != RefreshToken {
			return nil, errors.New("not an old refresh token")
		}
		return &c, nil
	}
	until := testNow.Add(24 * time.Hour)
	f = newFixture(t, WithCutover(Cutover{Access: old, Refresh: oldRefresh, Until: until}))
	srv := sessionServer(t, f)

	// Before the cut-over, the FastAPI-shaped token is a "wrong token type" for Tokens.
	oldAccess := fastAPIToken(t, oldSecret, "u1", "access", testNow.Add(time.Hour))
	if _, err := f.tokens.VerifyAccess(oldAccess); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Tokens accepted an old token: %v", err)
	}
	if res := do(t, srv, "GET", "/users/me", bearer(oldAccess), ""); res.status != 200 {
		t.Errorf("old access token during the cut-over: %d %s; want 200", res.status, res.body)
	}
	if res := do(t, srv, "GET", "/users/me", bearer(fastAPIToken(t, oldSecret, "u1", "refresh", testNow.Add(time.Hour))), ""); res.status != 401 {
		t.Errorf("old refresh token as an access token: %d; want 401", res.status)
	}
	if res := do(t, srv, "GET", "/users/me", bearer(fastAPIToken(t, []byte("another secret of 32 bytes or more!!"), "u1", "access", testNow.Add(time.Hour))), ""); res.status != 401 {
		t.Errorf("forged old token: %d; want 401", res.status)
	}
	// The handlers work as before: the own verifier issues.
	pair := loginAs(t, srv, "alice@example.com", alicePassword)
	if res := refreshOnce(t, srv, pair.RefreshToken); res.status != 200 {
		t.Errorf("own refresh during the cut-over: %d", res.status)
	}

	// An old refresh token is exchanged once, even by 20 concurrent requests.
	oldRT := fastAPIToken(t, oldSecret, "u1", "refresh", testNow.Add(7*24*time.Hour))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var wins []result
	for range 20 {
		wg.Go(func() {
			if res := refreshOnce(t, srv, oldRT); res.status == 200 {
				mu.Lock()
				wins = append(wins, res)
				mu.Unlock()
			} else if res.status != 401 {
				t.Errorf("exchange: %d", res.status)
			}
		})
	}
	wg.Wait()
	if len(wins) != 1 {
		t.Fatalf("20 concurrent exchanges of one old refresh token: %d won; want exactly 1", len(wins))
	}
	next := decodeTokens(t, wins[0])
	if res := do(t, srv, "GET", "/users/me", bearer(next.AccessToken), ""); res.status != 200 {
		t.Errorf("the new session's access token: %d", res.status)
	}
	if res := refreshOnce(t, srv, next.RefreshToken); res.status != 200 {
		t.Errorf("the new session's refresh token: %d", res.status)
	}
	if res := refreshOnce(t, srv, oldAccess); res.status != 401 {
		t.Errorf("an old access token exchanged as a refresh token: %d; want 401", res.status)
	}
	if n := strings.Count(f.logs.String(), `"event":"legacy_token"`); n != 1 {
		t.Errorf("%d legacy_token events; want 1", n)
	}

	// After Until, only own tokens.
	f.now.Store(int64(until.Sub(testNow) / time.Second))
	lateAccess := fastAPIToken(t, oldSecret, "u1", "access", until.Add(time.Hour))
	if res := do(t, srv, "GET", "/users/me", bearer(lateAccess), ""); res.status != 401 {
		t.Errorf("old access token after the cut-over: %d; want 401", res.status)
	}
	if res := refreshOnce(t, srv, fastAPIToken(t, oldSecret, "u1", "refresh", until.Add(time.Hour))); res.status != 401 {
		t.Errorf("old refresh token after the cut-over: %d; want 401", res.status)
	}

	for _, bad := range []Cutover{{Access: old}, {Until: until}} {
		if _, err := New[Account](f.tokens, f.users, WithCutover(bad)); err == nil {
			t.Errorf("WithCutover(%+v) was accepted", bad)
		}
	}
}

// An old refresh token is exchanged once whatever the spelling of its
// signature (line breaks a base64 decoder skips, trailing bits it ignores)
// and whatever its exp: the reservation lasts until the cut-over ends.
func TestCutoverExchangeOnceWhateverTheSpelling(t *testing.T) {
	t.Parallel()
	oldSecret := []byte("the FastAPI app's SECRET_KEY, 32+ bytes long!!")
	var f *fixture
	clock := func() time.Time { return f.clock() }
	oldRefresh := func(tok string) (*Claims, error) { // lenient, as a service's own check may be
		var c Claims
		_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return oldSecret, nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(clock))
		if err != nil || c.Type != RefreshToken {
			return nil, errors.New("not an old refresh token")
		}
		return &c, nil
	}
	until := testNow.Add(30 * 24 * time.Hour)
	f = newFixture(t, WithCutover(Cutover{Refresh: oldRefresh, Until: until}))
	srv := sessionServer(t, f)
	for _, exp := range []time.Time{testNow.Add(7 * 24 * time.Hour), time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC)} {
		tok := fastAPIToken(t, oldSecret, "u1", "refresh", exp)
		if res := refreshOnce(t, srv, tok); res.status != 200 {
			t.Fatalf("first exchange (exp %v): %d", exp, res.status)
		}
		sig := strings.LastIndexByte(tok, '.') + 1
		last := tok[len(tok)-1]
		variants := []string{tok, tok[:sig] + `\n` + tok[sig:], tok[:sig] + `\r\n` + tok[sig:]}
		for _, c := range "AQgw" { // the signature's last character, other trailing bits
			if byte(c) != last {
				variants = append(variants, tok[:len(tok)-1]+string(c))
			}
		}
		for _, v := range variants {
			if res := refreshOnce(t, srv, v); res.status == 200 {
				t.Errorf("exp %v: the exchanged token, spelled %q…, was exchanged again", exp, v[len(v)-8:])
			}
		}
		for _, later := range []time.Duration{2 * time.Minute, 8 * 24 * time.Hour} {
			f.now.Store(int64(later / time.Second))
			if res := refreshOnce(t, srv, tok); res.status == 200 {
				t.Errorf("exp %v: exchanged again %v later", exp, later)
			}
		}
		f.now.Store(0)
	}
}
