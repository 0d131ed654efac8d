package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/keygate/auth"
)

// APIKeys is the API-key store: keys are kept as SHA-256 hashes only.
type APIKeys struct{ db *DB }

var _ auth.APIKeyStore = APIKeys{}

// APIKeys returns the API-key store.
func (db *DB) APIKeys() APIKeys { return APIKeys{db} }

const apiKeyColumns = `id, hash, name, roles, expires_at, revoked`

func scanAPIKey(scan func(...any) error) (auth.APIKey, error) {
	var k auth.APIKey
	var roles string
	var expires int64
	err := scan(&k.ID, &k.Hash, &k.Name, &roles, &expires, &k.Revoked)
	if roles != "" {
		k.Roles = strings.Split(roles, " ")
	}
	k.ExpiresAt = fromMillis(expires)
	return k, err
}

// APIKey implements auth.APIKeyStore: the key with the given hash.
func (s APIKeys) APIKey(ctx context.Context, hash string) (auth.APIKey, bool, error) {
	k, err := scanAPIKey(s.db.queryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.APIKey{}, false, nil
	}
	return k, err == nil, err
}

// Create stores a key's record (its roles must not contain spaces).
func (s APIKeys) Create(ctx context.Context, k auth.APIKey) error {
	_, err := s.db.exec(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Hash, k.Name, strings.Join(k.Roles, " "), millis(k.ExpiresAt), k.Revoked, time.Now().UnixMilli())
	return err
}

// List returns every key's record, oldest first.
func (s APIKeys) List(ctx context.Context) ([]auth.APIKey, error) {
	rows, err := s.db.query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []auth.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows.Scan)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// Revoke revokes the key with the given ID and reports whether there was one.
func (s APIKeys) Revoke(ctx context.Context, id string) (bool, error) {
	res, err := s.db.exec(ctx, `UPDATE api_keys SET revoked = ? WHERE id = ?`, true, id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
