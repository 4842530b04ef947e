package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/odgm-go/odgm/internal/loopback"
	"github.com/odgm-go/odgm/runtime"
)

func runArgs(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(&out, &errOut, args)
	return code, out.String(), errOut.String()
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"node"}, 2, "--config is required"},
		{[]string{"--no-such-flag", "status"}, 2, "unknown flag"},
		{[]string{"--listen", "nowhere", "status"}, 2, "--listen"},
		{[]string{"put", "kv", "id", "novalue"}, 2, "not NAME=VALUE"},
		{[]string{"class", "create", "kv", "--index", "justaname"}, 2, "NAME:ENTRY"},
		{[]string{"node", "--config", "/does/not/exist.yaml"}, 1, "no such file"},
	} {
		code, _, errOut := runArgs(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d %q, want exit %d and %q", tc.args, code, errOut, tc.code, tc.msg)
		}
	}
}

// childEnv makes the test binary a child that runs one command.
const childEnv = "ODGM_CLI_TEST_CHILD"

// A node that cannot be reached is a timeout within --timeout, exit 1,
// and the command does not linger. (In a child process: protoactor leaks
// the gRPC connections to a node that never answered.)
func TestUnreachableNode(t *testing.T) {
	if addr := os.Getenv(childEnv); addr != "" {
		code, _, errOut := runArgs("--addr", addr, "--timeout", "700ms", "status")
		fmt.Printf("exit=%d %s", code, errOut)
		return
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestUnreachableNode$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+addr)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "exit=1 odgm: timeout") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("the command took %v with --timeout 700ms", d)
	}
}

// freeAddrs returns two distinct free loopback addresses.
func freeAddrs(t *testing.T) (string, string) {
	t.Helper()
	a, err := loopback.Addrs(2)
	if err != nil {
		t.Fatal(err)
	}
	return a[0], a[1]
}

// TestInProcessCommands runs the client commands against a one-node
// cluster in this process (a node's remote and the command's in one
// process race inside protoactor: not under -race).
func TestInProcessCommands(t *testing.T) {
	if raceEnabled {
		t.Skip("two protoactor remotes in one process race inside protoactor; run without -race (make test does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raft, remote := freeAddrs(t)
	n, err := runtime.Start(ctx, runtime.Config{Memory: true, RTTMillisecond: 5, RaftAddress: raft, RemoteAddress: remote,
		Bootstrap: true, HeartbeatInterval: 100 * time.Millisecond, NodeDeadTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(context.Background())
	addr := n.Config().RemoteAddress
	steps := []struct {
		args []string
		out  string
	}{
		{[]string{"class", "create", "kv", "--partitions", "2", "--index", "by_owner:owner"}, "class kv: 2 partitions × 1 replicas"},
		{[]string{"put", "kv", "Alice", "owner=bob", "balance=10"}, "Alice version 1"},
		{[]string{"put", "kv", "alice", "balance=11", "--expect-version", "1"}, "alice version 2"},
		{[]string{"get", "kv", "alice"}, "alice version 2\nbalance=11\nowner=bob\n"},
		{[]string{"get", "kv", "alice", "owner"}, "alice version 2\nowner=bob\n"},
		{[]string{"list", "kv", "--all"}, "alice\n"},
		{[]string{"delete", "kv", "alice", "owner"}, "alice version 3"},
		{[]string{"class", "list"}, "kv\t2 partitions\t1 replicas\t1 indexes"},
		{[]string{"status"}, "kv/1"},
		{[]string{"delete", "kv", "alice"}, "alice deleted"},
	}
	for _, s := range steps {
		var code int
		var out, errOut string
		for try := 0; try < 50; try++ { // the class's shards may still be electing
			code, out, errOut = runArgs(append([]string{"--addr", addr, "--timeout", "5s"}, s.args...)...)
			if code == 0 || !strings.Contains(errOut, "unavailable") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if code != 0 || !strings.Contains(out, s.out) {
			st, _ := n.Status(ctx)
			t.Fatalf("%v: exit %d, out %q, err %q; want %q (node classes %v, status classes %v v%d)", s.args, code, out, errOut, s.out, n.Classes(), st.GetClasses(), st.GetVersion())
		}
	}
	code, _, errOut := runArgs("--addr", addr, "put", "kv", "alice", "balance=1", "--expect-version", "7")
	if code != 1 || !strings.Contains(errOut, "version mismatch") {
		t.Fatalf("stale CAS: exit %d %q", code, errOut)
	}
	code, _, errOut = runArgs("--addr", addr, "get", "nosuchclass", "x")
	if code != 1 || !strings.Contains(errOut, "unknown class") {
		t.Fatalf("unknown class: exit %d %q", code, errOut)
	}
}
