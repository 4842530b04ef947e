// Package proccluster runs clusters of ODGM node processes on 127.0.0.1
// for tests and benchmark programs: it builds a node binary (cmd/odgm, or
// an application's own built with cli.Main), writes each node's YAML,
// starts the processes, kills (SIGKILL), stops (SIGTERM) and restarts
// them, dials clients to them and waits for conditions on the cluster's
// status.
//
//	bin, err := proccluster.Build(ctx, proccluster.ODGM, dir)
//	c, err := proccluster.Start(proccluster.Config{Binary: bin, Dir: dir, Logf: log.Printf}, 3)
//	defer c.Close()
//	cl, err := c.Dial(ctx, 1)               // a client.Client to node 1
//	st, err := proccluster.WaitStatus(ctx, cl, "three nodes", proccluster.Settled(3))
//	err = c.Kill(st.GetShards()[1].GetLeaderNode())
//
// Node 1 bootstraps the cluster; every other node joins with node 1's
// remote address as its seed. Each node's data directory, YAML file
// (nN.yaml) and combined stdout and stderr (nN.log) are under
// Config.Dir. Ports are free loopback ports picked when a node is added
// (internal/loopback); another program may take one before the node
// listens on it, which shows as a node that exits at start.
//
// The package takes no *testing.T: its functions return errors, and
// Config.Logf receives what a test would log. A Cluster and its Nodes are
// for one goroutine at a time (the test's or the benchmark's), except
// Node.Exited's channel, which any goroutine may wait on. Every process a
// Cluster starts has a goroutine waiting for it to exit; Close stops the
// processes, so that those goroutines end.
package proccluster
