package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// CookieConfig configures the cookie transport of [WithCookies], for
// browser apps that should not keep tokens where scripts can read them.
type CookieConfig struct {
	// RefreshPath is the Path of the refresh-token cookie: the common
	// prefix of the refresh and logout endpoints (such as "/auth" for
	// /auth/refresh and /auth/logout), so that the browser sends the
	// refresh token there and nowhere else. Required; it must start with
	// '/' and hold only printable ASCII without ';' or spaces.
	RefreshPath string
	// AccessToken also sets the access token as a cookie (Path=/), which
	// the middleware reads when the request has no Bearer header. Without
	// it, the access token stays in the response body, for the app to keep
	// in memory.
	AccessToken bool
	// SameSite is http.SameSiteLaxMode (the default, when zero) or
	// http.SameSiteStrictMode. None is refused: it would send the cookies
	// on cross-site requests.
	SameSite http.SameSite
	// CSRFToken adds a double-submit token to the cross-origin check, for
	// defense in depth (OWASP's signed double-submit cookie, bound to the
	// session): with each access cookie, the handlers set
	// "__Host-csrf_token", readable by scripts, whose value is derived
	// from the access token's ID; every cookie-authenticated request with
	// an unsafe method must echo it in the X-CSRF-Token header, else 403
	// ([ErrCSRFToken]). A cookie planted by another site cannot match a
	// session it does not know. It needs AccessToken.
	CSRFToken bool
	// InsecureLocalhost is a development mode: for requests whose Host is
	// "localhost" (or a name under it) or a loopback IP address, the
	// cookies lack Secure, and so the __Host-/__Secure- prefixes, so that
	// they work over plain http. Requests to any other host still get
	// Secure, prefixed cookies.
	InsecureLocalhost bool
	// TrustedOrigins are origins ("https://app.example.com", scheme, host
	// and optional port) whose cross-origin unsafe requests are allowed to
	// carry the cookies, as [http.CrossOriginProtection.AddTrustedOrigin]
	// takes them.
	TrustedOrigins []string
}

// WithCookies turns on the cookie transport. The login and refresh
// handlers set the refresh token as an HttpOnly, Secure, SameSite cookie
// named "__Secure-refresh_token" with Path=RefreshPath and leave it out of
// the JSON body; with CookieConfig.AccessToken, the access token too, as
// "__Host-access_token" with Path=/ (the __Host- prefix: Secure, no Domain,
// Path=/, so no sibling subdomain can set or shadow it). The refresh and
// logout handlers read the refresh token from its cookie when the request
// carries it, and the logout handler clears both cookies. In the
// InsecureLocalhost mode the names lose their prefixes on localhost.
//
// Every request the cookies authenticate with an unsafe method (not GET,
// HEAD or OPTIONS) must pass [http.CrossOriginProtection]: a browser's
// Sec-Fetch-Site header must say same-origin (or none), or else its Origin
// must match the Host; a cross-origin request gets 403 ([ErrCrossOrigin]).
// The login handler is checked too (login CSRF), and so are the refresh
// and logout handlers. With CookieConfig.CSRFToken, cookie-authenticated
// unsafe requests must also carry the session's double-submit token in the
// [CSRFHeader] header. Requests with a Bearer header are not checked: a
// browser never adds one by itself. New returns an error for a bad
// RefreshPath, SameSite or trusted origin.
func WithCookies(c CookieConfig) Option {
	return func(o *options) {
		cc := c
		cc.TrustedOrigins = append([]string(nil), c.TrustedOrigins...)
		o.cookieConfig = &cc
	}
}

// The cookie kinds.
const (
	accessCookie = iota
	refreshCookie
	csrfCookie
)

// CSRFHeader is the request header that carries the double-submit token of
// [CookieConfig].CSRFToken.
const CSRFHeader = "X-Csrf-Token"

// cookieSetup is a checked CookieConfig.
type cookieSetup struct {
	CookieConfig
	cop *http.CrossOriginProtection
}

func newCookieSetup(c CookieConfig) (*cookieSetup, error) {
	switch c.SameSite {
	case 0, http.SameSiteDefaultMode:
		c.SameSite = http.SameSiteLaxMode
	case http.SameSiteLaxMode, http.SameSiteStrictMode:
	default:
		return nil, errors.New("auth: cookie SameSite must be Lax or Strict")
	}
	if c.CSRFToken && !c.AccessToken {
		return nil, errors.New("auth: cookie CSRFToken needs AccessToken: it guards requests the access cookie authenticates")
	}
	if !validCookiePath(c.RefreshPath) {
		return nil, fmt.Errorf("auth: cookie RefreshPath %q must start with '/' and hold printable ASCII without ';' or spaces", c.RefreshPath)
	}
	cop := http.NewCrossOriginProtection()
	for _, o := range c.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("auth: trusted origin: %w", err)
		}
	}
	return &cookieSetup{CookieConfig: c, cop: cop}, nil
}

func validCookiePath(p string) bool {
	if !strings.HasPrefix(p, "/") || len(p) > 1024 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= 0x20 || c >= 0x7f || c == ';' {
			return false
		}
	}
	return true
}

// insecure reports whether r gets the development cookies: the mode is on
// and the request's host is localhost or a loopback address.
func (c *cookieSetup) insecure(r *http.Request) bool {
	if !c.InsecureLocalhost {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// cookie returns the cookie of the given kind for r, with no value.
func (c *cookieSetup) cookie(r *http.Request, kind int) *http.Cookie {
	ck := &http.Cookie{HttpOnly: true, SameSite: c.SameSite, Secure: !c.insecure(r)}
	switch kind {
	case csrfCookie:
		ck.Name, ck.Path, ck.HttpOnly = "csrf_token", "/", false // the app's scripts read it
		if ck.Secure {
			ck.Name = "__Host-csrf_token"
		}
	case accessCookie:
		ck.Name, ck.Path = "access_token", "/"
		if ck.Secure {
			ck.Name = "__Host-access_token"
		}
	default:
		ck.Name, ck.Path = "refresh_token", c.RefreshPath
		if ck.Secure {
			ck.Name = "__Secure-refresh_token"
		}
	}
	return ck
}

// setTokenCookies sets the token cookies of a login or refresh answer and
// takes the tokens it set out of the body. accessID is the access token's
// ID, refreshExp the refresh token's expiry.
func (a *Authenticator[U]) setTokenCookies(w http.ResponseWriter, r *http.Request, resp *tokenResponse, accessID string, refreshExp time.Time) {
	if a.cookies == nil {
		return
	}
	if resp.RefreshToken != "" {
		ck := a.cookies.cookie(r, refreshCookie)
		ck.Value = resp.RefreshToken
		ck.MaxAge = max(int(refreshExp.Sub(a.now())/time.Second), 1)
		http.SetCookie(w, ck)
		resp.RefreshToken = ""
	}
	if a.cookies.AccessToken && resp.AccessToken != "" {
		ck := a.cookies.cookie(r, accessCookie)
		ck.Value = resp.AccessToken
		ck.MaxAge = int(a.tokens.TTL(AccessToken) / time.Second)
		http.SetCookie(w, ck)
		resp.AccessToken = ""
		if a.cookies.CSRFToken {
			csrf := a.cookies.cookie(r, csrfCookie)
			csrf.Value, csrf.MaxAge = csrfToken(accessID), ck.MaxAge
			http.SetCookie(w, csrf)
		}
	}
}

// csrfToken is the double-submit token of the access token whose ID is id:
// a hash of the 128-bit random ID, which no other site knows, so it binds
// the token to the session without a key.
func csrfToken(id string) string {
	sum := sha256.Sum256([]byte("github.com/keygate/auth v1 csrf\x00" + id))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// checkCSRFToken checks the double-submit token of a cookie-authenticated
// request with an unsafe method, if the configuration asks for one.
func (a *Authenticator[U]) checkCSRFToken(r *http.Request, accessID string) error {
	if a.cookies == nil || !a.cookies.CSRFToken {
		return nil
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	got := r.Header.Values(CSRFHeader)
	if len(got) != 1 || subtle.ConstantTimeCompare([]byte(got[0]), []byte(csrfToken(accessID))) != 1 {
		return ErrCSRFToken
	}
	return nil
}

// clearTokenCookies expires the token cookies (and the CSRF cookie).
func (a *Authenticator[U]) clearTokenCookies(w http.ResponseWriter, r *http.Request) {
	if a.cookies == nil {
		return
	}
	for _, kind := range []int{refreshCookie, accessCookie, csrfCookie} {
		if kind == accessCookie && !a.cookies.AccessToken || kind == csrfCookie && !a.cookies.CSRFToken {
			continue
		}
		ck := a.cookies.cookie(r, kind)
		ck.MaxAge = -1 // Max-Age=0: delete now
		http.SetCookie(w, ck)
	}
}

// cookieValue returns the value of r's cookie of the given kind, if r has
// one that is not empty. Two cookies of the name are ErrInvalidRequest:
// one may have been planted by a sibling subdomain (the refresh cookie,
// scoped to a path, cannot carry the __Host- prefix that rules that out),
// and the server cannot tell which is its own.
func (a *Authenticator[U]) cookieValue(r *http.Request, kind int) (string, bool, error) {
	if a.cookies == nil {
		return "", false, nil
	}
	cs := r.CookiesNamed(a.cookies.cookie(r, kind).Name)
	switch {
	case len(cs) > 1:
		return "", true, ErrInvalidRequest
	case len(cs) == 0 || cs[0].Value == "":
		return "", false, nil
	}
	return cs[0].Value, true, nil
}

// accessToken reads the request's access token: from the Authorization
// header, else, with the access cookie configured, from the cookie.
func (a *Authenticator[U]) accessToken(r *http.Request) (token string, fromCookie bool, err error) {
	token, err = bearerToken(r.Header)
	if err != ErrNoToken || a.cookies == nil || !a.cookies.AccessToken {
		return token, false, err
	}
	token, ok, err := a.cookieValue(r, accessCookie)
	if err != nil {
		return "", true, err
	}
	if ok {
		if len(token) > maxTokenSize {
			return "", true, invalid(ErrMalformedToken, nil)
		}
		return token, true, nil
	}
	return "", false, ErrNoToken
}

// checkCrossOrigin refuses a cross-origin browser request with an unsafe
// method, when the cookie transport is on.
func (a *Authenticator[U]) checkCrossOrigin(r *http.Request) error {
	if a.cookies == nil {
		return nil
	}
	if err := a.cookies.cop.Check(r); err != nil {
		return fmt.Errorf("%w: %w", ErrCrossOrigin, err)
	}
	return nil
}
