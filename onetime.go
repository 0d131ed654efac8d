package auth

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A Purpose is what a one-time token is for. A token of one purpose is
// never accepted for the other, nor as an access or refresh token.
type Purpose string

// The one-time token purposes. These values are part of every issued token.
const (
	PasswordReset     Purpose = "password_reset"
	EmailVerification Purpose = "email_verification"
)

// header returns the "typ" header of a purpose's tokens.
func (p Purpose) header() string {
	switch p {
	case PasswordReset:
		return "reset+jwt"
	case EmailVerification:
		return "verify-email+jwt"
	}
	return ""
}

// ttl returns the lifetime of the purpose's tokens.
func (s *oneTimeSetup) ttl(p Purpose) time.Duration {
	if p == PasswordReset {
		return s.ResetTTL
	}
	return s.VerifyTTL
}

// OneTimeMessage is what [OneTimeConfig.Send] delivers: a link holding
// Token, to Email.
type OneTimeMessage struct {
	Purpose Purpose
	// UserID is the user's ID; Email the address to send to (the
	// account's, never what the request typed).
	UserID, Email string
	// Token is the secret the user proves ownership with: put it in a
	// link (in the fragment or path, so that it stays out of server logs
	// and Referer headers where possible) and never log it.
	Token     string
	ExpiresAt time.Time
}

// EmailVerifier is implemented by a [UserStore] that records verified
// email addresses, for [Authenticator.VerifyEmailHandler].
type EmailVerifier interface {
	// MarkEmailVerified records that the user proved to own email, the
	// address the token was issued for, which is still the user's.
	MarkEmailVerified(ctx context.Context, userID, email string) error
}

// OneTimeConfig configures password-reset and email-verification tokens
// ([WithOneTimeTokens]).
type OneTimeConfig struct {
	// Secret keys the tokens: random, at least 32 bytes, not trivially
	// weak (the rules of [NewHMACKey]); [GenerateSecret] makes one. Each
	// purpose signs with its own key derived from it by HKDF-SHA-256, so
	// even the access-token secret reused here would sign nothing an
	// access token verifies with.
	Secret []byte
	// Send delivers a token. For reset requests it runs in a goroutine of
	// its own, after the response is written, so that the answer takes
	// the same time whether or not the account exists: it should queue
	// the message rather than block. Its error is logged (without the
	// token). Required.
	Send func(ctx context.Context, m OneTimeMessage) error
	// ResetTTL is how long a reset token lives: 30 minutes by default,
	// at most 24 hours.
	ResetTTL time.Duration
	// VerifyTTL is how long a verification token lives: 24 hours by
	// default, at most 7 days.
	VerifyTTL time.Duration
}

// Defaults of OneTimeConfig.
const (
	DefaultResetTTL  = 30 * time.Minute
	DefaultVerifyTTL = 24 * time.Hour
)

const oneTimeAudience = "github.com/keygate/auth#one-time"

// WithOneTimeTokens turns on password-reset and email-verification tokens:
// [Authenticator.PasswordResetRequestHandler],
// [Authenticator.PasswordResetHandler], [Authenticator.VerifyEmailHandler]
// and [Authenticator.SendEmailVerification]. New returns an error for a
// short or weak secret, a nil Send, or TTLs out of range.
//
// The tokens are HS256 JWTs with their purpose in the "typ" header and the
// "type" claim, an audience of their own and a short life. They need no
// store: a reset token carries a keyed fingerprint of the password hash it
// was issued against, so it dies when the password changes (the reset
// itself included), and a verification token one of the email it verifies,
// so it dies if the address changes. The fingerprints reveal nothing of
// the hash or address.
func WithOneTimeTokens(c OneTimeConfig) Option {
	return func(o *options) { o.oneTime = newOneTimeSetup(c) }
}

// oneTimeSetup is a checked OneTimeConfig with its derived keys; err is
// reported by New.
type oneTimeSetup struct {
	OneTimeConfig
	keys   map[Purpose][]byte
	bind   []byte // keys the fingerprints
	err    error
	minted atomic.Int64 // tokens signed, for tests: a reset request mints one whether or not the account exists
	queued atomic.Int64 // messages handed to Send's goroutine, for tests
}

func newOneTimeSetup(c OneTimeConfig) *oneTimeSetup {
	s := &oneTimeSetup{OneTimeConfig: c}
	if s.ResetTTL == 0 {
		s.ResetTTL = DefaultResetTTL
	}
	if s.VerifyTTL == 0 {
		s.VerifyTTL = DefaultVerifyTTL
	}
	switch {
	case len(c.Secret) < 32:
		s.err = fmt.Errorf("auth: a one-time token secret needs at least 32 bytes, got %d", len(c.Secret))
	case c.Send == nil:
		s.err = errors.New("auth: one-time tokens need a Send function")
	case s.ResetTTL < 0 || s.ResetTTL > 24*time.Hour:
		s.err = fmt.Errorf("auth: reset TTL %v out of range (0, 24h]", s.ResetTTL)
	case s.VerifyTTL < 0 || s.VerifyTTL > 7*24*time.Hour:
		s.err = fmt.Errorf("auth: verify TTL %v out of range (0, 168h]", s.VerifyTTL)
	}
	if s.err != nil {
		return s
	}
	if err := weakSecret(c.Secret); err != nil {
		s.err = fmt.Errorf("auth: the one-time token secret is %w; make one with GenerateSecret", err)
		return s
	}
	derive := func(label string) []byte {
		k, err := hkdf.Key(sha256.New, c.Secret, nil, "github.com/keygate/auth v1 one-time "+label, 32)
		if err != nil && s.err == nil {
			s.err = fmt.Errorf("auth: deriving a one-time key: %w", err)
		}
		return k
	}
	s.keys = map[Purpose][]byte{PasswordReset: derive("password_reset key"), EmailVerification: derive("email_verification key")}
	s.bind = derive("binding key")
	return s
}

// oneTimeClaims are the claims of a one-time token.
type oneTimeClaims struct {
	jwt.RegisteredClaims
	Type    Purpose `json:"type"`
	Binding string  `json:"bnd"` // fingerprint of the password hash or email
}

// fingerprint is a keyed hash of what a token is bound to.
func (s *oneTimeSetup) fingerprint(p Purpose, value string) string {
	m := hmac.New(sha256.New, s.bind)
	m.Write([]byte(p))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// mint signs a token of purpose p for the user, bound to value.
func (s *oneTimeSetup) mint(p Purpose, userID, value string, now time.Time) (string, time.Time, error) {
	exp := now.Add(s.ttl(p))
	c := oneTimeClaims{Type: p, Binding: s.fingerprint(p, value)}
	c.Subject, c.ID = userID, newID()
	c.Audience = jwt.ClaimStrings{oneTimeAudience}
	c.IssuedAt, c.ExpiresAt = jwt.NewNumericDate(now), jwt.NewNumericDate(exp)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, &c)
	tok.Header["typ"] = p.header()
	signed, err := tok.SignedString(s.keys[p])
	s.minted.Add(1)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: signing a one-time token: %w", err)
	}
	return signed, exp, nil
}

// verify checks a token of purpose p and returns its claims. Every failure
// is ErrInvalidOneTimeToken.
func (s *oneTimeSetup) verify(token string, p Purpose, now time.Time) (*oneTimeClaims, error) {
	if token == "" || len(token) > DefaultMaxTokenSize {
		return nil, ErrInvalidOneTimeToken
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithAudience(oneTimeAudience), jwt.WithLeeway(DefaultLeeway), jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithStrictDecoding())
	c := new(oneTimeClaims)
	tok, err := parser.ParseWithClaims(token, c, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); !typMatches(typ, p.header()) {
			return nil, ErrTokenType
		}
		return s.keys[p], nil
	})
	if err != nil || !tok.Valid || c.Type != p || c.Subject == "" || c.ID == "" || c.Binding == "" {
		return nil, ErrInvalidOneTimeToken // never the cause: it may quote the token
	}
	return c, nil
}

// oneTime returns the setup, or panics at setup time without one.
func (a *Authenticator[U]) oneTimeFor(handler string) (*oneTimeSetup, LoginStore[U]) {
	store, ok := a.users.(LoginStore[U])
	if a.oneTime == nil || !ok {
		panic("auth: " + handler + " needs New with WithOneTimeTokens and a LoginStore")
	}
	return a.oneTime, store
}

// resetKey is the limiter key of reset requests for an email, whether or
// not an account has it.
func resetKey(email string) string {
	k := accountKey(email)
	return "reset:" + strings.TrimPrefix(k, "login:")
}

// PasswordResetRequestHandler returns the endpoint that starts a password
// reset, to mount at POST /password/forgot. It reads the email (a form or
// JSON with "email", or "username") and answers 202 with no body, whatever
// happens next: whether or not an active account has that login, it looks
// the login up ([LoginStore.UserByLogin]), signs one reset token and
// computes one fingerprint, so the work and the answer are the same; only
// for a real account does [OneTimeConfig.Send] then get the token, in a
// goroutine of its own, addressed to the account's email. Requests are
// throttled per email and per client IP with the login throttles' policies
// ([WithThrottles]) under keys of their own (they never count against
// logins): past the threshold they get 429, for a missing account as for a
// real one. Every request counts; none is taken back. A malformed body gets 400,
// a store failure 503.
//
// It panics without [WithOneTimeTokens] or a [LoginStore].
func (a *Authenticator[U]) PasswordResetRequestHandler() http.Handler {
	ot, store := a.oneTimeFor("PasswordResetRequestHandler")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := a.readBody(w, r, "")
		if err == nil && in.Username == "" {
			err = ErrInvalidRequest
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		keys := []throttleKey{{resetKey(in.Username), a.accountThrottle}, {"reset-" + a.clientKey(r), a.ipThrottle}}
		if err := a.reserve(r.Context(), keys); err != nil {
			a.fail(w, r, err)
			return
		}
		u, found, err := store.UserByLogin(r.Context(), in.Username)
		if err != nil {
			a.fail(w, r, &storeError{err})
			return
		}
		var acct Account
		if found {
			acct = a.users.Account(u)
		}
		real := found && acct.Active && acct.ID != "" && acct.Email != ""
		subject := acct.ID
		if !real {
			subject = newID() // the same work for no one
		}
		token, exp, err := ot.mint(PasswordReset, subject, acct.PasswordHash, a.now())
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if real {
			msg := OneTimeMessage{Purpose: PasswordReset, UserID: acct.ID, Email: acct.Email, Token: token, ExpiresAt: exp}
			ot.queued.Add(1)
			go a.send(context.WithoutCancel(r.Context()), msg)
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusAccepted)
	})
}

// send delivers a message, logging a failure without the token. It runs in
// a goroutine of its own, where a panic in Send would end the process: it
// is logged instead.
func (a *Authenticator[U]) send(ctx context.Context, m OneTimeMessage) {
	defer func() {
		if p := recover(); p != nil {
			a.logger.ErrorContext(ctx, "auth: the one-time token Send hook panicked", "purpose", string(m.Purpose), "subject", m.UserID)
		}
	}()
	if err := a.oneTime.Send(ctx, m); err != nil {
		a.logger.ErrorContext(ctx, "auth: sending a one-time token failed", "purpose", string(m.Purpose), "subject", m.UserID, "err", err)
	}
}

// PasswordResetHandler returns the endpoint that completes a password
// reset, to mount at POST /password/reset. It reads the reset token and
// the new password (a form or JSON with "token" and "password"), checks
// the token (its purpose, signature and expiry, an active user, and that
// the password hash is still the one it was issued against), checks the
// password against the policy ([Passwords.Check]), stores its hash
// ([PasswordHashUpdater]), and ends every session of the user
// ([Authenticator.LogoutEverywhere]). It answers 204. The token then no
// longer works: the hash it was bound to is gone. A bad, expired, used or
// wrong-purpose token gets 400 ([ErrInvalidOneTimeToken]), a password the
// policy refuses 400 ([ErrPasswordTooShort], [ErrPasswordTooLong]), a
// store failure 503.
//
// A token is used once, even under concurrent requests: once it has been
// checked and the new password meets the policy, its use is reserved in
// the [Limiter] (keyed by the token's ID, until it expires), so of
// concurrent requests with one token exactly one goes on, and the others
// get 400; a use that then fails (no free hashing slot, a store failure)
// is given back, so the holder can retry. The token is checked again after
// the new hash is computed, just before it is stored: a reset that won
// with another token meanwhile has changed the hash, which kills this one.
//
// It panics without [WithOneTimeTokens], a [LoginStore] that is a
// [PasswordHashUpdater] and a [TokenVersionBumper].
func (a *Authenticator[U]) PasswordResetHandler() http.Handler {
	a.oneTimeFor("PasswordResetHandler")
	updater, ok := a.users.(PasswordHashUpdater)
	if _, bumps := a.users.(TokenVersionBumper); !ok || !bumps {
		panic("auth: PasswordResetHandler needs a UserStore that implements PasswordHashUpdater and TokenVersionBumper")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := a.readBody(w, r, "")
		if err == nil && (in.Token == "" || in.Password == "") {
			err = ErrInvalidRequest
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		acct, c, err := a.checkOneTime(r.Context(), in.Token, PasswordReset)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if err := a.passwords.Check(in.Password); err != nil {
			a.fail(w, r, err)
			return
		}
		release, err := a.useOnce(r.Context(), c)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		hash, err := a.passwords.Hash(r.Context(), in.Password)
		if err != nil {
			release()
			a.fail(w, r, err)
			return
		}
		// Check again after the slow hash: a reset that won meanwhile
		// changed the hash, which kills this token.
		if _, _, err := a.checkOneTime(r.Context(), in.Token, PasswordReset); err != nil {
			release()
			a.fail(w, r, err)
			return
		}
		err = updater.UpdatePasswordHash(r.Context(), acct.ID, hash)
		a.ForgetUser(acct.ID) // LogoutEverywhere does too, unless it fails first
		if err != nil {
			release()
			a.fail(w, r, &storeError{err})
			return
		}
		if err := a.LogoutEverywhere(r.Context(), acct.ID); err != nil {
			a.fail(w, r, &storeError{err})
			return
		}
		a.emit(r, Event{Kind: EventPasswordChanged, Subject: acct.ID})
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
}

// useOnce reserves the single use of a verified one-time token in the
// Limiter, under its ID until it can no longer verify: of concurrent calls
// for one token, one proceeds and the others get ErrInvalidOneTimeToken.
// release gives the use back, for a use that did not happen.
func (a *Authenticator[U]) useOnce(ctx context.Context, c *oneTimeClaims) (release func(), err error) {
	key := "onetime:" + string(c.Type) + ":" + c.ID
	first, err := a.reserveOnce(ctx, key, a.now(), c.ExpiresAt.Add(DefaultLeeway))
	switch {
	case err != nil:
		return nil, err
	case !first:
		return nil, ErrInvalidOneTimeToken // used, or in use
	}
	return func() { a.limiter.Release(context.WithoutCancel(ctx), key) }, nil
}

// checkOneTime verifies a one-time token of purpose p and returns the
// account it is for, if the account is active and still has the bound
// password hash or email, and the token's claims.
func (a *Authenticator[U]) checkOneTime(ctx context.Context, token string, p Purpose) (Account, *oneTimeClaims, error) {
	c, err := a.oneTime.verify(token, p, a.now())
	if err != nil {
		return Account{}, nil, err
	}
	u, found, err := a.users.User(ctx, c.Subject)
	if err != nil {
		return Account{}, nil, &storeError{err}
	}
	if !found {
		return Account{}, nil, ErrInvalidOneTimeToken
	}
	acct := a.users.Account(u)
	bound := acct.PasswordHash
	if p == EmailVerification {
		bound = acct.Email
	}
	if !acct.Active || acct.ID != c.Subject || p == EmailVerification && bound == "" ||
		!hmac.Equal([]byte(a.oneTime.fingerprint(p, bound)), []byte(c.Binding)) {
		return Account{}, nil, ErrInvalidOneTimeToken
	}
	return acct, c, nil
}

// SendEmailVerification mints an email-verification token for the user's
// current email and hands it to [OneTimeConfig.Send], synchronously: call
// it after sign-up or an email change. It returns an error for an unknown,
// inactive or email-less user, a store failure, or Send's error.
//
// It panics without [WithOneTimeTokens] or a [LoginStore].
func (a *Authenticator[U]) SendEmailVerification(ctx context.Context, userID string) error {
	ot, _ := a.oneTimeFor("SendEmailVerification")
	u, found, err := a.users.User(ctx, userID)
	if err != nil {
		return &storeError{err}
	}
	var acct Account
	if found {
		acct = a.users.Account(u)
	}
	if !found || !acct.Active || acct.Email == "" {
		return fmt.Errorf("%w: no active user with an email", ErrUnknownUser)
	}
	token, exp, err := ot.mint(EmailVerification, acct.ID, acct.Email, a.now())
	if err != nil {
		return err
	}
	return ot.Send(ctx, OneTimeMessage{Purpose: EmailVerification, UserID: acct.ID, Email: acct.Email, Token: token, ExpiresAt: exp})
}

// VerifyEmailHandler returns the endpoint that confirms an email address,
// to mount at POST /email/verify. It reads the token (a form or JSON with
// "token"), checks it (its purpose, signature and expiry, an active user
// whose email is still the one it was issued for), calls
// [EmailVerifier.MarkEmailVerified] and answers 204. A bad, expired or
// wrong-purpose token, or one for an address the user no longer has, gets
// 400 ([ErrInvalidOneTimeToken]); a store failure 503. It takes POST only:
// the link in the message should open a page that posts the token, since a
// GET must change nothing (and mail scanners follow links).
//
// It panics without [WithOneTimeTokens], a [LoginStore] and an
// [EmailVerifier].
func (a *Authenticator[U]) VerifyEmailHandler() http.Handler {
	a.oneTimeFor("VerifyEmailHandler")
	verifier, ok := a.users.(EmailVerifier)
	if !ok {
		panic("auth: VerifyEmailHandler needs a UserStore that implements EmailVerifier")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := a.readBody(w, r, "")
		if err == nil && in.Token == "" {
			err = ErrInvalidRequest
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		acct, _, err := a.checkOneTime(r.Context(), in.Token, EmailVerification)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		err = verifier.MarkEmailVerified(r.Context(), acct.ID, acct.Email)
		a.ForgetUser(acct.ID) // a user record may say which email is verified
		if err != nil {
			a.fail(w, r, &storeError{err})
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
}
