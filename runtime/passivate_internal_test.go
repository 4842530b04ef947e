package runtime

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/odgm-go/odgm/shards"
)

// TestNoSecondActivationWhilePassivating: an object actor passivated while
// busy (its shard lost the leader) keeps the object: later calls wait for
// it to stop instead of running beside it in a second actor.
func TestNoSecondActivationWhilePassivating(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Start(ctx, Config{Memory: true, RTTMillisecond: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(ctx)
	release := make(chan struct{})
	var running atomic.Int32
	cls := Class{Name: "busy", Methods: map[string]Method{
		"m": func(_ context.Context, _ *Object, p []byte) ([]byte, error) {
			if running.Add(1) != 1 {
				t.Error("two invocations of one object at once")
			}
			defer running.Add(-1)
			if string(p) == "block" {
				<-release
			}
			return nil, nil
		},
	}}
	if err := n.RegisterClass(ctx, cls); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { _, err := n.Invoke(ctx, "busy", "o", "m", []byte("block")); done <- err }()
	time.Sleep(50 * time.Millisecond)
	c, _ := n.class("busy")
	n.sys.Root.Send(c.shards[0].hosted().objects, shards.Event{Kind: shards.EventLeaderUpdated, ShardID: c.shards[0].id, LeaderID: 0})
	time.Sleep(50 * time.Millisecond)
	go func() { _, err := n.Invoke(ctx, "busy", "o", "m", nil); done <- err }()
	time.Sleep(100 * time.Millisecond)
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
