package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/logger"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/internal/remoteguard"
	"github.com/odgm-go/odgm/shards"
	"github.com/odgm-go/odgm/storage"
)

// Node is one ODGM node embedded in the process: one dragonboat NodeHost
// (through shards.Host), one protoactor ActorSystem, one data directory.
// Its methods are safe for concurrent use. Stop releases everything.
type Node struct {
	cfg    Config
	log    *slog.Logger
	tmpDir string // created by Start for a memory node without DataDir
	addr   string

	comp   *storage.Composite
	host   *shards.Host
	sys    *actor.ActorSystem
	shards *actor.PID // the shards supervisor

	reqPrefix string
	reqSeq    atomic.Uint64

	cl       *cluster // nil outside a dynamic cluster
	grpcSrv  *grpc.Server
	grpcLis  net.Listener
	grpcDone chan struct{}

	stopOnce sync.Once
	stopErr  error

	mu struct {
		sync.RWMutex
		closed  bool
		classes map[string]*class
		shardOf map[uint64]string // shard id -> class, to refuse collisions
	}
}

var quietOnce sync.Once

// quietDragonboat lowers dragonboat's process-wide loggers to errors: its
// default is chatty, and it offers no per-NodeHost logger.
func quietDragonboat() {
	quietOnce.Do(func() {
		for _, name := range []string{"LogDB", "config", "dragonboat", "gossip", "grpc", "logdb", "pebblekv",
			"raft", "raft-mt", "raftpb", "registry", "rsm", "server", "settings", "tan", "tools", "transport"} {
			logger.GetLogger(name).SetLevel(logger.CRITICAL)
		}
	})
}

// Start starts a node: it opens the storage, starts the NodeHost and the
// actor system. Register classes next (RegisterClass). cfg is completed
// with EnsureDefaults; an invalid cfg returns an error wrapping
// ErrInvalidConfig. ctx bounds opening the storage.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	quietDragonboat()
	n := &Node{cfg: cfg, log: cfg.Logger}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.mu.classes = map[string]*class{}
	n.mu.shardOf = map[uint64]string{}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	if n.cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "odgm-node-")
		if err != nil {
			return nil, fmt.Errorf("runtime: %w", err)
		}
		n.tmpDir, n.cfg.DataDir = dir, dir
		undo = append(undo, func() { os.RemoveAll(dir) })
	}
	if err := os.MkdirAll(n.cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	var transport config.TransportFactory
	n.addr = n.cfg.cluster()[n.cfg.NodeID]
	if n.addr == "" {
		// A single node with no address: in-process transport, stable
		// placeholder address.
		if n.addr, err = placeholderAddress(n.cfg.DataDir); err != nil {
			return nil, err
		}
		transport = shards.InProcessTransport()
	}
	n.comp, err = storage.Open(ctx, n.cfg.Storage, storage.WithLogger(n.log))
	if err != nil {
		return nil, fmt.Errorf("runtime: open storage: %w", err)
	}
	undo = append(undo, func() { n.comp.Close() })
	n.host, err = shards.NewHost(shards.HostConfig{
		Dir: filepath.Join(n.cfg.DataDir, "nodehost"), RaftAddress: n.addr, RTTMillisecond: n.cfg.RTTMillisecond,
		Storage: n.comp, Transport: transport, ProposalTimeout: n.cfg.AttemptTimeout, Logger: n.log,
		CAFile: n.cfg.TLS.CA, CertFile: n.cfg.TLS.Cert, KeyFile: n.cfg.TLS.Key,
	})
	if err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	undo = append(undo, func() { n.host.Close() })
	n.sys = actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) })))
	undo = append(undo, n.sys.Shutdown)
	n.shards, err = n.sys.Root.SpawnNamed(shards.SupervisorProps(shards.SupervisionPolicy{}, nil, nil), "shards")
	if err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	n.reqPrefix = fmt.Sprintf("n%d-%s", n.cfg.NodeID, hex.EncodeToString(b[:]))
	if n.cfg.clustered() {
		if err := n.startCluster(); err != nil {
			if n.cl != nil {
				n.cl.stopCluster()
			}
			return nil, err
		}
	}
	return n, nil
}

// remoteOptions are the protoactor remote's options: the guard against
// unknown or malformed messages, size limits, mutual TLS when configured.
func (n *Node) remoteOptions() ([]remote.ConfigOption, error) {
	server := remoteguard.ServerOptions(n.cfg.MaxMessageBytes)
	dial := remoteguard.DialOptions(n.cfg.MaxMessageBytes)
	if n.cfg.TLS.Enabled() {
		sc, err := n.cfg.TLS.ServerCredentials()
		if err != nil {
			return nil, fmt.Errorf("%w: tls: %w", ErrInvalidConfig, err)
		}
		cc, err := n.cfg.TLS.ClientCredentials()
		if err != nil {
			return nil, fmt.Errorf("%w: tls: %w", ErrInvalidConfig, err)
		}
		server = append(server, grpc.Creds(sc))
		dial = append(dial, grpc.WithTransportCredentials(cc))
	} else {
		dial = append(dial, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	return []remote.ConfigOption{remote.WithServerOptions(server...), remote.WithDialOptions(dial...), remoteguard.OneConnectAttempt}, nil
}

// startGRPC serves the gRPC ObjectService on Config.GRPCAddress.
func (n *Node) startGRPC() error {
	lis, err := net.Listen("tcp", n.cfg.GRPCAddress)
	if err != nil {
		return fmt.Errorf("runtime: grpc: %w", err)
	}
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(n.cfg.MaxMessageBytes), grpc.MaxSendMsgSize(n.cfg.MaxMessageBytes)}
	if n.cfg.TLS.Enabled() {
		sc, err := n.cfg.TLS.ServerCredentials()
		if err != nil {
			lis.Close()
			return fmt.Errorf("%w: tls: %w", ErrInvalidConfig, err)
		}
		opts = append(opts, grpc.Creds(sc))
	}
	n.grpcSrv, n.grpcLis, n.grpcDone = n.newGRPCServer(opts...), lis, make(chan struct{})
	go func() {
		defer close(n.grpcDone)
		_ = n.grpcSrv.Serve(lis)
	}()
	return nil
}

// stopGRPC stops the gRPC service: calls in progress finish first.
func (n *Node) stopGRPC() {
	if n.grpcSrv == nil {
		return
	}
	n.grpcSrv.GracefulStop()
	<-n.grpcDone
}

// GRPCAddress is the address the gRPC service listens on ("" if none).
func (n *Node) GRPCAddress() string {
	if n.grpcLis == nil {
		return ""
	}
	return n.grpcLis.Addr().String()
}

// placeholderAddress returns the address kept in dir/raft-address, making
// one up the first time. It is never listened on (in-process transport).
func placeholderAddress(dir string) (string, error) {
	p := filepath.Join(dir, "raft-address")
	if b, err := os.ReadFile(p); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	addr := fmt.Sprintf("127.0.0.1:%d", 20000+mrand.IntN(40000))
	if err := os.WriteFile(p, []byte(addr+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("runtime: %w", err)
	}
	return addr, nil
}

// Config returns the node's completed config.
func (n *Node) Config() Config { return n.cfg }

// DataDir is where the node keeps its data (a temporary directory for a
// memory node started without one).
func (n *Node) DataDir() string { return n.cfg.DataDir }

// ID is the node id.
func (n *Node) ID() uint64 { return n.cfg.NodeID }

// Host is the node's shard host (health, membership through its NodeHost).
func (n *Node) Host() *shards.Host { return n.host }

// ActorSystem is the node's actor system.
func (n *Node) ActorSystem() *actor.ActorSystem { return n.sys }

// Durability says whether the node's data survives a restart.
func (n *Node) Durability() storage.Durability { return n.comp.Durability() }

// Stop stops the node gracefully: no new calls are accepted, object actors
// finish what they hold (a write in flight completes or fails), shards stop,
// then the NodeHost, the actor system and the storage close. Every
// goroutine and file the node opened is released. A second Stop does
// nothing and returns the first one's result. ctx bounds the wait for the
// actors; the rest always runs.
func (n *Node) Stop(ctx context.Context) error {
	n.stopOnce.Do(func() { n.stopErr = n.stop(ctx) })
	return n.stopErr
}

func (n *Node) stop(ctx context.Context) error {
	n.mu.Lock()
	n.mu.closed = true
	classes := n.mu.classes
	n.mu.Unlock()
	// Every call that passed the closed check has been queued (send holds
	// the read lock while it queues): the objects actors answer them all,
	// let their object actors finish, then stop.
	if n.cl != nil {
		// The cluster loop stops first: it would restart what stops next.
		n.cl.stopCluster()
	}
	wait := time.Until(deadlineOr(ctx, 10*time.Second))
	var errs []error
	var futures []*actor.Future
	var pids []*actor.PID
	for _, c := range classes {
		if c == nil {
			continue
		}
		for _, s := range c.shards {
			if l := s.hosted(); l != nil {
				futures = append(futures, n.sys.Root.RequestFuture(l.objects, &drainAndStop{}, max(wait, time.Millisecond)))
				pids = append(pids, l.objects)
			}
		}
	}
	for i, f := range futures {
		if _, err := f.Result(); err != nil {
			// Out of time: stop the shard actor, and with it its object
			// actors, now (what they hold is answered ErrUnavailable).
			_ = n.sys.Root.StopFuture(pids[i]).Wait()
		}
	}
	if err := n.sys.Root.StopFuture(n.shards).Wait(); err != nil {
		errs = append(errs, fmt.Errorf("runtime: stop shards: %w", err))
	}
	if err := n.host.Close(); err != nil && !errors.Is(err, shards.ErrClosed) {
		errs = append(errs, err)
	}
	n.sys.Shutdown()
	if err := n.comp.Close(); err != nil {
		errs = append(errs, err)
	}
	if n.tmpDir != "" {
		if err := os.RemoveAll(n.tmpDir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func deadlineOr(ctx context.Context, d time.Duration) time.Time {
	if dl, ok := ctx.Deadline(); ok {
		return dl
	}
	return time.Now().Add(d)
}

// withTimeout gives ctx the node's RequestTimeout when it has no deadline.
func (n *Node) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, n.cfg.RequestTimeout)
}

func (n *Node) newRequestID() string {
	return fmt.Sprintf("%s-%x", n.reqPrefix, n.reqSeq.Add(1))
}

func (n *Node) class(name string) (*class, error) {
	c, err := n.knownClass(name)
	if errors.Is(err, odgm.ErrUnknownClass) && n.cl != nil {
		// The class may be newer than this node's view of the cluster
		// (or learned a moment ago).
		n.cl.refresh()
		c, err = n.knownClass(name)
	}
	return c, err
}

func (n *Node) knownClass(name string) (*class, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.mu.closed {
		return nil, odgm.ErrClosed
	}
	c, ok := n.mu.classes[name]
	if !ok || c == nil { // nil: still registering
		return nil, fmt.Errorf("%w: %q", odgm.ErrUnknownClass, name)
	}
	return c, nil
}
