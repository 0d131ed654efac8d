package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Authenticator ties tokens, users and passwords together for HTTP: its
// [Authenticator.Middleware] authenticates requests, and its
// [Authenticator.LoginHandler] and [Authenticator.RefreshHandler] issue
// tokens. Build it once with [New] or [NewStateless]; it is immutable and
// safe for concurrent use.
type Authenticator[U any] struct {
	options   // as configured, defaults filled in
	verifier  AccessVerifier
	tokens    *Tokens // the verifier, if it is a *Tokens: needed to issue tokens
	load      func(ctx context.Context, c *Claims) (u U, a Account, found bool, err error)
	users     UserStore[U] // nil for NewStateless
	responder *responder   // the default error writer, for the realm
	now       func() time.Time
	eventKey  [32]byte      // keys Event.LoginHash
	refused   *refusals     // limiter keys this instance knows must wait
	userCache *userCache[U] // WithUserCache, or nil
}

// An Option configures [New] and [NewStateless].
type Option func(*options)

type options struct {
	passwords  *Passwords
	realm      string
	onError    func(http.ResponseWriter, *http.Request, error)
	logger     *slog.Logger
	events     func(context.Context, Event)
	clientIP   func(*http.Request) string
	ipv6Prefix int
	maxBody    int64
	hashWait   time.Duration

	refresh         RefreshStore
	sessionLifetime time.Duration
	reuseGrace      time.Duration
	denylist        Denylist
	limiter         Limiter
	rejectLevel     *slog.Level // WithRejectedTokenLevel
	accountThrottle Throttle
	ipThrottle      Throttle
	cutover         *Cutover
	cookieConfig    *CookieConfig    // WithCookies
	cookies         *cookieSetup     // cookieConfig, checked
	oneTime         *oneTimeSetup    // WithOneTimeTokens
	userCache       *userCacheConfig // WithUserCache
}

// WithPasswords sets the password policy the login handler verifies with.
// The default is NewPasswords() (argon2id).
func WithPasswords(p *Passwords) Option { return func(o *options) { o.passwords = p } }

// WithRealm sets the realm of WWW-Authenticate challenges ("api" by
// default). It must be printable ASCII without '"' or '\'.
func WithRealm(realm string) Option { return func(o *options) { o.realm = realm } }

// WithErrorHandler replaces the writer of error responses: every error the
// Authenticator's middleware, guards, API-key middleware and handlers
// answer, and [Authenticator.Error], goes to h. Before h runs, the library
// has set the protocol headers the error calls for (WWW-Authenticate on
// 400, 401 and 403, Retry-After on 429 and 503, Cache-Control: no-store);
// h writes the status ([ErrorStatus] gives the default) and the body. err
// matches one of the package's sentinels ([ErrNoToken], [ErrInvalidToken],
// [ErrForbidden], [ErrRateLimited], …) or is a store failure. h must not
// call the next handler.
func WithErrorHandler(h func(w http.ResponseWriter, r *http.Request, err error)) Option {
	return func(o *options) { o.onError = h }
}

// WithLogger sets the logger of security events (slog.Default() by
// default). Events never carry passwords, tokens or keys.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithEventHook calls hook for every security event, after logging it.
func WithEventHook(hook func(context.Context, Event)) Option {
	return func(o *options) { o.events = hook }
}

// WithClientIP sets how the client's IP is read, for events and the per-IP
// throttles. The default is the host of r.RemoteAddr. Behind your own
// reverse proxies use [ForwardedFor] or [Forwarded] with their networks;
// never a header a client can set alone. The throttles key the address
// canonically (see [WithIPv6Prefix]); a value that is not an IP address is
// hashed into a key of its own.
// A nil f keeps the default.
func WithClientIP(f func(*http.Request) string) Option { return func(o *options) { o.clientIP = f } }

// WithIPv6Prefix sets how many leading bits of an IPv6 client address count
// as one client for throttling: [DefaultIPv6Prefix] (64) by default, from
// 32 to 128. IPv4 addresses, IPv4-mapped ones included, count whole.
func WithIPv6Prefix(bits int) Option { return func(o *options) { o.ipv6Prefix = bits } }

// WithMaxBodyBytes bounds login and refresh bodies: 16 KiB by default.
func WithMaxBodyBytes(n int64) Option { return func(o *options) { o.maxBody = n } }

// WithHashWait bounds how long a login waits for a free password-hashing
// slot before it answers 503 (2 seconds by default).
func WithHashWait(d time.Duration) Option { return func(o *options) { o.hashWait = d } }

// WithRefreshStore sets where refresh-token families live. The default is a
// [MemoryRefreshTokens]: right for one instance, wrong for several, which
// need a shared store.
func WithRefreshStore(s RefreshStore) Option { return func(o *options) { o.refresh = s } }

// WithSessionLifetime sets the absolute limit of a login: its refresh
// tokens stop working that long after it, however often they are rotated
// (30 days by default; at least the refresh TTL, at most 1 year).
func WithSessionLifetime(d time.Duration) Option { return func(o *options) { o.sessionLifetime = d } }

// WithReuseGrace sets a window (off by default, at most 30 s) in which
// presenting the refresh token that was just rotated, as a second browser
// tab may, is refused without revoking the family. It never issues a second
// pair. Outside the window, any reuse revokes the family.
func WithReuseGrace(d time.Duration) Option { return func(o *options) { o.reuseGrace = d } }

// WithDenylist makes the middleware refuse access tokens whose ID is on the
// denylist, and the logout handler put the caller's access token there. It
// costs a lookup per request, so it is off by default: without it, an access
// token lives until it expires (15 minutes by default).
func WithDenylist(d Denylist) Option { return func(o *options) { o.denylist = d } }

// WithLimiter sets where attempts are reserved and counted: logins,
// password checks, failed API keys, [Authenticator.ReserveIP] and cut-over
// exchanges (a [MemoryLimiter] by default; several instances need a shared
// one, such as the sqlstore or redisstore module's).
//
// Once the Limiter refuses a key, the Authenticator refuses further attempts
// under it without asking the Limiter again, until that wait ends (at most
// 64k keys are remembered so): a throttled flood costs the store a few calls
// per key and wait (the refused Reserve, and the Reserve and Release of any
// key counted before it in the same attempt), not a few per request. A
// count reset on another instance in the meantime is seen here when the
// wait ends.
func WithLimiter(l Limiter) Option { return func(o *options) { o.limiter = l } }

// WithThrottles sets the login backoff per account (by login name, whether
// or not it exists) and per client IP; the defaults are
// [DefaultAccountThrottle] and [DefaultIPThrottle].
func WithThrottles(account, ip Throttle) Option {
	return func(o *options) { o.accountThrottle, o.ipThrottle = account, ip }
}

// New returns an Authenticator that verifies access tokens with v (usually
// the [*Tokens] that also issues them) and loads the user each token names
// from users. Its handlers need v to be a *Tokens, and LoginHandler needs
// users to be a [LoginStore]. It returns an error for a nil verifier or
// store, or a bad option.
func New[U any](v AccessVerifier, users UserStore[U], opts ...Option) (*Authenticator[U], error) {
	if users == nil {
		return nil, errors.New("auth: New needs a UserStore; NewStateless takes the token's claims as the user")
	}
	a, err := build[U](v, opts)
	if err != nil {
		return nil, err
	}
	a.users = users
	a.load = func(ctx context.Context, c *Claims) (U, Account, bool, error) {
		u, found, err := users.User(ctx, c.Subject)
		if err != nil || !found {
			return u, Account{}, found, err
		}
		return u, users.Account(u), true, nil
	}
	if cfg := a.options.userCache; cfg != nil {
		if err := cfg.check(); err != nil {
			return nil, err
		}
		a.userCache = newUserCache[U](*cfg)
		a.load = a.userCache.cached(a.now, a.load)
	}
	return a, nil
}

// NewStateless returns an Authenticator with no user store: the verified
// claims are the principal and the user (UserFrom[*Claims]), with the roles
// and token version the token states. Use it for tokens minted by another
// service ([ExternalIssuer]). It cannot log users in.
func NewStateless(v AccessVerifier, opts ...Option) (*Authenticator[*Claims], error) {
	a, err := build[*Claims](v, opts)
	if err != nil {
		return nil, err
	}
	if a.options.userCache != nil {
		return nil, errUserCacheStateless
	}
	a.load = func(_ context.Context, c *Claims) (*Claims, Account, bool, error) {
		return c, Account{ID: c.Subject, Active: true, Roles: c.Roles, TokenVersion: c.Version}, true, nil
	}
	return a, nil
}

func build[U any](v AccessVerifier, opts []Option) (*Authenticator[U], error) {
	if v == nil {
		return nil, errors.New("auth: nil AccessVerifier")
	}
	o := options{realm: "api", maxBody: 16 << 10, hashWait: 2 * time.Second,
		sessionLifetime: 30 * 24 * time.Hour, ipv6Prefix: DefaultIPv6Prefix, accountThrottle: DefaultAccountThrottle, ipThrottle: DefaultIPThrottle}
	for _, opt := range opts {
		opt(&o)
	}
	if !validRealm(o.realm) {
		return nil, fmt.Errorf("auth: realm %q has characters a quoted string cannot hold", o.realm)
	}
	if o.maxBody < 1 || o.maxBody > 1<<20 {
		return nil, fmt.Errorf("auth: max body %d bytes out of range [1, 1 MiB]", o.maxBody)
	}
	if o.ipv6Prefix < 32 || o.ipv6Prefix > 128 {
		return nil, fmt.Errorf("auth: IPv6 prefix /%d out of range [32, 128]", o.ipv6Prefix)
	}
	if o.hashWait <= 0 {
		return nil, errors.New("auth: hash wait must be positive")
	}
	if o.reuseGrace < 0 || o.reuseGrace > 30*time.Second {
		return nil, fmt.Errorf("auth: reuse grace %v out of range [0, 30s]", o.reuseGrace)
	}
	if t, ok := v.(*Tokens); ok && o.sessionLifetime < t.TTL(RefreshToken) || o.sessionLifetime > 366*24*time.Hour {
		return nil, fmt.Errorf("auth: session lifetime %v out of range [refresh TTL, 1 year]", o.sessionLifetime)
	}
	for _, th := range []Throttle{o.accountThrottle, o.ipThrottle} {
		if err := th.check(); err != nil {
			return nil, err
		}
	}
	if o.cutover != nil {
		if err := o.cutover.check(); err != nil {
			return nil, err
		}
	}
	if o.cookieConfig != nil {
		c, err := newCookieSetup(*o.cookieConfig)
		if err != nil {
			return nil, err
		}
		o.cookies = c
	}
	if o.oneTime != nil && o.oneTime.err != nil {
		return nil, o.oneTime.err
	}
	if o.refresh == nil {
		o.refresh = NewMemoryRefreshTokens()
	}
	if o.limiter == nil {
		o.limiter = NewMemoryLimiter()
	}
	if o.passwords == nil {
		p, err := NewPasswords()
		if err != nil {
			return nil, err
		}
		o.passwords = p
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if o.clientIP == nil {
		o.clientIP = remoteHost
	}
	a := &Authenticator[U]{options: o, verifier: v, responder: newResponder(o.realm), now: time.Now, refused: &refusals{}}
	rand.Read(a.eventKey[:])
	if t, ok := v.(*Tokens); ok {
		if t.signer.CanSign() { // not a verify-only Tokens
			a.tokens = t
		}
		a.now = t.now
	}
	return a, nil
}

// validRealm allows the characters of an RFC 6750 quoted string that need
// no escaping: %x20-21 / %x23-5B / %x5D-7E.
func validRealm(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return s != ""
}
