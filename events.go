package auth

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
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
	EventThrottled      EventKind = "login_throttled"
	EventRefreshReuse   EventKind = "refresh_reuse"
	EventLogout         EventKind = "logout"
	EventLogoutAll      EventKind = "logout_everywhere"
)

// An Event is a security event, for logs and audit hooks. It never holds a
// password, a token or a key.
type Event struct {
	Kind EventKind
	// Subject is the user or API key ID, when known.
	Subject string
	// Login is the login name a login attempt gave (failures included).
	Login string
	// Family is the refresh-token family, for refresh, reuse and logout.
	Family string
	// IP is the client's IP, as WithClientIP reads it.
	IP string
	// Err is the reason of a failure: one of the package's sentinels, or a
	// store failure.
	Err error
}

func (e Event) level() slog.Level {
	switch e.Kind {
	case EventLogin, EventRefresh, EventLogout, EventLogoutAll:
		return slog.LevelInfo
	case EventTokenRejected, EventAccessDenied:
		return slog.LevelDebug // every stale browser tab makes one
	}
	var storeErr *storeError
	if errors.As(e.Err, &storeErr) {
		return slog.LevelError
	}
	return slog.LevelWarn
}

// emit logs e and passes it to the hook. slog's handlers quote values, so a
// login name with CR or LF cannot forge a log line.
func emit(ctx context.Context, logger *slog.Logger, hook func(context.Context, Event), e Event) {
	level := e.level()
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
	if e.Family != "" {
		attrs = append(attrs, slog.String("family", e.Family))
	}
	if e.IP != "" {
		attrs = append(attrs, slog.String("ip", e.IP))
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
	emit(r.Context(), a.logger, a.events, e)
}

// remoteHost is the default client IP: the host part of r.RemoteAddr.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
