package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// failingRotate is a RefreshStore whose Rotate fails with err.
type failingRotate struct {
	RefreshStore
	err error
}

func (s failingRotate) Rotate(context.Context, string, string, string, time.Time) (RefreshFamily, bool, bool, error) {
	return RefreshFamily{}, false, false, s.err
}

// A store that fails during a refresh (unreachable, as the sqlstore and
// redisstore modules report it, or failing otherwise) answers 503 with
// Retry-After, never 401 invalid_grant: the client keeps its refresh token
// and tries again.
func TestRefreshStoreUnavailable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		err    error
		status int
	}{
		{"unavailable", fmt.Errorf("store down: %w", errors.Join(ErrBusy, context.DeadlineExceeded)), http.StatusServiceUnavailable},
		{"broken", errors.New("store broken"), http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tok := f.refresh(t, "u1")
			f.a.refresh = failingRotate{f.families, tc.err}
			res := refreshOnce(t, sessionServer(t, f), tok)
			if res.status != tc.status {
				t.Errorf("refresh with Rotate failing (%v): %d %s; want %d", tc.err, res.status, res.body, tc.status)
			}
			if res.header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}
