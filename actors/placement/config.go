package placement

import (
	"errors"
	"fmt"

	"github.com/odgm-go/odgm/actors/meta"
)

// MetaShardID is the shard id of the meta shard: the ShardPlacement whose
// class is "" (package meta's shard).
const MetaShardID = meta.ShardID

// Defaults filled by Config.EnsureDefaults.
const (
	DefaultMetaReplicas            = 3
	DefaultMaxMovesInFlight        = 1
	DefaultCatchUpLag       uint64 = 100
)

// Config tunes Plan. The zero value of every field but ShardID means its
// default; Plan applies the defaults itself, so a caller need not call
// EnsureDefaults.
type Config struct {
	// MetaReplicas is how many replicas the meta shard should have, capped
	// by the number of nodes in the cluster state. Zero means 3.
	MetaReplicas int
	// MaxMovesInFlight is the most rebalancing moves (replicas JOINING or
	// LEAVING, or a shard holding a surplus replica) at once across the
	// cluster. Zero means 1; a negative value disables rebalancing. Repair
	// of dead nodes is not limited by it.
	MaxMovesInFlight int
	// CatchUpLag, in Raft log entries: a JOINING replica has caught up when
	// its reported applied index is at least the leader's applied index
	// minus CatchUpLag. Zero means 100.
	CatchUpLag uint64
	// BalanceLeaders enables moving Raft leadership so that alive nodes lead
	// about as many shards each (rule 8).
	BalanceLeaders bool
	// ShardID computes the shard id of a class partition. It must be pure
	// and never return MetaShardID. Required: without it Plan places no new
	// shard (rule 1) but still repairs and balances the existing ones.
	ShardID func(class string, partition int) uint64
}

// EnsureDefaults fills the zero fields that have a default.
func (c *Config) EnsureDefaults() {
	if c.MetaReplicas == 0 {
		c.MetaReplicas = DefaultMetaReplicas
	}
	if c.MaxMovesInFlight == 0 {
		c.MaxMovesInFlight = DefaultMaxMovesInFlight
	}
	if c.CatchUpLag == 0 {
		c.CatchUpLag = DefaultCatchUpLag
	}
}

// Validate reports every problem of c at once; it changes nothing.
func (c Config) Validate() error {
	var errs []error
	if c.MetaReplicas < 0 {
		errs = append(errs, fmt.Errorf("placement: MetaReplicas is %d, want >= 0", c.MetaReplicas))
	}
	if c.ShardID == nil {
		errs = append(errs, errors.New("placement: ShardID is required"))
	}
	return errors.Join(errs...)
}
