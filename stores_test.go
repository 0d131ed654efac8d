package auth_test

import (
	"testing"

	"github.com/keygate/auth"
	"github.com/keygate/auth/authtest"
)

// The in-memory stores keep the contracts every adapter must keep.
func TestMemoryStoresConformance(t *testing.T) {
	t.Parallel()
	authtest.RefreshStore(t, func(*testing.T) auth.RefreshStore { return auth.NewMemoryRefreshTokens() })
	authtest.Limiter(t, func(*testing.T) auth.Limiter { return auth.NewMemoryLimiter() })
	authtest.Denylist(t, func(*testing.T) auth.Denylist { return auth.NewMemoryDenylist() })
}
