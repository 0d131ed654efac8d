package auth

import (
	"errors"
	"net/http"
	"slices"
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

// A responseEntry pairs a sentinel with its answer.
type responseEntry struct {
	err error
	response
}

// responses maps each sentinel, in order of precedence, to its answer; the
// last two entries answer what no sentinel matches.
var responses = []responseEntry{
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
	{ErrPasswordTooShort, response{http.StatusBadRequest, "", "", "invalid_password", "Password does not meet the policy"}},
	{ErrPasswordTooLong, response{http.StatusBadRequest, "", "", "invalid_password", "Password does not meet the policy"}},
	{ErrCrossOrigin, response{http.StatusForbidden, "", "", "cross_origin_request", "Cross-origin request refused"}},
	{ErrCSRFToken, response{http.StatusForbidden, "", "", "csrf_token_invalid", "Missing or invalid CSRF token"}},
	{ErrLoginTooOld, response{http.StatusUnauthorized, "Bearer", "insufficient_user_authentication", "insufficient_user_authentication", "A more recent login is required"}},
	{ErrInvalidOneTimeToken, response{http.StatusBadRequest, "", "", "invalid_token", "Invalid or expired link"}},
	{ErrBusy, response{http.StatusServiceUnavailable, "", "", "temporarily_unavailable", "Try again later"}},
	{ErrRateLimited, response{http.StatusTooManyRequests, "", "", "too_many_requests", "Too many attempts; try again later"}},
	{errStore, response{http.StatusServiceUnavailable, "", "", "temporarily_unavailable", "Try again later"}},
	{nil, response{http.StatusRequestEntityTooLarge, "", "", "invalid_request", "Request body too large"}},
	{nil, response{http.StatusInternalServerError, "", "", "server_error", "Internal server error"}},
}

// Indexes into responses, found rather than counted so that the table can
// be reordered.
var (
	invalidTokenIndex = slices.IndexFunc(responses, func(r responseEntry) bool { return r.err == ErrInvalidToken })
	tooLargeIndex     = slices.IndexFunc(responses, func(r responseEntry) bool { return r.status == http.StatusRequestEntityTooLarge })
	serverErrorIndex  = slices.IndexFunc(responses, func(r responseEntry) bool { return r.status == http.StatusInternalServerError }) // fail closed
)

func responseIndex(err error) int {
	if _, ok := err.(*tokenError); ok {
		return invalidTokenIndex // the common case, without the walk below
	}
	for i, r := range responses {
		if r.err != nil && errors.Is(err, r.err) {
			return i
		}
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return tooLargeIndex
	}
	return serverErrorIndex
}

// ErrorStatus returns the HTTP status the default error writer answers err
// with: 400, 401, 403, 405, 413, 415, 429 or 503 for the package's
// sentinels, 503 for a store failure (a database down or past its
// deadline: the request may be retried), 500 for anything else.
func ErrorStatus(err error) int { return responses[responseIndex(err)].status }

// responder is the default error writer for one realm, with every header
// value and body made once: the rejection path answers floods of bad
// tokens. The values are shared and read-only (len == cap, so a later Add
// copies them rather than writing into them).
type responder struct {
	challenges [][]string
	bodies     [][]byte
}

var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
	noSniff         = []string{"nosniff"}
	retryAfterOne   = []string{"1"}
	defaultRealm    = newResponder("api")
)

func newResponder(realm string) *responder {
	rs := &responder{challenges: make([][]string, len(responses)), bodies: make([][]byte, len(responses))}
	for i, r := range responses {
		if r.scheme != "" && (r.status == http.StatusUnauthorized || r.status == http.StatusForbidden || r.status == http.StatusBadRequest) {
			c := r.scheme + ` realm="` + realm + `"`
			if r.challenge != "" {
				c += `, error="` + r.challenge + `"`
			}
			rs.challenges[i] = []string{c}
		}
		rs.bodies[i] = []byte(`{"error":"` + r.code + `","error_description":"` + r.description + `"}` + "\n")
	}
	return rs
}

// setHeaders sets the protocol headers of err's answer: a challenge on 401
// (RFC 6750 §3), 403 and 400, Retry-After on 429 and 503, Cache-Control:
// no-store. It returns the index of err's response.
func (rs *responder) setHeaders(w http.ResponseWriter, err error) int {
	i := responseIndex(err)
	h := w.Header()
	if c := rs.challenges[i]; c != nil {
		h["Www-Authenticate"] = c
		var stale *FreshLoginError
		if errors.As(err, &stale) { // RFC 9470 §3: say how recent a login must be
			h["Www-Authenticate"] = []string{c[0] + `, error_description="` + responses[i].description + `", max_age=` + strconv.FormatInt(stale.maxAge(), 10)}
		}
	}
	switch responses[i].status {
	case http.StatusTooManyRequests:
		var limited *RateLimitError
		if errors.As(err, &limited) {
			h.Set("Retry-After", strconv.Itoa(limited.retryAfter()))
		} else {
			h["Retry-After"] = retryAfterOne
		}
	case http.StatusServiceUnavailable:
		h["Retry-After"] = retryAfterOne
	}
	h["Cache-Control"] = noStore
	return i
}

// write answers err: its protocol headers, the status, and a generic JSON
// body that never echoes the request.
func (rs *responder) write(w http.ResponseWriter, err error) {
	i := rs.setHeaders(w, err)
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = noSniff
	w.WriteHeader(responses[i].status)
	w.Write(rs.bodies[i])
}
