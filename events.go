package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
)

// An EventKind names a security event.
type EventKind string

// The security events.
const (
	EventLogin          EventKind = "login"
	EventLoginFailed    EventKind = "login_failed"
	EventRefresh        EventKind = "refresh"
	EventRefreshFailed  EventKind = "refresh_failed"
	EventTokenRejected  EventKind = "token_rejected"
	EventAPIKeyRejected EventKind = "api_key_rejected"
	EventAccessDenied   EventKind = "access_denied"
	EventThrottled      EventKind = "login_throttled" // a login or password check refused with 429 (see [Event])
	EventRateLimited    EventKind = "rate_limited"    // an [Authenticator.ReserveIP] attempt refused with 429; Event.Scope names it
	EventRefreshReuse   EventKind = "refresh_reuse"
	EventLogout         EventKind = "logout"
	EventLogoutAll      EventKind = "logout_everywhere"
	// EventPasswordCheck and EventPasswordCheckFailed are the outcomes of
	// [Authenticator.CheckPassword].
	EventPasswordCheck       EventKind = "password_check"
	EventPasswordCheckFailed EventKind = "password_check_failed"
	// EventStoreError is a store failure (a database down) on the way to a
	// decision: logged at Error, answered 500 or 503, never counted as an
	// attempt.
	EventStoreError EventKind = "store_error"
	// EventPasswordChanged and EventRegistered are for the service's own
	// endpoints, through [Authenticator.Emit]: the library has neither.
	EventPasswordChanged EventKind = "password_changed"
	EventRegistered      EventKind = "registered"
	// EventLegacyToken is an old service's refresh token exchanged for a
	// new session during a cut-over ([WithCutover]).
	EventLegacyToken EventKind = "legacy_token"
)

// An Event is a security event, for logs and audit hooks. It never holds a
// password, a token or a key.
//
// The logger gets each at a level by its kind: Info for successes, Warn for
// failures, Error for store failures, Debug for the frequent ones (rejected
// tokens, denied access, requests with no API key) and for a 429 this
// instance answered from its memory of an earlier one (see [WithLimiter]),
// so that a throttled flood logs one Warn line per key and wait. The event
// hook ([WithEventHook]) gets every event.
type Event struct {
	Kind EventKind
	// Subject is the user or API key ID, when known.
	Subject string
	// Login is the login name of a successful login. A failed or throttled
	// one carries LoginHash instead: what was typed into the name field may
	// be a password (OWASP Logging Cheat Sheet), and may match no account.
	Login string
	// LoginHash identifies the login name of a failed or throttled login
	// without revealing it: the first 16 bytes, in hex, of HMAC-SHA-256 of
	// the trimmed, lower-cased name under a random key made by [New] (so the
	// same name gives the same value within one process, and values from
	// different processes cannot be compared or reversed by a dictionary).
	LoginHash string
	// Family is the refresh-token family, for refresh, reuse and logout.
	Family string
	// IP is the client's IP, as WithClientIP reads it.
	IP string
	// Scope is the service's scope of an EventRateLimited.
	Scope string
	// Err is the reason of a failure: one of the package's sentinels, or a
	// store failure.
	Err error
}

func (e Event) level() slog.Level {
	switch e.Kind {
	case EventLogin, EventRefresh, EventLogout, EventLogoutAll, EventPasswordCheck, EventPasswordChanged, EventRegistered, EventLegacyToken:
		return slog.LevelInfo
	case EventStoreError:
		return slog.LevelError
	case EventTokenRejected, EventAccessDenied:
		return slog.LevelDebug // every stale browser tab makes one
	case EventAPIKeyRejected:
		if e.Err == errNoAPIKey {
			return slog.LevelDebug // every anonymous request makes one
		}
	}
	var storeErr *storeError
	if errors.As(e.Err, &storeErr) {
		return slog.LevelError
	}
	var limited *RateLimitError
	if errors.As(e.Err, &limited) && limited.repeat {
		return slog.LevelDebug // a flood would log a line per request
	}
	return slog.LevelWarn
}

// emitAt logs e at level and passes it to the hook. slog's handlers quote
// values, so a value with CR or LF cannot forge a log line.
func emitAt(ctx context.Context, logger *slog.Logger, hook func(context.Context, Event), e Event, level slog.Level) {
	if hook == nil && !logger.Enabled(ctx, level) {
		return // nothing to build: rejected tokens are frequent, and Debug
	}
	attrs := []slog.Attr{slog.String("event", string(e.Kind))}
	if e.Subject != "" {
		attrs = append(attrs, slog.String("subject", e.Subject))
	}
	if e.Login != "" {
		attrs = append(attrs, slog.String("login", e.Login))
	}
	if e.LoginHash != "" {
		attrs = append(attrs, slog.String("login_hash", e.LoginHash))
	}
	if e.Family != "" {
		attrs = append(attrs, slog.String("family", e.Family))
	}
	if e.IP != "" {
		attrs = append(attrs, slog.String("ip", e.IP))
	}
	if e.Scope != "" {
		attrs = append(attrs, slog.String("scope", e.Scope))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("reason", e.Err.Error()))
	}
	logger.LogAttrs(ctx, level, "auth event", attrs...)
	if hook != nil {
		hook(ctx, e)
	}
}

func (a *Authenticator[U]) emit(r *http.Request, e Event) {
	e.IP = a.clientIP(r)
	emitAt(r.Context(), a.logger, a.events, e, a.eventLevel(e))
}

// Emit logs e through the Authenticator's logger and event hook, with the
// client IP filled in, at the level the package uses for its kind: for the
// service's own security events, such as [EventPasswordChanged] and
// [EventRegistered]. Never put a password, token or key in e.
func (a *Authenticator[U]) Emit(r *http.Request, e Event) { a.emit(r, e) }

// emitPasswordFailure logs a failed password check as its cause says: a
// store failure as EventStoreError, a 429 as EventThrottled, anything else
// as kind. The login name, if any, appears only as its keyed hash.
func (a *Authenticator[U]) emitPasswordFailure(r *http.Request, kind EventKind, subject, login string, err error) {
	var storeErr *storeError
	switch {
	case errors.As(err, &storeErr):
		kind = EventStoreError
	case errors.Is(err, ErrRateLimited):
		kind = EventThrottled
	}
	e := Event{Kind: kind, Subject: subject, Err: err}
	if login != "" {
		e.LoginHash = a.loginHash(login)
	}
	a.emit(r, e)
}

// loginHash is Event.LoginHash of login.
func (a *Authenticator[U]) loginHash(login string) string {
	m := hmac.New(sha256.New, a.eventKey[:])
	m.Write([]byte(strings.ToLower(strings.TrimSpace(login))))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// remoteHost is the default client IP: the host part of r.RemoteAddr.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
