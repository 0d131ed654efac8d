package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// verifyingUsers is MemoryUsers that records verified emails and counts
// lookups by login.
type verifyingUsers struct {
	*MemoryUsers
	mu         sync.Mutex
	verified   map[string]string // user ID → email
	lookups    atomic.Int64
	failUpdate atomic.Bool // the next UpdatePasswordHash fails
	// When gate is set, UpdatePasswordHash tells arrived, then waits for
	// gate to close.
	gate, arrived chan struct{}
}

func (v *verifyingUsers) UpdatePasswordHash(ctx context.Context, id, hash string) error {
	if v.failUpdate.CompareAndSwap(true, false) {
		return errDatabaseDown
	}
	if v.gate != nil {
		v.arrived <- struct{}{}
		<-v.gate
	}
	return v.MemoryUsers.UpdatePasswordHash(ctx, id, hash)
}

func (v *verifyingUsers) MarkEmailVerified(_ context.Context, id, email string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.verified[id] = email
	return nil
}

func (v *verifyingUsers) UserByLogin(ctx context.Context, login string) (Account, bool, error) {
	v.lookups.Add(1)
	return v.MemoryUsers.UserByLogin(ctx, login)
}

// outbox collects the messages Send gets.
type outbox struct {
	ch chan OneTimeMessage
}

func (o *outbox) send(_ context.Context, m OneTimeMessage) error {
	o.ch <- m
	return nil
}

// next waits for the next message (Send runs in a goroutine of its own
// for reset requests).
func (o *outbox) next(t *testing.T) OneTimeMessage {
	t.Helper()
	select {
	case m := <-o.ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message sent")
		return OneTimeMessage{}
	}
}

type oneTimeFixture struct {
	*fixture
	users *verifyingUsers
	out   *outbox
	srv   *httptest.Server
}

func newOneTimeFixture(t *testing.T, opts ...Option) *oneTimeFixture {
	t.Helper()
	base := newFixture(t) // for its users, tokens and clock
	users := &verifyingUsers{MemoryUsers: base.users, verified: map[string]string{}}
	out := &outbox{ch: make(chan OneTimeMessage, 16)}
	opts = append([]Option{WithLogger(discardLogger()), WithRefreshStore(base.families), WithLimiter(base.limiter),
		WithOneTimeTokens(OneTimeConfig{Secret: []byte(GenerateSecret()), Send: out.send})}, opts...)
	a, err := New[Account](base.tokens, UserStore[Account](users), opts...)
	if err != nil {
		t.Fatal(err)
	}
	base.a = a
	mux := http.NewServeMux()
	mux.Handle("POST /auth/login", a.LoginHandler())
	mux.Handle("POST /auth/refresh", a.RefreshHandler())
	mux.Handle("GET /users/me", a.Middleware(http.HandlerFunc(whoami)))
	mux.Handle("POST /password/forgot", a.PasswordResetRequestHandler())
	mux.Handle("POST /password/reset", a.PasswordResetHandler())
	mux.Handle("POST /email/verify", a.VerifyEmailHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &oneTimeFixture{base, users, out, srv}
}

func (f *oneTimeFixture) requestReset(t *testing.T, email string) result {
	t.Helper()
	return do(t, f.srv, "POST", "/password/forgot", jsonType, `{"email":"`+email+`"}`)
}

func (f *oneTimeFixture) reset(t *testing.T, token, password string) result {
	t.Helper()
	return do(t, f.srv, "POST", "/password/reset", formType, form("token", token, "password", password))
}

// The whole reset flow: a request for an existing and for a missing email
// both answer 202 after the same work (one lookup, one token signed); only
// the real one sends; the token resets the password once, ends every
// session, and fails when replayed.
func TestPasswordResetFlow(t *testing.T) {
	t.Parallel()
	f := newOneTimeFixture(t)
	session := loginAs(t, f.srv, "alice@example.com", alicePassword)

	ops := func() [2]int64 { return [2]int64{f.users.lookups.Load(), f.a.oneTime.minted.Load()} }
	before := ops()
	missing := f.requestReset(t, "nobody@example.com")
	afterMissing := ops()
	if missing.status != 202 || missing.body != "" {
		t.Fatalf("missing email: %d %q; want 202, no body", missing.status, missing.body)
	}
	if n := f.a.oneTime.queued.Load(); n != 0 {
		t.Fatalf("%d messages queued for a missing email", n)
	}
	real := f.requestReset(t, "alice@example.com")
	afterReal := ops()
	if real.status != 202 || real.body != "" || real.header.Get("Cache-Control") != missing.header.Get("Cache-Control") {
		t.Fatalf("real email: %d %q %v; want the missing email's answer", real.status, real.body, real.header)
	}
	if d1, d2 := [2]int64{afterMissing[0] - before[0], afterMissing[1] - before[1]}, [2]int64{afterReal[0] - afterMissing[0], afterReal[1] - afterMissing[1]}; d1 != d2 || d1 != [2]int64{1, 1} {
		t.Errorf("work (lookups, tokens signed): missing %v, real %v; want 1 of each for both", d1, d2)
	}
	if n := f.a.oneTime.queued.Load(); n != 1 {
		t.Fatalf("%d messages queued for a real email; want 1", n)
	}
	msg := f.out.next(t)
	if msg.Purpose != PasswordReset || msg.UserID != "u1" || msg.Email != "alice@example.com" || msg.Token == "" ||
		!msg.ExpiresAt.Equal(testNow.Add(DefaultResetTTL)) {
		t.Fatalf("message %+v", msg)
	}

	// A password the policy refuses leaves the token usable.
	if res := f.reset(t, msg.Token, "short"); res.status != 400 || res.errorCode(t) != "invalid_password" {
		t.Fatalf("short password: %d %s; want 400 invalid_password", res.status, res.body)
	}
	const newPassword = "alice's brand new password"
	if res := f.reset(t, msg.Token, newPassword); res.status != 204 {
		t.Fatalf("reset: %d %s", res.status, res.body)
	}
	// Every session ended: the old access and refresh tokens fail.
	if res := do(t, f.srv, "GET", "/users/me", bearer(session.AccessToken), ""); res.status != 401 {
		t.Errorf("old access token after reset: %d; want 401", res.status)
	}
	if res := refreshOnce(t, f.srv, session.RefreshToken); res.status != 401 {
		t.Errorf("old refresh token after reset: %d; want 401", res.status)
	}
	// The new password works, the old one does not.
	loginAs(t, f.srv, "alice@example.com", newPassword)
	if res := do(t, f.srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", alicePassword)); res.status != 401 {
		t.Errorf("old password: %d; want 401", res.status)
	}
	// Replaying the used token fails, with the generic 400.
	res := f.reset(t, msg.Token, "yet another long password")
	if res.status != 400 || res.errorCode(t) != "invalid_token" || strings.Contains(res.body, msg.Token) {
		t.Errorf("replayed token: %d %s; want 400 invalid_token", res.status, res.body)
	}
}

// A reset token dies at its expiry; tokens of another purpose or kind,
// forged, truncated or oversized ones never reset a password.
func TestPasswordResetRefusesTokens(t *testing.T) {
	t.Parallel()
	f := newOneTimeFixture(t)
	f.requestReset(t, "alice@example.com")
	reset := f.out.next(t).Token
	if err := f.a.SendEmailVerification(t.Context(), "u1"); err != nil {
		t.Fatal(err)
	}
	verify := f.out.next(t).Token
	tr := loginAs(t, f.srv, "alice@example.com", alicePassword)
	other := newOneTimeFixture(t) // another secret
	other.requestReset(t, "alice@example.com")
	foreign := other.out.next(t).Token
	for name, tok := range map[string]string{
		"verification token": verify,
		"access token":       tr.AccessToken,
		"refresh token":      tr.RefreshToken,
		"other secret":       foreign,
		"truncated":          reset[:len(reset)-2],
		"signature swapped":  reset[:strings.LastIndexByte(reset, '.')] + verify[strings.LastIndexByte(verify, '.'):],
		"oversized":          reset + strings.Repeat("A", 5000),
		"garbage":            "a.b.c",
		"alg none":           b64.EncodeToString([]byte(`{"alg":"none","typ":"reset+jwt"}`)) + reset[strings.IndexByte(reset, '.'):strings.LastIndexByte(reset, '.')] + ".",
	} {
		if res := f.reset(t, tok, "a perfectly good new password"); res.status != 400 || res.errorCode(t) != "invalid_token" {
			t.Errorf("%s: %d %s; want 400 invalid_token", name, res.status, res.body)
		}
	}
	// Access and refresh verification refuse one-time tokens too.
	for _, kind := range []TokenType{AccessToken, RefreshToken} {
		if _, err := f.tokens.Verify(reset, kind); err == nil {
			t.Errorf("a reset token verified as a %s token", kind)
		}
	}
	f.now.Add(int64((DefaultResetTTL+DefaultLeeway)/time.Second) + 1)
	if res := f.reset(t, reset, "a perfectly good new password"); res.status != 400 {
		t.Errorf("expired token: %d; want 400", res.status)
	}
}

// The email-verification token verifies the address it was issued for,
// once the user still has it, and nothing else.
func TestVerifyEmail(t *testing.T) {
	t.Parallel()
	f := newOneTimeFixture(t)
	if err := f.a.SendEmailVerification(t.Context(), "u1"); err != nil {
		t.Fatal(err)
	}
	msg := f.out.next(t)
	if msg.Purpose != EmailVerification || msg.Email != "alice@example.com" || !msg.ExpiresAt.Equal(testNow.Add(DefaultVerifyTTL)) {
		t.Fatalf("message %+v", msg)
	}
	f.requestReset(t, "alice@example.com")
	reset := f.out.next(t).Token
	if res := do(t, f.srv, "POST", "/email/verify", jsonType, `{"token":"`+reset+`"}`); res.status != 400 {
		t.Errorf("reset token as verification: %d; want 400", res.status)
	}
	if res := do(t, f.srv, "POST", "/email/verify", jsonType, `{"token":"`+msg.Token+`"}`); res.status != 204 {
		t.Fatalf("verify: %d %s", res.status, res.body)
	}
	f.users.mu.Lock()
	got := f.users.verified["u1"]
	f.users.mu.Unlock()
	if got != "alice@example.com" {
		t.Errorf("verified %q", got)
	}
	// Bound to the email: after a change of address the token is dead.
	if err := f.a.SendEmailVerification(t.Context(), "u1"); err != nil {
		t.Fatal(err)
	}
	stale := f.out.next(t).Token
	f.users.Update("u1", func(a *Account) { a.Email = "alice@new.example" })
	if res := do(t, f.srv, "POST", "/email/verify", jsonType, `{"token":"`+stale+`"}`); res.status != 400 {
		t.Errorf("token for the old address: %d; want 400", res.status)
	}
	// A user without an email gets no token.
	if err := f.a.SendEmailVerification(t.Context(), "u2"); err == nil {
		t.Error("SendEmailVerification for a user without an email succeeded")
	}
	if res := do(t, f.srv, "GET", "/email/verify?token="+msg.Token, nil, ""); res.status != 405 {
		t.Errorf("GET: %d; want 405", res.status)
	}
}

// Reset requests are throttled per email whether or not it exists, and
// the answer for a throttled missing email is the one for a real one.
func TestPasswordResetRequestThrottled(t *testing.T) {
	t.Parallel()
	f := newOneTimeFixture(t, WithThrottles(Throttle{Threshold: 2, Base: time.Minute, Max: time.Hour, Window: time.Hour}, DefaultIPThrottle))
	for _, email := range []string{"alice@example.com", "nobody@example.com"} {
		var statuses []int
		for range 3 {
			statuses = append(statuses, f.requestReset(t, email).status)
		}
		if statuses[0] != 202 || statuses[1] != 202 || statuses[2] != 429 {
			t.Errorf("%s: %v; want 202, 202, 429", email, statuses)
		}
	}
}

// Nothing secret reaches the logs: not the reset token, not the password.
func TestOneTimeNothingLogged(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	f := newOneTimeFixture(t, WithLogger(slogTo(logs)))
	f.requestReset(t, "alice@example.com")
	tok := f.out.next(t).Token
	f.reset(t, tok, "x")
	f.reset(t, tok, "the new long password")
	f.reset(t, tok, "the newer long password")
	for _, secret := range []string{tok, tok[strings.LastIndexByte(tok, '.')+1:], "the new long password", "the newer long password"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs hold a secret: %s", logs.String())
		}
	}
}

func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestWithOneTimeTokensRejects(t *testing.T) {
	t.Parallel()
	tokens := newTokens(t, testKeys(t)["HS256"])
	send := func(context.Context, OneTimeMessage) error { return nil }
	good := []byte(GenerateSecret())
	for name, c := range map[string]OneTimeConfig{
		"short secret":  {Secret: good[:31], Send: send},
		"weak secret":   {Secret: []byte(strings.Repeat("ab", 32)), Send: send},
		"no Send":       {Secret: good},
		"reset TTL 25h": {Secret: good, Send: send, ResetTTL: 25 * time.Hour},
		"negative TTL":  {Secret: good, Send: send, VerifyTTL: -time.Second},
		"verify TTL 8d": {Secret: good, Send: send, VerifyTTL: 8 * 24 * time.Hour},
	} {
		_, err := New[Account](tokens, NewMemoryUsers(), WithOneTimeTokens(c))
		if err == nil {
			t.Errorf("%s: New accepted it", name)
		} else if strings.Contains(err.Error(), string(good)) {
			t.Errorf("%s: error holds the secret", name)
		}
	}
}

// The one-time verifier never panics and accepts only what was minted, for
// the purpose it was minted for.
func FuzzOneTimeToken(f *testing.F) {
	setup := newOneTimeSetup(OneTimeConfig{Secret: []byte(GenerateSecret()), Send: func(context.Context, OneTimeMessage) error { return nil }})
	if setup.err != nil {
		f.Fatal(setup.err)
	}
	good, _, err := setup.mint(PasswordReset, "u1", "hash", testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		for _, p := range []Purpose{PasswordReset, EmailVerification} {
			c, err := setup.verify(token, p, testNow)
			switch {
			case err != nil && (c != nil || err != ErrInvalidOneTimeToken):
				t.Fatalf("%s: %v, %v", p, c, err)
			case err == nil && (token != good || p != PasswordReset):
				t.Fatalf("%s: accepted %q", p, token)
			}
		}
	})
}

// Concurrent resets with one token: exactly one wins, its password is
// stored, and afterwards the token is dead. The store holds each password
// update until the others have answered, or until a second update arrives:
// before a token's use was reserved, every request that re-checked the
// token before the first update was stored went on to store its own.
func TestPasswordResetConcurrent(t *testing.T) {
	t.Parallel()
	f := newOneTimeFixture(t, WithHashWait(time.Minute)) // no 503s under -race
	f.requestReset(t, "alice@example.com")
	tok := f.out.next(t).Token
	const n = 20
	f.users.gate, f.users.arrived = make(chan struct{}), make(chan struct{}, n)
	type answer struct{ i, status int }
	answers := make(chan answer, n)
	for i := range n {
		go func() { answers <- answer{i, f.reset(t, tok, "concurrent password "+strings.Repeat("x", i)).status} }()
	}
	statuses := make([]int, n)
	got, arrivals, open := 0, 0, true
	for got < n {
		select {
		case a := <-answers:
			statuses[a.i] = a.status
			got++
		case <-f.users.arrived:
			arrivals++
		}
		if open && (got == n-1 || arrivals == 2) {
			close(f.users.gate)
			open = false
		}
	}
	if arrivals != 1 || count(statuses, 204) != 1 || count(statuses, 400) != n-1 {
		t.Fatalf("%d password updates reached the store; statuses %v; want 1 update, one 204 and the rest 400", arrivals, statuses)
	}
	acct, _, _ := f.users.User(t.Context(), "u1")
	winner := slices.Index(statuses, 204)
	if _, err := f.a.passwords.Verify(t.Context(), acct.PasswordHash, "concurrent password "+strings.Repeat("x", winner)); err != nil {
		t.Error("the stored password is not the winner's")
	}
	if res := f.reset(t, tok, "one more long password"); res.status != 400 {
		t.Errorf("after the race: %d; want 400", res.status)
	}
}

// A use that fails after it was reserved (here, the store) is given back:
// the holder retries with the same token.
func TestPasswordResetFailureGivesTheUseBack(t *testing.T) {
	t.Parallel()
	f := newOneTimeFixture(t)
	f.requestReset(t, "alice@example.com")
	tok := f.out.next(t).Token
	f.users.failUpdate.Store(true)
	if res := f.reset(t, tok, "a new long password"); res.status != 503 {
		t.Fatalf("reset with the store down: %d; want 503", res.status)
	}
	if res := f.reset(t, tok, "a new long password"); res.status != 204 {
		t.Fatalf("retry with the same token: %d %s; want 204", res.status, res.body)
	}
	if res := f.reset(t, tok, "a third long password"); res.status != 400 {
		t.Errorf("third use: %d; want 400", res.status)
	}
}

// Reset requests never count against logins from the same IP.
func TestPasswordResetRequestSeparateFromLogin(t *testing.T) {
	t.Parallel()
	f := newOneTimeFixture(t, WithThrottles(DefaultAccountThrottle, Throttle{Threshold: 2, Base: time.Minute, Max: time.Hour, Window: time.Hour}))
	for i := range 3 {
		f.requestReset(t, strings.Repeat("n", i+1)+"@example.com")
	}
	if res := do(t, f.srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", alicePassword)); res.status != 200 {
		t.Errorf("login after reset requests from its IP: %d; want 200", res.status)
	}
}

// A Send hook that fails or panics in its goroutine is logged, without the
// token, and the server goes on.
func TestPasswordResetSendFailure(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	done := make(chan struct{}, 2)
	tokens := make(chan string, 2)
	calls := atomic.Int64{}
	f := newOneTimeFixture(t, WithLogger(slogTo(logs)), WithOneTimeTokens(OneTimeConfig{Secret: []byte(GenerateSecret()),
		Send: func(_ context.Context, m OneTimeMessage) error {
			defer func() { done <- struct{}{} }()
			tokens <- m.Token
			if calls.Add(1) == 1 {
				return errors.New("smtp: connection refused")
			}
			panic("mailer bug")
		}}))
	for range 2 {
		if res := f.requestReset(t, "alice@example.com"); res.status != 202 {
			t.Fatalf("request: %d", res.status)
		}
		<-done
	}
	// The log lines are written after Send returns: wait for both.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "Send hook panicked") || !strings.Contains(logs.String(), "sending a one-time token failed") {
		if time.Now().After(deadline) {
			t.Fatalf("logs: %s", logs.String())
		}
		runtime.Gosched()
	}
	for range 2 {
		if tok := <-tokens; strings.Contains(logs.String(), tok) {
			t.Error("the log holds the token")
		}
	}
}
