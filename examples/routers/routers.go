// Package routers shows the auth middleware and guards mounted on the three
// routers people use: net/http's ServeMux (Go 1.22 patterns), chi and
// gorilla/mux. Each function builds the same API:
//
//	GET    /users/me          any signed-in user
//	GET    /admin/stats       admins only
//	DELETE /users/{id}        that user, or an admin
//	GET    /external-data     an API key
package routers

import (
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"
	"github.com/keygate/auth"
)

// Me answers with the signed-in user's ID.
func Me(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.PrincipalFrom(r.Context())
	fmt.Fprintln(w, "user", p.Subject)
}

// OK answers "ok".
func OK(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }

// DeleteUser answers with the ID the handler would act on, read with id:
// the ID the owner guard checked, on every router.
func DeleteUser(id func(*http.Request) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "deleted", id(r)) }
}

// pathID reads the ID as RequireOwner leaves it: decoded, in r.PathValue.
func pathID(r *http.Request) string { return r.PathValue("id") }

// ServeMux mounts the API on a Go 1.22 ServeMux: RequireOwner reads
// r.PathValue("id").
func ServeMux(a *auth.Authenticator[auth.Account], keys auth.APIKeyStore) http.Handler {
	m := http.NewServeMux()
	m.Handle("GET /users/me", a.Middleware(http.HandlerFunc(Me)))
	m.Handle("GET /admin/stats", a.Middleware(auth.RequireRole("admin")(http.HandlerFunc(OK))))
	m.Handle("DELETE /users/{id}", a.Middleware(auth.RequireOwner("id", "admin")(DeleteUser(pathID))))
	m.Handle("GET /external-data", a.RequireAPIKey(keys)(http.HandlerFunc(OK)))
	return m
}

// Chi mounts the API on chi v5, which sets r.PathValue (with the raw,
// still-escaped segment when the client escaped more than needed:
// RequireOwner decodes it once and hands the handler the decoded ID in
// r.PathValue, so read it there, not with chi.URLParam). The guard goes on
// the route, with r.With: with r.Use on the root router it would run before
// routing, find no ID and refuse everyone. a.Middleware is a value for
// r.Use.
func Chi(a *auth.Authenticator[auth.Account], keys auth.APIKeyStore) http.Handler {
	r := chi.NewRouter()
	r.Group(func(r chi.Router) {
		r.Use(a.Middleware)
		r.Get("/users/me", Me)
		r.With(auth.RequireRole("admin")).Get("/admin/stats", OK)
		r.With(auth.RequireOwner("id", "admin")).Delete("/users/{id}", DeleteUser(pathID))
	})
	r.With(a.RequireAPIKey(keys)).Get("/external-data", OK)
	return r
}

// Gorilla mounts the API on gorilla/mux v1.8.1, which does not set
// r.PathValue: RequireOwnerFunc reads mux.Vars instead (decoded, as long as
// the router does not UseEncodedPath), and so does the handler.
func Gorilla(a *auth.Authenticator[auth.Account], keys auth.APIKeyStore) http.Handler {
	g := mux.NewRouter()
	users := g.NewRoute().Subrouter()
	users.Use(a.Middleware)
	users.Handle("/users/me", http.HandlerFunc(Me)).Methods("GET")
	users.Handle("/admin/stats", auth.RequireRole("admin")(http.HandlerFunc(OK))).Methods("GET")
	varsID := func(r *http.Request) string { return mux.Vars(r)["id"] }
	owner := auth.RequireOwnerFunc(varsID, "admin")
	users.Handle("/users/{id}", owner(DeleteUser(varsID))).Methods("DELETE")
	g.Handle("/external-data", a.RequireAPIKey(keys)(http.HandlerFunc(OK))).Methods("GET")
	return g
}
