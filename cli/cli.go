package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/odgm-go/odgm/client"
	"github.com/odgm-go/odgm/internal/tlsfiles"
	"github.com/odgm-go/odgm/runtime"
)

// Main runs the odgm command with os.Args and exits. classes are
// registered (with their methods) on every node `odgm node` starts.
func Main(classes ...runtime.Class) {
	os.Exit(Run(os.Args[1:], classes...))
}

// Run runs the odgm command with args and returns its exit status.
func Run(args []string, classes ...runtime.Class) int {
	return run(os.Stdout, os.Stderr, args, classes...)
}

func run(stdout, stderr io.Writer, args []string, classes ...runtime.Class) int {
	root := Command(classes...)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "odgm") {
			msg = "odgm: " + msg
		}
		fmt.Fprintln(root.ErrOrStderr(), msg)
		var u usageError
		if errors.As(err, &u) {
			return 2
		}
		return 1
	}
	return 0
}

type usageError struct{ error }

// Command is the odgm command tree.
func Command(classes ...runtime.Class) *cobra.Command {
	root := &cobra.Command{
		Use:           "odgm",
		Short:         "ODGM: replicated object shards — run a node, or work with objects on a cluster",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	var g globals
	root.PersistentFlags().StringVar(&g.addrs, "addr", "127.0.0.1:7100", "remote addresses of nodes, comma-separated")
	root.PersistentFlags().DurationVar(&g.timeout, "timeout", 10*time.Second, "deadline of the request")
	root.PersistentFlags().StringVar(&g.listen, "listen", "127.0.0.1:0", "host:port this command listens on for the nodes' answers (protoactor remote answers by connecting back: use an address the nodes reach)")
	root.PersistentFlags().StringVar(&g.tls.CA, "tls-ca", "", "CA file for mutual TLS with the nodes")
	root.PersistentFlags().StringVar(&g.tls.Cert, "tls-cert", "", "client certificate file for mutual TLS")
	root.PersistentFlags().StringVar(&g.tls.Key, "tls-key", "", "client key file for mutual TLS")
	root.AddCommand(nodeCommand(classes), getCommand(&g), putCommand(&g), deleteCommand(&g), listCommand(&g),
		invokeCommand(&g), classCommand(&g), statusCommand(&g))
	return root
}

// closeWait bounds how long a command waits for its client to close.
var closeWait = time.Second

// globals are the flags of the client commands.
type globals struct {
	addrs   string
	listen  string
	timeout time.Duration
	tls     tlsfiles.Files
}

// dial connects to the nodes and returns the client and a context bounded
// by the timeout.
func (g *globals) dial(cmd *cobra.Command) (*client.Client, context.Context, func(), error) {
	ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
	var opts []client.Option
	if g.tls.Enabled() {
		if err := g.tls.Validate(); err != nil {
			cancel()
			return nil, nil, nil, usageError{err}
		}
		sc, err := g.tls.ServerCredentials()
		if err != nil {
			cancel()
			return nil, nil, nil, err
		}
		cc, err := g.tls.ClientCredentials()
		if err != nil {
			cancel()
			return nil, nil, nil, err
		}
		opts = append(opts, client.WithTLS(sc, cc))
	}
	host, portText, err := net.SplitHostPort(g.listen)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil {
		cancel()
		return nil, nil, nil, usageError{fmt.Errorf("--listen %q: want host:port", g.listen)}
	}
	opts = append(opts, client.WithTimeout(g.timeout), client.WithListenAddress(host, port))
	var addrs []string
	for _, a := range strings.Split(g.addrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	c, err := client.Dial(ctx, addrs, opts...)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	done := func() {
		cancel()
		// protoactor may hold Close for seconds while it retries a node
		// that never answered; the command exits rather than wait.
		closed := make(chan struct{})
		go func() { c.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(closeWait):
		}
	}
	return c, ctx, done, nil
}

func nodeCommand(classes []runtime.Class) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "node --config node.yaml",
		Short: "run a node until interrupted (SIGINT or SIGTERM stops it gracefully)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return usageError{errors.New("node: --config is required")}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			cfg, err := runtime.ParseConfig(data)
			if err != nil {
				return err
			}
			return runNode(cmd.Context(), cfg, classes)
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "the node's YAML configuration")
	return cmd
}

// runNode starts a node, registers the classes, and runs until a signal.
func runNode(ctx context.Context, cfg runtime.Config, classes []runtime.Class) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	n, err := runtime.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "odgm: node %d up: data %s, raft %s, remote %s", n.ID(), n.DataDir(), n.Config().RaftAddress, n.Config().RemoteAddress)
	if a := n.GRPCAddress(); a != "" {
		fmt.Fprintf(os.Stderr, ", grpc %s", a)
	}
	fmt.Fprintln(os.Stderr)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, c := range classes {
			// The cluster may not have formed yet: keep trying.
			for {
				rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := n.RegisterClass(rctx, c)
				cancel()
				if err == nil || ctx.Err() != nil {
					break
				}
				fmt.Fprintf(os.Stderr, "odgm: class %s not registered yet: %v\n", c.Name, err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}()
	<-ctx.Done()
	<-done
	fmt.Fprintf(os.Stderr, "odgm: node %d stopping\n", n.ID())
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return n.Stop(sctx)
}
