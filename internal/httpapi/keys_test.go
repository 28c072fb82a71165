package httpapi_test

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// TestKeyRevokedOnEveryReplica: a key two replicas have cached is refused
// by both as soon as the revocation's notification has arrived, long
// before the cache would have asked the database again; an expired key is
// refused without a revocation.
func TestKeyRevokedOnEveryReplica(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r0, r1 := newReplicas(t)
	replicas := []*fixture{r0, r1}
	heard := make(chan string, 8)
	for _, f := range replicas {
		connected := make(chan struct{})
		go f.db.ListenKeyRevocations(ctx, func(prefix string) {
			f.api.ForgetKey(prefix)
			heard <- prefix
		}, func() { f.api.ForgetKeys(); close(connected) }, slog.New(slog.DiscardHandler))
		<-connected
	}
	key, err := replicas[0].db.CreateAPIKey(ctx, "planner", "", "revocation test")
	if err != nil {
		t.Fatal(err)
	}
	const path = "/v1/hotspots?theme=parking&res=7"
	for i, f := range replicas {
		if resp, b := f.getAs(t, path, key); resp.StatusCode != 200 {
			t.Fatalf("replica %d before the revocation: %d %s", i, resp.StatusCode, b)
		}
	}
	k, err := replicas[1].db.RevokeAPIKey(ctx, "")
	if err == nil {
		t.Fatalf("revoking no key: %+v", k)
	}
	keys, err := replicas[1].db.APIKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prefix := keys[len(keys)-1].Prefix
	if _, err := replicas[1].db.RevokeAPIKey(ctx, prefix); err != nil {
		t.Fatal(err)
	}
	for range replicas {
		select {
		case p := <-heard:
			if p != prefix {
				t.Fatalf("heard %q, want %q", p, prefix)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a replica did not hear the revocation")
		}
	}
	for _, f := range replicas {
		resp, b := f.getAs(t, path, key)
		wantProblem(t, resp, b, 401, "revoked")
	}
	var audited int
	if err := replicas[0].db.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'api_key.revoke' AND detail->>'prefix' = $1`, prefix).Scan(&audited); err != nil || audited != 1 {
		t.Errorf("audit rows of the revocation: %d (%v)", audited, err)
	}

	// A key that expires is refused once it has, revocation or not: the
	// cache trusts it no longer than its expiry.
	expires := time.Now().Add(time.Second)
	short, err := replicas[0].db.CreateAPIKeyUntil(ctx, "planner", "", "short-lived", expires)
	if err != nil {
		t.Fatal(err)
	}
	if resp, b := replicas[0].getAs(t, path, short); resp.StatusCode != 200 {
		t.Fatalf("fresh key: %d %s", resp.StatusCode, b)
	}
	time.Sleep(time.Until(expires) + 10*time.Millisecond)
	resp, b := replicas[0].getAs(t, path, short)
	wantProblem(t, resp, b, 401, "expired")
	if _, err := replicas[0].db.CreateAPIKeyUntil(ctx, "planner", "", "", time.Now().Add(-time.Hour)); err == nil {
		t.Error("a key that expired before it was made was accepted")
	}
}
