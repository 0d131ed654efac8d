package auth

import (
	"net/http"
	"net/url"
	"strings"
)

// RoleChecker allows principals by role. Roles match exactly: no case
// folding, prefixes or comma lists. Use it as middleware per route
// (checker.Middleware), or call Allows inside a handler. Build it with
// [AnyRole] or [AllRoles]; [RequireRole] and [RequireAllRoles] are the
// short forms.
type RoleChecker struct {
	roles []string
	all   bool
}

// AnyRole returns a RoleChecker that allows a principal with at least one
// of roles. It panics if roles is empty: that is a wiring mistake.
func AnyRole(roles ...string) RoleChecker {
	if len(roles) == 0 {
		panic("auth: AnyRole needs at least one role")
	}
	return RoleChecker{roles: append([]string(nil), roles...)}
}

// AllRoles returns a RoleChecker that allows a principal with every one of
// roles. It panics if roles is empty.
func AllRoles(roles ...string) RoleChecker {
	if len(roles) == 0 {
		panic("auth: AllRoles needs at least one role")
	}
	return RoleChecker{roles: append([]string(nil), roles...), all: true}
}

// Allows reports whether p may pass. A nil p or a zero RoleChecker never
// passes.
func (c RoleChecker) Allows(p *Principal) bool {
	if p == nil || len(c.roles) == 0 {
		return false
	}
	for _, role := range c.roles {
		has := p.HasRole(role)
		if has && !c.all {
			return true
		}
		if !has && c.all {
			return false
		}
	}
	return c.all
}

// Middleware answers 401 when the request has no principal (the route is
// not behind the authentication middleware, or the request is anonymous)
// and 403 with error="insufficient_scope" when the principal lacks the
// roles; otherwise it calls next.
func (c RoleChecker) Middleware(next http.Handler) http.Handler {
	return guard(next, c.Allows)
}

// RequireRole returns middleware that allows principals with at least one
// of roles: auth.RequireRole("admin")(handler). Roles come from the user
// loaded for the request, so a role removed in the store takes effect at
// once (or, without a store, from the token). It panics if roles is empty.
func RequireRole(roles ...string) func(http.Handler) http.Handler {
	return AnyRole(roles...).Middleware
}

// RequireAllRoles returns middleware that allows principals with every one
// of roles. It panics if roles is empty.
func RequireAllRoles(roles ...string) func(http.Handler) http.Handler {
	return AllRoles(roles...).Middleware
}

// RequireOwner returns middleware for per-user routes such as
// "/users/{id}": it allows a signed-in user whose ID equals the path value
// param exactly, and principals with any of orRoles, such as "admin".
// Others get 403, and requests with no principal 401. Mount it after
// routing, where r.PathValue(param) is set: on a Go 1.22 ServeMux around the
// route's handler, on chi with r.With(...) or inside r.Route/r.Group (with
// chi's r.Use on the root router it runs before routing, sees no ID and
// refuses everyone). With gorilla/mux, which does not set r.PathValue, use
// [RequireOwnerFunc].
//
// The ID is compared decoded, as ServeMux hands it over: chi hands over the
// raw, still percent-encoded segment when the client escaped more than it
// had to ("/users/ada%40example.test"). RequireOwner finds the segment the
// value came from and decodes it exactly once, so the owner of an ID that
// needs escaping gets through on every router and no other ID (say
// "ada%40example.test", sent double-encoded) can pass for it; a value that
// could stand for two different IDs is refused. The handler then finds the
// decoded ID, the one checked, in r.PathValue(param): read it there, not
// with chi.URLParam, which keeps the raw form.
func RequireOwner(param string, orRoles ...string) func(http.Handler) http.Handler {
	bypass := RoleChecker{roles: append([]string(nil), orRoles...)}
	return func(next http.Handler) http.Handler {
		// The handler gets the ID the guard checked: decoded, in PathValue.
		decoded := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if raw := r.PathValue(param); r.URL.RawPath != "" && raw != "" {
				if id, ok := decodedPathValue(r.URL, raw); ok && id != raw {
					r = r.Clone(r.Context()) // never change the caller's request
					r.SetPathValue(param, id)
				}
			}
			next.ServeHTTP(w, r)
		})
		return guardRequest(decoded, func(r *http.Request, p *Principal) bool {
			id, ok := decodedPathValue(r.URL, r.PathValue(param))
			return ok && id != "" && p.APIKey == nil && p.Subject == id || bypass.Allows(p)
		})
	}
}

// decodedPathValue returns the decoded form of v, a path value a router
// took from u's path either decoded (ServeMux, gorilla/mux) or raw (chi,
// when u.RawPath is set). It is false when v is no single segment of the
// path, or could be either of two different IDs.
func decodedPathValue(u *url.URL, v string) (string, bool) {
	if u.RawPath == "" || v == "" {
		return v, true // no escapes beyond the defaults: raw and decoded agree
	}
	id, found := "", false
	for seg := range strings.SplitSeq(u.EscapedPath(), "/") {
		dec, err := url.PathUnescape(seg)
		if err != nil {
			continue
		}
		for _, cand := range [2][2]string{{seg, dec}, {dec, dec}} {
			if cand[0] != v {
				continue
			}
			if found && id != cand[1] {
				return "", false
			}
			id, found = cand[1], true
		}
	}
	return id, found
}

// RequireOwnerFunc is [RequireOwner] with the owner's ID read by id, such as
// func(r *http.Request) string { return mux.Vars(r)["id"] } on gorilla/mux
// (whose values are decoded, unless the router uses UseEncodedPath). The
// handler must read the ID the same way. An empty ID matches nobody.
func RequireOwnerFunc(id func(*http.Request) string, orRoles ...string) func(http.Handler) http.Handler {
	bypass := RoleChecker{roles: append([]string(nil), orRoles...)}
	return func(next http.Handler) http.Handler {
		return guardRequest(next, func(r *http.Request, p *Principal) bool {
			owner := id(r)
			return owner != "" && p.APIKey == nil && p.Subject == owner || bypass.Allows(p)
		})
	}
}

func guard(next http.Handler, allows func(*Principal) bool) http.Handler {
	return guardRequest(next, func(_ *http.Request, p *Principal) bool { return allows(p) })
}

// guardRequest calls next when allows says so, and answers with the error
// writer of the middleware that authenticated the request otherwise. Every
// method is guarded alike: HEAD and OPTIONS are no way around it.
func guardRequest(next http.Handler, allows func(*http.Request, *Principal) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r.Context())
		fail := func(w http.ResponseWriter, _ *http.Request, err error) { defaultRealm.write(w, err) }
		if info != nil && info.fail != nil {
			fail = info.fail
		}
		switch {
		case info == nil || info.principal == nil:
			fail(w, r, ErrNoToken)
		case !allows(r, info.principal):
			if info.log != nil {
				info.log(r, Event{Kind: EventAccessDenied, Subject: info.principal.Subject, Err: ErrForbidden})
			}
			fail(w, r, ErrForbidden)
		default:
			next.ServeHTTP(w, r)
		}
	})
}
