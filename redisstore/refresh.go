package redisstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/keygate/auth"
	"github.com/redis/go-redis/v9"
)

// A family is a hash at prefix+"fam:"+ID with the fields below, times in
// Unix microseconds ("" for the zero time). Its TTL ends at ExpiresAt. A
// user's families are a sorted set at prefix+"user:"+UserID, scored by
// ExpiresAt, whose TTL ends with its newest family.
const (
	famKey  = "fam:"
	userKey = "user:"
)

// createFamily writes a whole family (replacing any with its ID) and its
// TTL. KEYS[1] family; ARGV user, cur, prev, created, rotated, exp, rev, ttl
// in ms.
var createFamily = redis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'cur', ARGV[2], 'prev', ARGV[3],
	'created', ARGV[4], 'rotated', ARGV[5], 'exp', ARGV[6], 'rev', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
return 1`)

// indexFamily adds a family to its user's index, drops the families that
// had expired by the new one's creation, and makes the index live at least
// as long as the new family. KEYS[1] index; ARGV exp, family ID, created,
// ttl in ms.
var indexFamily = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local t = redis.call('PTTL', KEYS[1])
if t == -1 or (t >= 0 and t < tonumber(ARGV[4])) then
	redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1`)

// rotateFamily is the compare-and-swap of Rotate. It returns nil for no
// family, else the fields user, cur, prev, created, rotated, exp, rev as
// they are after the call and 1 if it swapped. A call that finds its own
// swap already made (cur is next and prev is current, at the same now: a
// client retry after a lost reply) reports it as swapped again; next is
// fresh for each call, so no other call can match. KEYS[1] family; ARGV
// current, next, now.
var rotateFamily = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'user', 'cur', 'prev', 'created', 'rotated', 'exp', 'rev')
if not v[6] then
	return false
end
for i = 1, 7 do
	if not v[i] then v[i] = '' end
end
local swapped = 0
if v[7] ~= '1' and tonumber(ARGV[3]) < tonumber(v[6]) then
	if v[2] == ARGV[1] then
		redis.call('HSET', KEYS[1], 'cur', ARGV[2], 'prev', ARGV[1], 'rotated', ARGV[3])
		v[2], v[3], v[5] = ARGV[2], ARGV[1], ARGV[3]
		swapped = 1
	elseif v[2] == ARGV[2] and v[3] == ARGV[1] and v[5] == ARGV[3] then
		swapped = 1
	end
end
v[8] = swapped
return v`)

// revokeFamily marks a family revoked if it exists (so that no key is
// created without a TTL). KEYS[1] family.
var revokeFamily = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
	redis.call('HSET', KEYS[1], 'rev', '1')
end
return 1`)

// Create implements [auth.RefreshStore]. It writes the family with a TTL
// ending at f.ExpiresAt, after adding it to the index of f.UserID's
// families. A family that has already expired by the Store's clock is not
// written: [Store.Rotate] will not find it. It makes two calls, each
// atomic, since on Redis Cluster the family and the index may be in
// different slots; the index is written first, so [Store.RevokeUser] never
// misses a family that exists. Adding to the index drops from it the
// families that had expired by f.CreatedAt.
func (s *Store) Create(ctx context.Context, f auth.RefreshFamily) error {
	ttl := s.ttl(f.ExpiresAt)
	if ttl == 0 {
		return nil
	}
	exp := strconv.FormatInt(f.ExpiresAt.UnixMicro(), 10)
	created := micros(f.CreatedAt)
	pruneTo := created
	if pruneTo == "" {
		pruneTo = "-inf"
	}
	err := indexFamily.Run(ctx, s.client, []string{s.key(userKey, f.UserID)}, exp, f.ID, pruneTo, ttl).Err()
	if err != nil {
		return wrap("create", err)
	}
	rev := "0"
	if f.Revoked {
		rev = "1"
	}
	err = createFamily.Run(ctx, s.client, []string{s.key(famKey, f.ID)},
		f.UserID, f.Current, f.Previous, created, micros(f.RotatedAt), exp, rev, ttl).Err()
	return wrap("create", err)
}

// Rotate implements [auth.RefreshStore] in one script. The family's TTL is
// left alone: rotation never extends a family. found is false for a family
// that has expired by the Store's clock and been dropped by Redis; one
// still present past its ExpiresAt is found and not swapped.
func (s *Store) Rotate(ctx context.Context, familyID, current, next string, now time.Time) (auth.RefreshFamily, bool, bool, error) {
	res, err := rotateFamily.Run(ctx, s.client, []string{s.key(famKey, familyID)},
		current, next, now.UnixMicro()).Slice()
	if errors.Is(err, redis.Nil) {
		return auth.RefreshFamily{}, false, false, nil
	}
	if err != nil {
		return auth.RefreshFamily{}, false, false, wrap("rotate", err)
	}
	f, swapped, err := parseFamily(familyID, res)
	if err != nil {
		return auth.RefreshFamily{}, false, false, wrap("rotate", err)
	}
	return f, true, swapped, nil
}

// parseFamily decodes rotateFamily's reply.
func parseFamily(id string, res []any) (auth.RefreshFamily, bool, error) {
	if len(res) != 8 {
		return auth.RefreshFamily{}, false, errMalformed
	}
	var v [7]string
	for i := range v {
		s, ok := res[i].(string)
		if !ok {
			return auth.RefreshFamily{}, false, errMalformed
		}
		v[i] = s
	}
	swapped, ok := res[7].(int64)
	if !ok {
		return auth.RefreshFamily{}, false, errMalformed
	}
	f := auth.RefreshFamily{ID: id, UserID: v[0], Current: v[1], Previous: v[2], Revoked: v[6] == "1"}
	var err [3]error
	f.CreatedAt, err[0] = parseMicros(v[3])
	f.RotatedAt, err[1] = parseMicros(v[4])
	f.ExpiresAt, err[2] = parseMicros(v[5])
	for _, e := range err {
		if e != nil {
			return auth.RefreshFamily{}, false, e
		}
	}
	return f, swapped == 1, nil
}

// Revoke implements [auth.RefreshStore]: the family stays, revoked, until
// its TTL ends, so that a reused token is still recognised as revoked.
func (s *Store) Revoke(ctx context.Context, familyID string) error {
	return wrap("revoke", revokeFamily.Run(ctx, s.client, []string{s.key(famKey, familyID)}).Err())
}

// revokeBatch is how many families RevokeUser asks ZSCAN for at a time,
// and revokes in one pipelined round trip.
const revokeBatch = 256

// RevokeUser implements [auth.RefreshStore]: it walks the user's index
// with ZSCAN, which returns every family present for the whole walk
// however logins add and prune entries meanwhile, and revokes each,
// atomically, about revokeBatch (256) per pipelined round trip. A family
// created while RevokeUser runs may survive it, as if created just after.
func (s *Store) RevokeUser(ctx context.Context, userID string) error {
	index := s.key(userKey, userID)
	var cursor uint64
	for {
		page, next, err := s.client.ZScan(ctx, index, cursor, "*", revokeBatch).Result()
		if err != nil {
			return wrap("revoke user", err)
		}
		ids := make([]string, 0, len(page)/2)
		for i := 0; i+1 < len(page); i += 2 { // member, score, member, score, …
			ids = append(ids, page[i])
		}
		if len(ids) > 0 {
			if err := s.revokeAll(ctx, ids); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// revokeAll revokes the families ids in one pipeline, loading the script
// once if Redis has not cached it.
func (s *Store) revokeAll(ctx context.Context, ids []string) error {
	run := func() ([]redis.Cmder, error) {
		return s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, id := range ids {
				revokeFamily.EvalSha(ctx, p, []string{s.key(famKey, id)})
			}
			return nil
		})
	}
	_, err := run()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err := revokeFamily.Load(ctx, s.client).Err(); err != nil {
			return wrap("revoke user", err)
		}
		_, err = run()
	}
	return wrap("revoke user", err)
}
