package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// JWKS is a set of verification keys from a JSON Web Key Set (RFC 7517 §5):
// fetched from an issuer's URL ([NewJWKS]) or parsed from a document
// ([ParseJWKS]). [WithJWKS] puts it behind the key lookup of a
// [NewVerifyingTokens] or an [ExternalIssuer]: a token's "kid" names the
// key, and the key's algorithm must be the token's "alg".
//
// A fetched set is cached for the response's Cache-Control max-age, bounded
// to [MinJWKSRefresh, MaxJWKSRefresh] ([DefaultJWKSRefresh] without one);
// every fetch replaces the whole set, so keys the issuer dropped are
// dropped. A token verified with a cached key never waits on the network:
// once the cache is stale, the first such token starts a refresh in the
// background and is verified with the keys at hand. A token that names an
// unknown kid (after a key rotation, say) triggers one refetch and waits for
// it, at most the fetch timeout; such refetches are rate-limited to one per
// refetch interval ([WithRefetchInterval]), so a flood of tokens with random
// kids costs the issuer at most that. One fetch runs at a time; requests that
// need one join it. While the endpoint fails (down, slow, malformed,
// oversized), the last good keys keep serving, failures are logged at Warn,
// and background retries wait a refetch interval.
//
// A JWKS is safe for concurrent use and starts no goroutine until a fetch.
type JWKS struct {
	url    string // "" for a parsed document
	cfg    jwksConfig
	client *http.Client
	state  atomic.Pointer[jwksState]

	mu          sync.Mutex
	inflight    chan struct{} // closed when the fetch in flight ends; nil if none
	lastRefetch time.Time     // when the last unknown-kid refetch started
	nextRetry   time.Time     // no background refresh before, after a failure
	lastErr     error
	fetches     int64
}

type jwksState struct {
	keys    map[string]Key
	expires time.Time // zero for a parsed document: never stale
}

// lookup finds a key by kid; a token without kid takes the only key.
func (s *jwksState) lookup(kid string) (Key, bool) {
	if k, ok := s.keys[kid]; ok {
		return k, true
	}
	if kid == "" && len(s.keys) == 1 {
		for _, k := range s.keys {
			return k, true
		}
	}
	return Key{}, false
}

// Defaults and bounds of a fetched JWKS.
const (
	// DefaultJWKSRefresh is how long a set is fresh when its response has no
	// Cache-Control max-age.
	DefaultJWKSRefresh = 10 * time.Minute
	// MinJWKSRefresh and MaxJWKSRefresh bound a response's max-age (RFC 9111
	// §5.2.2.1); no-store and no-cache count as MinJWKSRefresh.
	MinJWKSRefresh = time.Minute
	MaxJWKSRefresh = 24 * time.Hour
	// DefaultJWKSRefetchInterval is the least time between two refetches for
	// an unknown kid ([WithRefetchInterval]).
	DefaultJWKSRefetchInterval = 5 * time.Second
	// DefaultJWKSTimeout bounds one fetch ([WithFetchTimeout]).
	DefaultJWKSTimeout = 5 * time.Second
)

type jwksConfig struct {
	client   *http.Client
	timeout  time.Duration
	refetch  time.Duration
	rsaAlg   string
	now      func() time.Time
	logger   *slog.Logger
	insecure bool
}

// A JWKSOption configures [NewJWKS], [ParseJWKS] and [ParseJWK].
type JWKSOption func(*jwksConfig)

// WithRSAAlgorithm sets the algorithm of RSA JWKs that have no "alg" (RFC
// 7517 makes it optional, and an RSA key fits several): "RS256", "RS384",
// "RS512" or "PS256". Without it, such a JWK is an error.
func WithRSAAlgorithm(alg string) JWKSOption { return func(c *jwksConfig) { c.rsaAlg = alg } }

// WithHTTPClient sets the client that fetches the JWKS. The default follows
// no redirects and has the fetch timeout as its Timeout. The fetch timeout
// applies whatever the client's own.
func WithHTTPClient(client *http.Client) JWKSOption { return func(c *jwksConfig) { c.client = client } }

// WithFetchTimeout bounds one fetch, connection, headers and body together:
// [DefaultJWKSTimeout] (5 s) by default, from 100 ms to 30 s. A request
// that waits for an unknown-kid refetch waits at most this long.
func WithFetchTimeout(d time.Duration) JWKSOption { return func(c *jwksConfig) { c.timeout = d } }

// WithRefetchInterval sets the least time between two refetches made for an
// unknown kid, and between background retries after a failure:
// [DefaultJWKSRefetchInterval] (5 s) by default, from 1 s to 10 min.
func WithRefetchInterval(d time.Duration) JWKSOption { return func(c *jwksConfig) { c.refetch = d } }

// WithJWKSClock sets the source of the current time for the cache and the
// rate limit, for tests.
func WithJWKSClock(now func() time.Time) JWKSOption { return func(c *jwksConfig) { c.now = now } }

// WithJWKSLogger sets where fetch failures are logged, at Warn
// (slog.Default() by default). Messages hold the URL and the reason, never
// key material.
func WithJWKSLogger(l *slog.Logger) JWKSOption { return func(c *jwksConfig) { c.logger = l } }

// WithInsecureHTTP lets NewJWKS fetch over plain http from any host. Without
// it, the URL must be https, or http to a loopback address (localhost,
// 127.0.0.0/8, ::1) for development and tests.
func WithInsecureHTTP() JWKSOption { return func(c *jwksConfig) { c.insecure = true } }

func newJWKSConfig(opts []JWKSOption) (jwksConfig, error) {
	c := jwksConfig{timeout: DefaultJWKSTimeout, refetch: DefaultJWKSRefetchInterval, now: time.Now}
	for _, opt := range opts {
		opt(&c)
	}
	switch {
	case c.rsaAlg != "" && c.rsaAlg != "RS256" && c.rsaAlg != "RS384" && c.rsaAlg != "RS512" && c.rsaAlg != "PS256":
		return c, fmt.Errorf("auth: %q is not an RSA signature algorithm (RS256, RS384, RS512, PS256)", c.rsaAlg)
	case c.timeout < 100*time.Millisecond || c.timeout > 30*time.Second:
		return c, fmt.Errorf("auth: JWKS fetch timeout %v out of range [100ms, 30s]", c.timeout)
	case c.refetch < time.Second || c.refetch > 10*time.Minute:
		return c, fmt.Errorf("auth: JWKS refetch interval %v out of range [1s, 10m]", c.refetch)
	case c.now == nil:
		return c, errors.New("auth: nil JWKS clock")
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c, nil
}

// NewJWKS returns a JWKS fetched from rawURL, such as Better Auth's
// "https://app.example.com/api/auth/jwks". It fetches nothing yet: the
// first token fetches, as an unknown kid does, or call [JWKS.Refresh] at
// startup to fail early. The URL must be absolute, https (see
// [WithInsecureHTTP]), without user info; it is only ever the configured
// one, never a URL from a token.
func NewJWKS(rawURL string, opts ...JWKSOption) (*JWKS, error) {
	cfg, err := newJWKSConfig(opts)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil {
		return nil, errors.New("auth: a JWKS URL must be absolute, with a host and no user info")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && (cfg.insecure || isLoopback(u.Hostname())):
	default:
		return nil, fmt.Errorf("auth: a JWKS URL must be https (or http to a loopback address), not %q", u.Scheme)
	}
	client := cfg.client
	if client == nil {
		client = &http.Client{
			Timeout:       cfg.timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &JWKS{url: u.String(), cfg: cfg, client: client}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseJWKS returns a JWKS of the keys in doc, a JWK Set document, for use
// offline: it never fetches. Each key is parsed as [ParseJWK] parses it;
// keys not for signature verification with a supported algorithm ("use"
// other than "sig", another "kty", curve or "alg") are left out, and any
// other bad key refuses the document. It returns an error for a document
// over [MaxJWKSBytes] or [MaxJWKSKeys], with duplicate key IDs, or with no
// usable key. Of the [JWKSOption]s, only WithRSAAlgorithm applies.
func ParseJWKS(doc []byte, opts ...JWKSOption) (*JWKS, error) {
	cfg, err := newJWKSConfig(opts)
	if err != nil {
		return nil, err
	}
	keys, err := parseJWKSet(doc, cfg.rsaAlg)
	if err != nil {
		return nil, err
	}
	j := &JWKS{cfg: cfg}
	j.state.Store(&jwksState{keys: keys})
	return j, nil
}

// WithJWKS adds the keys of j to the key lookup of [NewVerifyingTokens] or
// [NewExternalIssuer]: a token whose kid is not among the configured keys is
// looked up in j. A JWKS holds public keys only, so it cannot be combined
// with HMAC keys, and NewTokens takes it too (to verify tokens that other
// instances signed with keys it publishes).
func WithJWKS(j *JWKS) TokenOption {
	return func(t *Tokens) {
		if j == nil {
			t.ext.fail(errors.New("auth: WithJWKS(nil)"))
			return
		}
		t.jwks = j
	}
}

// Refresh fetches the set now, or waits for the fetch in flight, and
// returns its error, or ctx's. It is not rate-limited: call it at startup
// (to fail early when the issuer is unreachable) or on a schedule of your
// own. For a parsed document it does nothing.
func (j *JWKS) Refresh(ctx context.Context) error {
	if j.url == "" {
		return nil
	}
	j.mu.Lock()
	ch := j.startLocked()
	j.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lastErr
}

// Fetches returns how many fetches have started, for tests and metrics.
func (j *JWKS) Fetches() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.fetches
}

// KeyIDs returns the key IDs of the current set, in no order; none before
// the first successful fetch.
func (j *JWKS) KeyIDs() []string {
	st := j.state.Load()
	if st == nil {
		return nil
	}
	ids := make([]string, 0, len(st.keys))
	for id := range st.keys {
		ids = append(ids, id)
	}
	return ids
}

// key returns the key kid names. A stale set starts a background refresh;
// an unknown kid waits for one rate-limited refetch.
func (j *JWKS) key(kid string) (Key, bool) {
	st := j.state.Load()
	if st != nil {
		if k, ok := st.lookup(kid); ok {
			if j.url != "" && !j.cfg.now().Before(st.expires) {
				j.refreshInBackground()
			}
			return k, true
		}
	}
	if j.url == "" {
		return Key{}, false
	}
	ch := j.refetchForUnknownKID()
	if ch == nil {
		return Key{}, false
	}
	<-ch // the fetch ends within its timeout
	if st = j.state.Load(); st != nil {
		return st.lookup(kid)
	}
	return Key{}, false
}

// refetchForUnknownKID joins the fetch in flight, or starts one unless one
// started for an unknown kid less than a refetch interval ago (or, with no
// keys yet, a fetch failed less than that ago); nil means no fetch to wait
// for. The first fetch and background refreshes do not count against the
// limit, so a rotation right after them is picked up at once.
func (j *JWKS) refetchForUnknownKID() <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.inflight != nil {
		return j.inflight
	}
	now := j.cfg.now()
	if j.state.Load() == nil {
		if now.Before(j.nextRetry) {
			return nil
		}
		return j.startLocked()
	}
	if d := now.Sub(j.lastRefetch); !j.lastRefetch.IsZero() && d < j.cfg.refetch && d > -j.cfg.refetch {
		return nil
	}
	j.lastRefetch = now
	return j.startLocked()
}

func (j *JWKS) refreshInBackground() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.inflight != nil || j.cfg.now().Before(j.nextRetry) {
		return
	}
	j.startLocked()
}

// startLocked starts a fetch unless one is in flight, and returns the
// channel closed when it ends. j.mu is held.
func (j *JWKS) startLocked() chan struct{} {
	if j.inflight != nil {
		return j.inflight
	}
	ch := make(chan struct{})
	j.inflight = ch
	j.fetches++
	go j.fetch(ch)
	return ch
}

func (j *JWKS) fetch(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), j.cfg.timeout)
	defer cancel()
	keys, ttl, err := j.get(ctx)
	now := j.cfg.now()
	if err == nil {
		j.state.Store(&jwksState{keys: keys, expires: now.Add(ttl)})
	} else {
		j.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "auth: JWKS fetch failed; keeping the last good keys",
			slog.String("url", j.url), slog.String("reason", err.Error()))
	}
	j.mu.Lock()
	j.lastErr = err
	if err != nil {
		j.nextRetry = now.Add(j.cfg.refetch)
	}
	j.inflight = nil
	j.mu.Unlock()
	close(done)
}

// get fetches and parses the set, and returns how long to cache it.
func (j *JWKS) get(ctx context.Context) (map[string]Key, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("auth: JWKS fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("auth: JWKS endpoint answered %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("auth: JWKS fetch: %w", err)
	}
	if len(body) > MaxJWKSBytes {
		return nil, 0, fmt.Errorf("auth: JWKS larger than %d bytes", MaxJWKSBytes)
	}
	keys, err := parseJWKSet(body, j.cfg.rsaAlg)
	if err != nil {
		return nil, 0, err
	}
	return keys, cacheTTL(resp.Header.Get("Cache-Control")), nil
}

// cacheTTL reads max-age from a Cache-Control header (RFC 9111 §5.2.2.1),
// bounded to [MinJWKSRefresh, MaxJWKSRefresh]; no-store and no-cache count
// as the minimum, and no max-age as DefaultJWKSRefresh.
func cacheTTL(cc string) time.Duration {
	ttl := DefaultJWKSRefresh
	for d := range strings.SplitSeq(cc, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return MinJWKSRefresh
		case "max-age":
			n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64)
			if err != nil || n < 0 {
				continue
			}
			if n > int64(MaxJWKSRefresh/time.Second) {
				n = int64(MaxJWKSRefresh / time.Second)
			}
			ttl = time.Duration(n) * time.Second
		}
	}
	return min(max(ttl, MinJWKSRefresh), MaxJWKSRefresh)
}
