// Command appnode shows how an application builds its own node binary
// with its classes' methods: it is the odgm command (package cli) with a
// `counter` class registered on every node it starts.
//
//	appnode node --config node.yaml     # a node of the application's cluster
//	appnode --addr 127.0.0.1:7100 invoke counter visits incr
//	appnode                              # the demo below
//
// Run with no arguments it is a demo: it starts three of its own node
// processes on 127.0.0.1 (node 1 bootstraps the cluster, the others join
// through it), invokes counter.incr 60 times through the three nodes in
// turn (each node routes the call to the node of the object's shard
// leader), reads the count back through each node, and stops the nodes.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/cli"
	"github.com/odgm-go/odgm/client"
	"github.com/odgm-go/odgm/internal/loopback"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/runtime"
)

// counter is the application's class: its methods run on the node that
// leads the object's shard, one invocation at a time per object.
var counter = runtime.Class{
	Name:       "counter",
	Partitions: 2,
	Replicas:   3,
	Methods: map[string]runtime.Method{
		"incr": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
			v, _ := o.Get("n")
			n, _ := strconv.Atoi(string(v))
			o.Set("n", []byte(strconv.Itoa(n+1)))
			return []byte(strconv.Itoa(n + 1)), nil
		},
		"get": func(_ context.Context, o *runtime.Object, _ []byte) ([]byte, error) {
			v, _ := o.Get("n")
			return v, nil
		},
	},
}

func main() {
	if len(os.Args) > 1 {
		cli.Main(counter)
	}
	// A free port picked for a node can be taken by another program
	// before the node listens on it: then start again on other ports.
	for attempt := 1; ; attempt++ {
		err := demo()
		if err == nil {
			return
		}
		var se startError
		if !errors.As(err, &se) || attempt == 3 {
			fmt.Fprintln(os.Stderr, "appnode:", err)
			os.Exit(1)
		}
		fmt.Println("a node did not start (" + err.Error() + "); again on other ports")
	}
}

// startError is a node process that exited while the cluster started.
type startError struct{ error }

func demo() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "odgm-appnode-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var remotes []string
	var procs []*exec.Cmd
	exited := make(chan error, 3)
	var waits []chan struct{}
	defer func() {
		for i, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
			<-waits[i]
		}
	}()
	for id := 1; id <= 3; id++ {
		addrs, err := loopback.Addrs(2)
		if err != nil {
			return err
		}
		raft, remote := addrs[0], addrs[1]
		join := "bootstrap: true"
		if id > 1 {
			join = "seeds: [" + remotes[0] + "]"
		}
		cfg := filepath.Join(dir, fmt.Sprintf("node%d.yaml", id))
		yaml := fmt.Sprintf("node_id: %d\ndata_dir: %s\nraft_address: %s\nremote_address: %s\n%s\n",
			id, filepath.Join(dir, fmt.Sprint("n", id)), raft, remote, join)
		if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
			return err
		}
		log, err := os.Create(filepath.Join(dir, fmt.Sprintf("node%d.log", id)))
		if err != nil {
			return err
		}
		defer log.Close()
		p := exec.Command(self, "node", "--config", cfg)
		p.Stdout, p.Stderr = log, log
		if err := p.Start(); err != nil {
			return err
		}
		done := make(chan struct{})
		go func(id int, logPath string) {
			err := p.Wait()
			out, _ := os.ReadFile(logPath)
			exited <- fmt.Errorf("node %d exited (%v): %s", id, err, out)
			close(done)
		}(id, log.Name())
		procs, waits = append(procs, p), append(waits, done)
		remotes = append(remotes, remote)
	}
	fmt.Println("started 3 appnode node processes (node 1 bootstraps, 2 and 3 join through it)")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var clients []*client.Client
	for _, addr := range remotes {
		c, err := client.Dial(ctx, []string{addr})
		if err != nil {
			return err
		}
		defer c.Close()
		clients = append(clients, c)
	}
	// Every node registers the class with its methods when it starts; wait
	// until the cluster knows it and its shards have leaders.
	if err := waitReady(ctx, clients[0], exited); err != nil {
		return err
	}
	const calls = 60
	for i := range calls {
		c := clients[i%len(clients)]
		// The request id makes a retried increment count once.
		id := odgm.RequestID(fmt.Sprintf("demo-incr-%d", i))
		if _, err := retry(ctx, func(ctx context.Context) ([]byte, error) {
			return c.Invoke(ctx, "counter", "visits", "incr", nil, id)
		}); err != nil {
			return fmt.Errorf("incr %d: %w", i, err)
		}
	}
	fmt.Printf("invoked counter(visits).incr %d times, through nodes 1, 2 and 3 in turn\n", calls)
	for i, c := range clients {
		v, err := retry(ctx, func(ctx context.Context) ([]byte, error) {
			return c.Invoke(ctx, "counter", "visits", "get", nil)
		})
		if err != nil {
			return err
		}
		fmt.Printf("through node %d: count = %s\n", i+1, v)
	}
	return nil
}

// waitReady waits until the counter class is known and every shard has a
// leader.
func waitReady(ctx context.Context, c *client.Client, exited <-chan error) error {
	for {
		st, err := c.Status(ctx)
		if err == nil && ready(st) {
			return nil
		}
		select {
		case err := <-exited:
			return startError{err}
		case <-ctx.Done():
			return fmt.Errorf("cluster not ready: %w (last error %v, status %v)", ctx.Err(), err, st)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ready(st *odgmv1.ClusterStatus) bool {
	shards := 0
	for _, s := range st.GetShards() {
		if s.GetLeaderNode() == 0 {
			return false
		}
		if s.GetPlacement().GetClass() == counter.Name {
			shards++
		}
	}
	return shards == counter.Partitions && len(st.GetNodes()) == 3
}

// retry repeats a call that found the cluster busy (a shard electing its
// leader just after start), within ctx.
func retry(ctx context.Context, f func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := f(cctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return v, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
