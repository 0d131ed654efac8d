package auth

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FreshLoginError is returned by [Authenticator.RequireFresh] for a token
// whose login (its "auth_time") is older than the route allows, or that
// has no auth_time. It matches [ErrLoginTooOld] and answers 401 with
//
//	WWW-Authenticate: Bearer realm="api", error="insufficient_user_authentication",
//	    error_description="A more recent login is required", max_age=300
//
// as RFC 9470 §3 describes: the client asks for the password again, posts
// it to [Authenticator.ReauthenticateHandler], and retries with the new
// access token.
type FreshLoginError struct {
	// MaxAge is the largest age of a login the route accepts.
	MaxAge time.Duration
}

func (e *FreshLoginError) Error() string {
	return fmt.Sprintf("auth: login too old (max age %v)", e.MaxAge)
}

// Is makes errors.Is(err, ErrLoginTooOld) true.
func (e *FreshLoginError) Is(target error) bool { return target == ErrLoginTooOld }

// maxAge is MaxAge in whole seconds, rounded down, at least 0.
func (e *FreshLoginError) maxAge() int64 { return max(int64(e.MaxAge/time.Second), 0) }

// RequireFresh returns a guard, to use behind [Authenticator.Middleware],
// that lets through only principals whose token says the user entered the
// password at most maxAge ago: its "auth_time" claim, set at login and by
// [Authenticator.ReauthenticateHandler], and kept by refresh (so a refresh
// never makes a login fresh again). Use it for a password change, an
// account deletion, a new email address. Others get a [*FreshLoginError]
// (401 with the RFC 9470 challenge and max_age in seconds); an API key
// never counts as a fresh login; no principal gets [ErrNoToken]. The age is
// measured with the [Tokens]' clock.
//
// It panics if maxAge is below one second: a setup mistake.
func (a *Authenticator[U]) RequireFresh(maxAge time.Duration) func(http.Handler) http.Handler {
	if maxAge < time.Second {
		panic("auth: RequireFresh needs a max age of at least one second")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := PrincipalFrom(r.Context())
			switch {
			case !ok:
				a.fail(w, r, ErrNoToken)
			case p.Claims == nil || p.Claims.AuthTime == nil || a.now().Sub(p.Claims.AuthTime.Time) > maxAge:
				a.fail(w, r, &FreshLoginError{MaxAge: maxAge})
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}

// reauthResponse is the re-authentication endpoint's answer.
type reauthResponse struct {
	AccessToken string `json:"access_token,omitempty"` // omitted when it is set as a cookie
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// ReauthenticateHandler returns the re-authentication endpoint, to mount
// behind [Authenticator.Middleware] at POST /reauth: the signed-in user
// posts the password again (a form or JSON with "password") and gets a
// fresh access token, one whose "auth_time" is now, to retry the route
// [Authenticator.RequireFresh] refused. The password goes through
// [Authenticator.CheckPassword], so attempts are throttled per user and
// client IP, and a failure costs one hash and answers 401 (429 while
// throttled). The new token has the roles both the current token and the
// user have; the session (its refresh-token family) goes on unchanged, and
// its refresh tokens keep the login's auth_time, so the freshness lasts as
// long as this access token (as Flask-JWT-Extended's fresh tokens do). With
// [WithCookies] and CookieConfig.AccessToken, the token is set as the
// access cookie instead of the body (with CSRFToken, a new CSRF cookie too).
//
// It panics if the Authenticator has no user store or cannot issue tokens.
func (a *Authenticator[U]) ReauthenticateHandler() http.Handler {
	if a.tokens == nil || a.users == nil {
		panic("auth: ReauthenticateHandler needs New with a *Tokens and a UserStore")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		if !ok || p.Claims == nil {
			a.fail(w, r, ErrNoToken)
			return
		}
		in, err := a.readBody(w, r, "password")
		if err == nil && in.Password == "" {
			err = ErrInvalidRequest
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		u, err := a.CheckPassword(r, p.Subject, in.Password)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		acct := a.users.Account(u)
		roles := slices.DeleteFunc(slices.Clone(p.Claims.Roles), func(r string) bool { return !slices.Contains(acct.Roles, r) })
		c := Claims{Email: acct.Email, Name: acct.Name, Roles: roles, Version: acct.TokenVersion, AuthTime: jwt.NewNumericDate(a.now())}
		c.Subject = acct.ID
		access, ac, err := a.tokens.Issue(AccessToken, c)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		resp := tokenResponse{AccessToken: access}
		a.setTokenCookies(w, r, &resp, ac.ID, time.Time{})
		writeJSON(w, reauthResponse{resp.AccessToken, "bearer", int64(a.tokens.TTL(AccessToken).Seconds())})
	})
}
