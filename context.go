package auth

import (
	"context"
	"net/http"
)

// Principal is who a request acts for: a user signed in with a token, or a
// service calling with an API key. The role and owner guards read it, so
// they work the same for both.
type Principal struct {
	// Subject is the user ID, or the API key's ID.
	Subject string
	// Roles are the user's roles as loaded from the store (or, without a
	// store, as the token states them), or the API key's roles.
	Roles []string
	// Claims are the verified token's claims; nil for an API key.
	Claims *Claims
	// APIKey is the key's record; nil for a token.
	APIKey *APIKey
}

// HasRole reports whether p has the role, matched exactly.
func (p *Principal) HasRole(role string) bool {
	for _, r := range p.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// authInfo is the one context value the middleware stores per request.
type authInfo struct {
	principal *Principal
	user      any                                             // the loaded user, or nil
	fail      func(http.ResponseWriter, *http.Request, error) // the Authenticator's error handler
	log       func(*http.Request, Event)                      // the Authenticator's event sink
}

// infoKey is unexported, so no other package can plant an authenticated
// principal under it.
type infoKey struct{}

func infoFrom(ctx context.Context) *authInfo {
	info, _ := ctx.Value(infoKey{}).(*authInfo)
	return info
}

// PrincipalFrom returns the principal stored by the middleware and whether
// there was one.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	if info := infoFrom(ctx); info != nil && info.principal != nil {
		return info.principal, true
	}
	return nil, false
}

// ClaimsFrom returns the verified token claims stored by the middleware and
// whether there were any (there are none for an API key).
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	if p, ok := PrincipalFrom(ctx); ok && p.Claims != nil {
		return p.Claims, true
	}
	return nil, false
}

// UserFrom returns the user stored by [Authenticator.Middleware] and whether
// there was one of type U. U is the type given to [New] (with
// [NewStateless], *Claims); an interface that type implements also works.
func UserFrom[U any](ctx context.Context) (U, bool) {
	info := infoFrom(ctx)
	if info == nil {
		var zero U
		return zero, false
	}
	u, ok := info.user.(U)
	return u, ok
}

// MustUser is [UserFrom] for handlers that only ever run behind
// [Authenticator.Middleware]. It panics if there is no user of type U: that
// is a wiring mistake (a route mounted without the middleware, or the wrong
// type), which a test of the route finds at once.
func MustUser[U any](ctx context.Context) U {
	u, ok := UserFrom[U](ctx)
	if !ok {
		panic("auth: MustUser: no user of this type in the context; is the route behind the middleware?")
	}
	return u
}

// ContextWithPrincipal returns a copy of ctx that carries p and, if user is
// not nil, the user: what the middleware does, for tests and custom
// middleware.
func ContextWithPrincipal(ctx context.Context, p *Principal, user any) context.Context {
	return context.WithValue(ctx, infoKey{}, &authInfo{principal: p, user: user})
}
