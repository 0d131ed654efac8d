package auth

import "log/slog"

// WithRejectedTokenLevel sets the log level of [EventTokenRejected] events:
// slog.LevelDebug by default, since every stale browser tab makes one. Set
// slog.LevelInfo or slog.LevelWarn while wiring up an external issuer: the
// event's reason names the check that failed ("aud is not the configured
// audience", "kid \"k1\"", "email missing"), never a claim's value or the
// token. The event hook sees every event whatever the level.
func WithRejectedTokenLevel(level slog.Level) Option {
	return func(o *options) { o.rejectLevel = &level }
}

// eventLevel is the level e is logged at: Event.level, but for rejected
// tokens as WithRejectedTokenLevel says.
func (a *Authenticator[U]) eventLevel(e Event) slog.Level {
	if e.Kind == EventTokenRejected && a.rejectLevel != nil {
		return *a.rejectLevel
	}
	return e.level()
}
