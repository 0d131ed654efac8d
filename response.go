package auth

import (
	"errors"
	"net/http"
	"strconv"
)

// A response is how one class of error is answered: every cause within a
// class gets the same status, challenge and body, so the answer never tells
// which check failed.
type response struct {
	status      int
	scheme      string // the WWW-Authenticate scheme, if any
	challenge   string // the RFC 6750 error code in the challenge, if any
	code        string // the "error" member of the body
	description string
}

// responses maps each sentinel, in order of precedence, to its answer.
var responses = []struct {
	err error
	response
}{
	{ErrNoToken, response{http.StatusUnauthorized, "Bearer", "", "unauthorized", "Not authenticated"}},
	{ErrInvalidRequest, response{http.StatusBadRequest, "Bearer", "invalid_request", "invalid_request", "Invalid request"}},
	{ErrInvalidToken, response{http.StatusUnauthorized, "Bearer", "invalid_token", "invalid_token", "Could not validate credentials"}},
	{ErrForbidden, response{http.StatusForbidden, "Bearer", "insufficient_scope", "insufficient_scope", "Access denied"}},
	{ErrInvalidAPIKey, response{http.StatusUnauthorized, "APIKey", "", "invalid_api_key", "Invalid or missing API key"}},
	{ErrInvalidCredentials, response{http.StatusUnauthorized, "Bearer", "", "invalid_grant", "Incorrect username or password"}},
	{ErrInvalidGrant, response{http.StatusUnauthorized, "Bearer", "", "invalid_grant", "Invalid refresh token"}},
	{ErrUnsupportedGrantType, response{http.StatusBadRequest, "", "", "unsupported_grant_type", "Unsupported grant type"}},
	{ErrUnsupportedMediaType, response{http.StatusUnsupportedMediaType, "", "", "invalid_request", "Unsupported media type"}},
	{ErrMethodNotAllowed, response{http.StatusMethodNotAllowed, "", "", "invalid_request", "Method not allowed"}},
	{ErrBusy, response{http.StatusServiceUnavailable, "", "", "temporarily_unavailable", "Try again later"}},
	{ErrRateLimited, response{http.StatusTooManyRequests, "", "", "too_many_requests", "Too many attempts; try again later"}},
}

var (
	tooLarge    = response{http.StatusRequestEntityTooLarge, "", "", "invalid_request", "Request body too large"}
	serverError = response{http.StatusInternalServerError, "", "", "server_error", "Internal server error"}
)

func responseFor(err error) response {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return tooLarge
	}
	for _, r := range responses {
		if errors.Is(err, r.err) {
			return r.response
		}
	}
	return serverError // a store failure, or anything unforeseen: fail closed
}

// ErrorStatus returns the HTTP status the default error writer answers err
// with: 400, 401, 403, 405, 413, 415, 429 or 503 for the package's
// sentinels, 500 for anything else (store failures).
func ErrorStatus(err error) int { return responseFor(err).status }

// writeError is the default error writer: the status, a challenge on 401
// (RFC 6750 §3) and 403, and a generic JSON body that never echoes the
// request.
func writeError(w http.ResponseWriter, err error, realm string) {
	r := responseFor(err)
	h := w.Header()
	if r.scheme != "" && (r.status == http.StatusUnauthorized || r.status == http.StatusForbidden || r.status == http.StatusBadRequest) {
		c := r.scheme + ` realm="` + realm + `"`
		if r.challenge != "" {
			c += `, error="` + r.challenge + `"`
		}
		h.Set("WWW-Authenticate", c)
	}
	var limited *RateLimitError
	switch {
	case errors.As(err, &limited):
		h.Set("Retry-After", strconv.Itoa(limited.retryAfter()))
	case r.status == http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(r.status)
	w.Write([]byte(`{"error":"` + r.code + `","error_description":"` + r.description + `"}` + "\n"))
}
