package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/odgm-go/odgm"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

func getCommand(g *globals) *cobra.Command {
	var stale bool
	cmd := &cobra.Command{
		Use:   "get CLASS ID [ENTRY...]",
		Short: "print an object's version and entries (all, or those named)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, done, err := g.dial(cmd)
			if err != nil {
				return err
			}
			defer done()
			opts := []odgm.Option{odgm.Select(args[2:]...)}
			if stale {
				opts = append(opts, odgm.StaleRead())
			}
			st, err := c.Get(ctx, args[0], args[1], opts...)
			if err != nil {
				return err
			}
			printState(cmd.OutOrStdout(), st)
			return nil
		},
	}
	cmd.Flags().BoolVar(&stale, "stale", false, "read a replica's state without a ReadIndex round")
	return cmd
}

func printState(w io.Writer, st *odgm.State) {
	fmt.Fprintf(w, "%s version %d\n", st.ID, st.Version)
	for _, name := range slices.Sorted(maps.Keys(st.Entries)) {
		fmt.Fprintf(w, "%s=%s\n", name, st.Entries[name])
	}
}

func putCommand(g *globals) *cobra.Command {
	var requestID string
	var expected int64
	cmd := &cobra.Command{
		Use:   "put CLASS ID NAME=VALUE...",
		Short: "write entries of an object (one atomic batch) and print its version",
		Args:  cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			entries := map[string][]byte{}
			for _, kv := range args[2:] {
				name, value, ok := strings.Cut(kv, "=")
				if !ok {
					return usageError{fmt.Errorf("put: %q is not NAME=VALUE", kv)}
				}
				entries[name] = []byte(value)
			}
			c, ctx, done, err := g.dial(cmd)
			if err != nil {
				return err
			}
			defer done()
			var v uint64
			if expected >= 0 {
				v, err = c.CompareAndSwap(ctx, args[0], args[1], uint64(expected), entries, nil, odgm.RequestID(requestID))
			} else {
				v, err = c.Put(ctx, args[0], args[1], entries, odgm.RequestID(requestID))
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s version %d\n", args[1], v)
			return nil
		},
	}
	cmd.Flags().StringVar(&requestID, "request-id", "", "request id (a retry with the same id is applied at most once)")
	cmd.Flags().Int64Var(&expected, "expect-version", -1, "write only if the object is at this version (0: it must not exist)")
	return cmd
}

func deleteCommand(g *globals) *cobra.Command {
	var requestID string
	cmd := &cobra.Command{
		Use:   "delete CLASS ID [ENTRY...]",
		Short: "delete entries of an object, or the whole object when no entry is named",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, done, err := g.dial(cmd)
			if err != nil {
				return err
			}
			defer done()
			if len(args) == 2 {
				if err := c.DeleteObject(ctx, args[0], args[1], odgm.RequestID(requestID)); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s deleted\n", args[1])
				return nil
			}
			v, err := c.Delete(ctx, args[0], args[1], args[2:], odgm.RequestID(requestID))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s version %d\n", args[1], v)
			return nil
		},
	}
	cmd.Flags().StringVar(&requestID, "request-id", "", "request id (a retry with the same id is applied at most once)")
	return cmd
}

func listCommand(g *globals) *cobra.Command {
	var q odgm.ListOptions
	var all bool
	cmd := &cobra.Command{
		Use:   "list CLASS",
		Short: "list object ids of a class (a page; --all for every page)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, done, err := g.dial(cmd)
			if err != nil {
				return err
			}
			defer done()
			for {
				p, err := c.List(ctx, args[0], q)
				if err != nil {
					return err
				}
				for _, id := range p.IDs {
					fmt.Fprintln(cmd.OutOrStdout(), id)
				}
				if p.Next == "" {
					return nil
				}
				if !all {
					fmt.Fprintf(cmd.ErrOrStderr(), "next page: --cursor %s\n", p.Next)
					return nil
				}
				q.Cursor = p.Next
			}
		},
	}
	cmd.Flags().StringVar(&q.Prefix, "prefix", "", "only ids starting with it")
	cmd.Flags().IntVar(&q.Limit, "limit", 100, "ids per page")
	cmd.Flags().StringVar(&q.Cursor, "cursor", "", "the previous page's cursor")
	cmd.Flags().BoolVar(&q.Stale, "stale", false, "read replicas' state without a ReadIndex round")
	cmd.Flags().BoolVar(&all, "all", false, "print every page")
	return cmd
}

func invokeCommand(g *globals) *cobra.Command {
	var requestID string
	cmd := &cobra.Command{
		Use:   "invoke CLASS ID METHOD [PAYLOAD]",
		Short: "invoke a method on an object and print its reply (ID - for a class-level method)",
		Args:  cobra.RangeArgs(3, 4),
		RunE: func(cmd *cobra.Command, args []string) error {
			var payload []byte
			if len(args) == 4 {
				payload = []byte(args[3])
			}
			c, ctx, done, err := g.dial(cmd)
			if err != nil {
				return err
			}
			defer done()
			var out []byte
			if args[1] == "-" {
				out, err = c.InvokeStateless(ctx, args[0], args[2], payload)
			} else {
				out, err = c.Invoke(ctx, args[0], args[1], args[2], payload, odgm.RequestID(requestID))
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&requestID, "request-id", "", "request id (a retry with the same id is applied at most once)")
	return cmd
}

func classCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "class", Short: "create and list classes"}
	var spec odgmv1.ClassSpec
	var partitions, replicas uint32
	var indexes []string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "create a class in the cluster (data-only: methods come with the node programs)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.Name, spec.Partitions, spec.Replicas = args[0], partitions, replicas
			for _, ix := range indexes {
				parts := strings.Split(ix, ":")
				if len(parts) < 2 || len(parts) > 4 {
					return usageError{fmt.Errorf("class create: index %q is not NAME:ENTRY[:TYPE[:JSONPATH]]", ix)}
				}
				is := &odgmv1.IndexSpec{Name: parts[0], Entry: parts[1]}
				if len(parts) > 2 {
					is.Type = parts[2]
				}
				if len(parts) > 3 {
					is.JsonPath = parts[3]
				}
				spec.Indexes = append(spec.Indexes, is)
			}
			c, ctx, done, err := g.dial(cmd)
			if err != nil {
				return err
			}
			defer done()
			if err := c.CreateClass(ctx, &spec); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "class %s: %d partitions × %d replicas\n", spec.Name, spec.Partitions, spec.Replicas)
			return nil
		},
	}
	create.Flags().Uint32Var(&partitions, "partitions", 1, "number of shards")
	create.Flags().Uint32Var(&replicas, "replicas", 1, "Raft replicas of each shard")
	create.Flags().StringArrayVar(&indexes, "index", nil, "secondary index NAME:ENTRY[:TYPE[:JSONPATH]] (repeatable; TYPE string, int, uint, float, binary, json)")
	list := &cobra.Command{
		Use:   "list",
		Short: "list the cluster's classes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, done, err := g.dial(cmd)
			if err != nil {
				return err
			}
			defer done()
			cs, err := c.ListClasses(ctx)
			if err != nil {
				return err
			}
			for _, cl := range cs {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%d partitions\t%d replicas\t%d indexes\n", cl.GetName(), cl.GetPartitions(), cl.GetReplicas(), len(cl.GetIndexes()))
			}
			return nil
		},
	}
	cmd.AddCommand(create, list)
	return cmd
}

func statusCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "show the cluster: nodes, shards, leaders and replica health",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, done, err := g.dial(cmd)
			if err != nil {
				return err
			}
			defer done()
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
}

func printStatus(out io.Writer, st *odgmv1.ClusterStatus) {
	fmt.Fprintf(out, "cluster state version %d, reported by node %d, meta leader on node %d\n\n", st.GetVersion(), st.GetReportingNode(), st.GetMetaLeaderNode())
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tALIVE\tLAST SEEN\tRAFT\tREMOTE\tGRPC\tREPLICAS\tLEADS")
	replicas, leads := map[uint64]int{}, map[uint64]int{}
	for _, s := range st.GetShards() {
		for _, r := range s.GetPlacement().GetReplicas() {
			replicas[r.GetNodeId()]++
		}
		leads[s.GetLeaderNode()]++
	}
	for _, n := range st.GetNodes() {
		id := n.GetNode().GetNodeId()
		seen := "-"
		if n.GetLastSeenMs() > 0 || n.GetAlive() {
			seen = strconv.FormatUint(n.GetLastSeenMs(), 10) + "ms"
		}
		fmt.Fprintf(w, "%d\t%v\t%s\t%s\t%s\t%s\t%d\t%d\n", id, n.GetAlive(), seen, n.GetNode().GetRaftAddress(),
			n.GetNode().GetRemoteAddress(), dash(n.GetNode().GetGrpcAddress()), replicas[id], leads[id])
	}
	w.Flush()
	fmt.Fprintln(out)
	w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SHARD\tCLASS/PARTITION\tLEADER NODE\tREPLICAS (replica@node state applied)")
	for _, s := range st.GetShards() {
		p := s.GetPlacement()
		name := "meta"
		if p.GetClass() != "" {
			name = fmt.Sprintf("%s/%d", p.GetClass(), p.GetPartition())
		}
		var rs []string
		for _, r := range p.GetReplicas() {
			applied := "?"
			for _, rep := range s.GetReports() {
				if rep.GetReplicaId() == r.GetReplicaId() {
					applied = strconv.FormatUint(rep.GetAppliedIndex(), 10)
				}
			}
			rs = append(rs, fmt.Sprintf("%d@%d %s %s", r.GetReplicaId(), r.GetNodeId(),
				strings.ToLower(strings.TrimPrefix(r.GetState().String(), "REPLICA_STATE_")), applied))
		}
		leader := "none"
		if s.GetLeaderNode() != 0 {
			leader = strconv.FormatUint(s.GetLeaderNode(), 10)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", p.GetShardId(), name, leader, strings.Join(rs, ", "))
	}
	w.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
