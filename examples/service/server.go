package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/keygate/auth"
	"github.com/keygate/auth/sqlstore"
)

// routes is the API, on Go 1.22 ServeMux patterns.
func (s *app) routes() http.Handler {
	a := s.auth
	admin := auth.RequireRole("admin")
	mux := http.NewServeMux()

	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("POST /auth/register", http.HandlerFunc(s.register))
	// The auth handlers check the method themselves (405 with Allow).
	mux.Handle("/auth/login", a.LoginHandler())
	mux.Handle("/auth/refresh", a.RefreshHandler())
	mux.Handle("/auth/logout", a.LogoutHandler())
	mux.Handle("POST /auth/logout/all", a.Middleware(a.LogoutEverywhereHandler()))
	// Sensitive actions need a login at most s.freshFor old; POST
	// /auth/reauth (the password again, throttled) makes it fresh.
	mux.Handle("POST /auth/reauth", a.Middleware(a.ReauthenticateHandler()))
	mux.Handle("POST /auth/password", a.Middleware(a.RequireFresh(s.freshFor)(http.HandlerFunc(s.changePassword))))
	// Forgotten passwords and email ownership: one-time tokens, sent by
	// the development mailer to the log.
	mux.Handle("/auth/password-reset/request", a.PasswordResetRequestHandler())
	mux.Handle("/auth/password-reset", a.PasswordResetHandler())
	mux.Handle("/auth/verify-email", a.VerifyEmailHandler())

	mux.Handle("GET /users/me", a.Middleware(http.HandlerFunc(s.me)))
	mux.Handle("GET /users/me/email", a.Middleware(http.HandlerFunc(s.emailStatus)))
	mux.Handle("DELETE /users/{user_id}", a.Middleware(s.deleteAccount()))
	mux.Handle("GET /api/{user_id}/tasks", a.Middleware(auth.RequireOwner("user_id", "admin")(http.HandlerFunc(s.tasks))))

	// The whole /admin/ subtree sits behind one guard.
	adminMux := http.NewServeMux()
	adminMux.HandleFunc("GET /admin/users", s.listUsers)
	adminMux.HandleFunc("/admin/", notFound)
	mux.Handle("/admin/", a.Middleware(admin(adminMux)))

	mux.Handle("GET /external-data", a.RequireAPIKey(s.db.APIKeys())(http.HandlerFunc(s.externalData)))
	mux.HandleFunc("/", notFound)
	return s.logRequests(bounded(mux))
}

// userView is what the API shows of a user: never the hash or the version.
type userView struct {
	ID    string   `json:"id"`
	Email string   `json:"email"`
	Roles []string `json:"roles"`
}

func view(u *sqlstore.User) userView {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return userView{u.ID, u.Email, roles}
}

func (s *app) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.db.Ping(r.Context()); err != nil {
		s.log.Error("health check", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "Database unavailable")
		return
	}
	status := map[string]string{"status": "ok", "database": string(s.db.Dialect())}
	if s.volatile.ping != nil {
		if err := s.volatile.ping(r.Context()); err != nil {
			s.log.Error("health check", "err", err)
			writeError(w, http.StatusServiceUnavailable, "unavailable", "Redis unavailable")
			return
		}
		status["volatile"] = "redis"
	}
	writeJSON(w, http.StatusOK, status)
}

// registerThrottle bounds registrations per client IP as the library's IP
// throttle bounds logins (20, then a backoff from 1 s doubling to 15
// min): every attempt counts, accepted or not, since each new account
// costs a hash and a row.
var registerThrottle = auth.DefaultIPThrottle

// register creates an account. Registration cannot starve login: it is
// throttled per client IP before any work, a taken email is answered
// before any hash, and its hashes run in a pool of their own
// (s.registerPasswords, one slot), apart from the login's.
func (s *app) register(w http.ResponseWriter, r *http.Request) {
	if err := s.auth.ReserveIP(r, "register", registerThrottle); err != nil {
		s.auth.Error(w, r, err)
		return
	}
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	email, ok := validEmail(in.Email)
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid_request", "A valid email is required")
		return
	}
	if err := s.passwords.Check(in.Password); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "Passwords need 8 to 1024 characters")
		return
	}
	switch _, found, err := s.db.Users().UserByLogin(r.Context(), email); {
	case err != nil:
		s.serverError(w, r, err)
		return
	case found:
		writeError(w, http.StatusConflict, "conflict", "Email already registered")
		return
	}
	hash, err := s.registerPasswords.Hash(r.Context(), in.Password)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	u, err := s.db.Users().Create(r.Context(), email, hash, "user")
	if errors.Is(err, sqlstore.ErrEmailTaken) { // registered meanwhile
		writeError(w, http.StatusConflict, "conflict", "Email already registered")
		return
	}
	if errors.Is(err, sqlstore.ErrInvalidText) {
		writeError(w, http.StatusBadRequest, "invalid_request", "A valid email is required")
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.auth.Emit(r, auth.Event{Kind: auth.EventRegistered, Subject: u.ID})
	if err := s.auth.SendEmailVerification(r.Context(), u.ID); err != nil {
		s.log.WarnContext(r.Context(), "sending the email verification failed", "subject", u.ID, "err", err)
	}
	writeJSON(w, http.StatusCreated, view(u))
}

// changePassword needs the current password, checked by the library's
// throttled check (per user and per IP, reserved before the hash: 429 with
// Retry-After past the threshold); afterwards every token issued before
// stops working, and the client logs in again.
func (s *app) changePassword(w http.ResponseWriter, r *http.Request) {
	u := auth.MustUser[*sqlstore.User](r.Context())
	var in struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if err := s.passwords.Check(in.New); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "Passwords need 8 to 1024 characters")
		return
	}
	switch _, err := s.auth.CheckPassword(r, u.ID, in.Current); {
	case errors.Is(err, auth.ErrInvalidCredentials):
		writeError(w, http.StatusForbidden, "access_denied", "Current password is incorrect")
		return
	case err != nil:
		s.auth.Error(w, r, err) // 429 with Retry-After, or 503
		return
	}
	hash, err := s.passwords.Hash(r.Context(), in.New)
	if err == nil {
		err = s.db.Users().UpdatePasswordHash(r.Context(), u.ID, hash)
	}
	if err == nil {
		err = s.auth.LogoutEverywhere(r.Context(), u.ID)
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.auth.Emit(r, auth.Event{Kind: auth.EventPasswordChanged, Subject: u.ID})
	w.WriteHeader(http.StatusNoContent)
}

func (s *app) me(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, view(auth.MustUser[*sqlstore.User](r.Context())))
}

// emailStatus is GET /users/me/email: the email and whether its owner
// proved to own it. Apart from /users/me, which every page load asks for
// and which must stay one query.
func (s *app) emailStatus(w http.ResponseWriter, r *http.Request) {
	u := auth.MustUser[*sqlstore.User](r.Context())
	verified, err := s.emailVerified(r.Context(), u)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"email": u.Email, "verified": verified})
}

func (s *app) listUsers(w http.ResponseWriter, r *http.Request) {
	users, err := s.db.Users().List(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	out := make([]userView, len(users))
	for i := range users {
		out[i] = view(&users[i])
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *app) deleteUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("user_id")
	ok, err := s.db.Users().Delete(r.Context(), id)
	s.auth.ForgetUser(id) // with USER_CACHE_TTL, this instance refuses its tokens at once
	if err == nil && ok {
		err = s.volatile.refresh.RevokeUser(r.Context(), id)
	}
	switch {
	case err != nil:
		s.serverError(w, r, err)
	case !ok:
		writeError(w, http.StatusNotFound, "not_found", "No such user")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *app) tasks(w http.ResponseWriter, r *http.Request) {
	tasks, err := s.listTasks(r.Context(), r.PathValue("user_id"))
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user_id": r.PathValue("user_id"), "tasks": tasks})
}

func (s *app) externalData(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.PrincipalFrom(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{"key": p.APIKey.Name, "data": []int{1, 2, 3}})
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "not_found", "Not found")
}

func (s *app) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	if unavailable(err) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again later")
		return
	}
	writeError(w, http.StatusInternalServerError, "server_error", "Internal server error")
}

// readJSON decodes a JSON body of at most 16 KiB into v, or answers 413,
// 415 or 400 and returns false.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "invalid_request", "Unsupported media type")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "invalid_request", "Request body too large")
		} else {
			writeError(w, http.StatusBadRequest, "invalid_request", "Malformed JSON body")
		}
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "invalid_request", "Malformed JSON body")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

// statusRecorder remembers the status a handler wrote, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// logRequests logs each request's method, path (never the query, which
// could carry a token), status and duration.
func (s *app) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.log.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r) // access lines are Debug: a flood must not become a log flood
			return
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.log.DebugContext(r.Context(), "request", "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "duration", time.Since(start).Round(time.Microsecond).String(), "remote", r.RemoteAddr)
	})
}
