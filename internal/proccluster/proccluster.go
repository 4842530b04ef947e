package proccluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/client"
	"github.com/odgm-go/odgm/internal/loopback"
	"github.com/odgm-go/odgm/internal/tlsfiles"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// ODGM is the import path of the plain node program, for Build.
const ODGM = "github.com/odgm-go/odgm/cmd/odgm"

// Build compiles the main package pkg (an import path inside this module,
// e.g. ODGM) into dir and returns the binary's path. It runs `go build`,
// so it must be called from inside the module's tree.
func Build(ctx context.Context, pkg, dir string) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("proccluster: go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// Config describes the nodes of a Cluster. Binary and Dir are required.
type Config struct {
	// Binary is the node program: `Binary node --config nN.yaml` runs
	// node N.
	Binary string
	// Dir holds every node's data directory, YAML and log; Start creates
	// it if needed, the caller removes it.
	Dir string
	// RTTMillisecond is the nodes' rtt_ms (dragonboat's RTT: elections
	// take the class's election_rtt of them). Zero means 10.
	RTTMillisecond uint64
	// HeartbeatInterval is the nodes' heartbeat_interval. Zero means
	// 100ms.
	HeartbeatInterval time.Duration
	// NodeDeadTimeout is the nodes' node_dead_timeout. Zero means 2s.
	NodeDeadTimeout time.Duration
	// GRPC gives every node a grpc_address (Node.GRPC).
	GRPC bool
	// TLS, when set, returns node id's mutual-TLS files, written to its
	// YAML as tls: {ca_file, cert_file, key_file}; clients then need
	// ClientOptions / GRPCCredentials of the same CA.
	TLS func(id uint64) tlsfiles.Files
	// Extra, when set, returns YAML lines appended to node id's config.
	Extra func(id uint64) string
	// ClientOptions are passed to client.Dial by Dial.
	ClientOptions []client.Option
	// GRPCCredentials are DialGRPC's transport credentials; nil means
	// plain text.
	GRPCCredentials credentials.TransportCredentials
	// Logf, when set, receives progress and, from DumpLogs, the nodes'
	// logs.
	Logf func(format string, args ...any)
}

// Node is one node process's configuration and state.
type Node struct {
	ID     uint64
	Dir    string // data directory
	Config string // YAML file
	Log    string // stdout and stderr
	Raft   string // raft_address
	Remote string // remote_address: other nodes and client.Dial
	GRPC   string // grpc_address, empty unless Config.GRPC

	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
	alive  bool
}

// Exited is closed when the node's current process has exited.
func (n *Node) Exited() <-chan struct{} { return n.exited }

// Alive reports whether the node's process was started and not yet
// killed or stopped through the Cluster.
func (n *Node) Alive() bool { return n.alive }

// Cluster is a set of node processes.
type Cluster struct {
	cfg   Config
	nodes map[uint64]*Node
	seed  string
}

// Start starts nodes 1..n (node 1 bootstraps, the others join through
// it) and returns without waiting for them to form the cluster (see
// WaitStatus). On error, the nodes started are stopped.
func Start(cfg Config, n int) (*Cluster, error) {
	if cfg.Binary == "" || cfg.Dir == "" {
		return nil, errors.New("proccluster: Config.Binary and Config.Dir are required")
	}
	if cfg.RTTMillisecond == 0 {
		cfg.RTTMillisecond = 10
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 100 * time.Millisecond
	}
	if cfg.NodeDeadTimeout == 0 {
		cfg.NodeDeadTimeout = 2 * time.Second
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("proccluster: %w", err)
	}
	c := &Cluster{cfg: cfg, nodes: map[uint64]*Node{}}
	for id := uint64(1); id <= uint64(n); id++ {
		if _, err := c.Add(id); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Node returns node id, nil if it was never added.
func (c *Cluster) Node(id uint64) *Node { return c.nodes[id] }

// IDs returns the ids of every node added, in order.
func (c *Cluster) IDs() []uint64 {
	var ids []uint64
	for id := range c.nodes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// Add writes node id's YAML and starts it: node 1 bootstraps, the others
// join through node 1.
func (c *Cluster) Add(id uint64) (*Node, error) {
	if _, ok := c.nodes[id]; ok {
		return nil, fmt.Errorf("proccluster: node %d already added", id)
	}
	addrs, err := loopback.Addrs(3)
	if err != nil {
		return nil, fmt.Errorf("proccluster: %w", err)
	}
	n := &Node{ID: id, Dir: filepath.Join(c.cfg.Dir, fmt.Sprint("n", id)),
		Config: filepath.Join(c.cfg.Dir, fmt.Sprintf("n%d.yaml", id)),
		Log:    filepath.Join(c.cfg.Dir, fmt.Sprintf("n%d.log", id)),
		Raft:   addrs[0], Remote: addrs[1]}
	if c.cfg.GRPC {
		n.GRPC = addrs[2]
	}
	if id == 1 {
		c.seed = n.Remote
	}
	if err := os.WriteFile(n.Config, []byte(c.yaml(n)), 0o644); err != nil {
		return nil, fmt.Errorf("proccluster: %w", err)
	}
	c.nodes[id] = n
	return n, c.start(n)
}

func (c *Cluster) yaml(n *Node) string {
	var b strings.Builder
	fmt.Fprintf(&b, "node_id: %d\ndata_dir: %s\nraft_address: %s\nremote_address: %s\n", n.ID, n.Dir, n.Raft, n.Remote)
	if n.GRPC != "" {
		fmt.Fprintf(&b, "grpc_address: %s\n", n.GRPC)
	}
	fmt.Fprintf(&b, "rtt_ms: %d\nheartbeat_interval: %v\nnode_dead_timeout: %v\n",
		c.cfg.RTTMillisecond, c.cfg.HeartbeatInterval, c.cfg.NodeDeadTimeout)
	if n.ID == 1 {
		b.WriteString("bootstrap: true\n")
	} else {
		fmt.Fprintf(&b, "seeds: [%s]\n", c.seed)
	}
	if c.cfg.TLS != nil {
		f := c.cfg.TLS(n.ID)
		fmt.Fprintf(&b, "tls: {ca_file: %q, cert_file: %q, key_file: %q}\n", f.CA, f.Cert, f.Key)
	}
	if c.cfg.Extra != nil {
		b.WriteString(c.cfg.Extra(n.ID))
		b.WriteString("\n")
	}
	return b.String()
}

func (c *Cluster) start(n *Node) error {
	log, err := os.OpenFile(n.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("proccluster: %w", err)
	}
	cmd := exec.Command(c.cfg.Binary, "node", "--config", n.Config)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("proccluster: start node %d: %w", n.ID, err)
	}
	n.cmd, n.log, n.exited, n.alive = cmd, log, make(chan struct{}), true
	go func(exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(n.exited)
	c.logf("node %d started (pid %d, remote %s)", n.ID, cmd.Process.Pid, n.Remote)
	return nil
}

func (c *Cluster) logf(format string, args ...any) {
	if c.cfg.Logf != nil {
		c.cfg.Logf(format, args...)
	}
}

func (c *Cluster) alive(id uint64) (*Node, error) {
	n := c.nodes[id]
	if n == nil {
		return nil, fmt.Errorf("proccluster: no node %d", id)
	}
	if !n.alive {
		return nil, fmt.Errorf("proccluster: node %d is not running", id)
	}
	return n, nil
}

// Kill SIGKILLs node id and waits for its process to exit.
func (c *Cluster) Kill(id uint64) error {
	n, err := c.alive(id)
	if err != nil {
		return err
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
	n.log.Close()
	n.alive = false
	c.logf("node %d killed", id)
	return nil
}

// Stop SIGTERMs node id and waits up to timeout for it to exit, then
// SIGKILLs it; it reports an error if it had to.
func (c *Cluster) Stop(id uint64, timeout time.Duration) error {
	n, err := c.alive(id)
	if err != nil {
		return err
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(timeout):
		_ = n.cmd.Process.Kill()
		<-n.exited
		err = fmt.Errorf("proccluster: node %d did not stop within %v of SIGTERM", id, timeout)
	}
	n.log.Close()
	n.alive = false
	return err
}

// Restart starts node id's process again, with the same YAML and data
// directory, after Kill or Stop.
func (c *Cluster) Restart(id uint64) error {
	n := c.nodes[id]
	if n == nil {
		return fmt.Errorf("proccluster: no node %d", id)
	}
	if n.alive {
		return fmt.Errorf("proccluster: node %d is running", id)
	}
	return c.start(n)
}

// Close stops every running node (SIGTERM, SIGKILL after 20 s) and
// returns the errors of those that did not stop in time.
func (c *Cluster) Close() error {
	var errs []error
	for _, id := range c.IDs() {
		if c.nodes[id].alive {
			errs = append(errs, c.Stop(id, 20*time.Second))
		}
	}
	return errors.Join(errs...)
}

// DumpLogs passes every node's log to Config.Logf.
func (c *Cluster) DumpLogs() {
	for _, id := range c.IDs() {
		b, _ := os.ReadFile(c.nodes[id].Log)
		c.logf("node %d log:\n%s", id, b)
	}
}

// Dial returns a client.Client to the remote addresses of nodes ids, with
// a 10 s default timeout and Config.ClientOptions followed by opts. The
// caller closes it.
func (c *Cluster) Dial(ctx context.Context, ids []uint64, opts ...client.Option) (*client.Client, error) {
	var addrs []string
	for _, id := range ids {
		n := c.nodes[id]
		if n == nil {
			return nil, fmt.Errorf("proccluster: no node %d", id)
		}
		addrs = append(addrs, n.Remote)
	}
	all := append([]client.Option{client.WithTimeout(10 * time.Second)}, c.cfg.ClientOptions...)
	cl, err := client.Dial(ctx, addrs, append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("proccluster: dial %v: %w", addrs, err)
	}
	return cl, nil
}

// DialGRPC returns a gRPC connection to node id's grpc_address with
// Config.GRPCCredentials (plain text when nil). The caller closes it.
func (c *Cluster) DialGRPC(id uint64) (*grpc.ClientConn, error) {
	n := c.nodes[id]
	if n == nil || n.GRPC == "" {
		return nil, fmt.Errorf("proccluster: node %d has no gRPC address", id)
	}
	creds := c.cfg.GRPCCredentials
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(n.GRPC, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("proccluster: %w", err)
	}
	return conn, nil
}

// StatusSource is what WaitStatus polls: client.Client and
// client.GRPCClient both are.
type StatusSource interface {
	Status(ctx context.Context) (*odgmv1.ClusterStatus, error)
}

// WaitStatus polls s.Status every 100 ms (each call at most 2 s) until ok
// accepts the status, and returns it; when ctx ends first, it returns an
// error naming what and the last status or error seen.
func WaitStatus(ctx context.Context, s StatusSource, what string, ok func(*odgmv1.ClusterStatus) bool) (*odgmv1.ClusterStatus, error) {
	var st *odgmv1.ClusterStatus
	var err error
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err = s.Status(cctx)
		cancel()
		if err == nil && ok(st) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("proccluster: %s: not reached (%w): last status %v (err %v)", what, ctx.Err(), st, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Settled accepts a status with exactly nodes nodes in which every shard
// has a leader.
func Settled(nodes int) func(*odgmv1.ClusterStatus) bool {
	return func(st *odgmv1.ClusterStatus) bool {
		if len(st.GetNodes()) != nodes {
			return false
		}
		for _, s := range st.GetShards() {
			if s.GetLeaderNode() == 0 {
				return false
			}
		}
		return true
	}
}

// AllAlive accepts a status in which every node listed is alive.
func AllAlive(st *odgmv1.ClusterStatus) bool {
	for _, n := range st.GetNodes() {
		if !n.GetAlive() {
			return false
		}
	}
	return true
}

// Retry repeats op, each attempt with a 3 s deadline, while it fails
// with odgm.ErrUnavailable, ErrTimeout or ErrClosed, for up to d; it
// returns op's last error.
func Retry(d time.Duration, op func(ctx context.Context) error) error {
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := op(ctx)
		cancel()
		if err == nil || time.Now().After(deadline) || !Transient(err) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Transient reports whether err is one a caller retries while a cluster
// fails over: odgm.ErrUnavailable, ErrTimeout or ErrClosed.
func Transient(err error) bool {
	return errors.Is(err, odgm.ErrUnavailable) || errors.Is(err, odgm.ErrTimeout) || errors.Is(err, odgm.ErrClosed)
}
