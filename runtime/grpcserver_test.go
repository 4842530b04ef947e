package runtime_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/client"
	"github.com/odgm-go/odgm/internal/apitest"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
	"github.com/odgm-go/odgm/runtime"
)

// serveGRPC serves n's gRPC service on a loopback port of its own and
// returns a connection to it; both end with the test.
func serveGRPC(t *testing.T, n *runtime.Node) (string, *grpc.ClientConn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := runtime.NewGRPCServer(n, grpc.MaxRecvMsgSize(1<<20), grpc.MaxSendMsgSize(1<<20))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(lis)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		s.Stop()
		<-done
	})
	return lis.Addr().String(), conn
}

// TestGRPCSuite runs the object API's semantic suite through the gRPC
// service and client.GRPCClient.
func TestGRPCSuite(t *testing.T) {
	apitest.Run(t, func(t *testing.T) apitest.Target {
		n := apitest.StartNode(t, nil)
		_, conn := serveGRPC(t, n)
		return apitest.Target{Objects: client.NewGRPC(conn), MaxValueSize: apitest.MaxValueSize}
	})
}

// TestGRPCStatusCodes: errors are statuses with the documented code and
// the Error as a detail; a message over the size limit is
// RESOURCE_EXHAUSTED (odgm.ErrTooLarge).
func TestGRPCStatusCodes(t *testing.T) {
	n := apitest.StartNode(t, nil)
	_, conn := serveGRPC(t, n)
	svc := odgmv1.NewObjectServiceClient(conn)
	ctx := ctxT(t)
	for _, c := range []struct {
		call func() error
		code codes.Code
	}{
		{func() error { _, err := svc.Get(ctx, &odgmv1.GetRequest{Class: "doc", Id: "none"}); return err }, codes.NotFound},
		{func() error { _, err := svc.Get(ctx, &odgmv1.GetRequest{Class: "nope", Id: "a"}); return err }, codes.NotFound},
		{func() error { _, err := svc.Get(ctx, &odgmv1.GetRequest{Class: "doc", Id: "bad id!"}); return err }, codes.InvalidArgument},
		{func() error {
			_, err := svc.CompareAndSwap(ctx, &odgmv1.CompareAndSwapRequest{Class: "doc", Id: "a", ExpectedVersion: 3})
			return err
		}, codes.Aborted},
		{func() error {
			_, err := svc.Invoke(ctx, &odgmv1.InvokeRequest{Class: "counter", Id: "a", Method: "nope"})
			return err
		}, codes.Unimplemented},
		{func() error {
			_, err := svc.Invoke(ctx, &odgmv1.InvokeRequest{Class: "counter", Id: "a", Method: "fail"})
			return err
		}, codes.FailedPrecondition},
		{func() error {
			_, err := svc.Put(ctx, &odgmv1.PutRequest{Class: "doc", Id: "a", Entries: []*odgmv1.Entry{{Name: "a", Value: make([]byte, 2<<20)}}})
			return err
		}, codes.ResourceExhausted},
	} {
		err := c.call()
		if status.Code(err) != c.code {
			t.Errorf("%v: want %v", err, c.code)
		}
	}
	_, err := svc.Get(ctx, &odgmv1.GetRequest{Class: "doc", Id: "none"})
	st, _ := status.FromError(err)
	if len(st.Details()) != 1 {
		t.Fatalf("details %v", st.Details())
	}
	if e, ok := st.Details()[0].(*odgmv1.Error); !ok || e.Code != odgmv1.ErrorCode_ERROR_CODE_NOT_FOUND {
		t.Fatalf("detail %v", st.Details()[0])
	}
	g := client.NewGRPC(conn)
	if _, err := g.Put(ctx, "doc", "a", map[string][]byte{"a": make([]byte, 2<<20)}); !errors.Is(err, odgm.ErrTooLarge) {
		t.Fatalf("over the message limit: %v", err)
	}
	// A short deadline gives a result or ErrTimeout, nothing else.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := g.Get(short, "doc", "a"); err != nil && !errors.Is(err, odgm.ErrTimeout) && !errors.Is(err, odgm.ErrNotFound) {
		t.Fatalf("short deadline: %v", err)
	}
	apitest.CheckClusterOps(t, g, n.ID())
}

// TestGRPCReflection: server reflection lists the ObjectService.
func TestGRPCReflection(t *testing.T) {
	n := apitest.StartNode(t, nil)
	_, conn := serveGRPC(t, n)
	ctx := ctxT(t)
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.CloseSend()
	found := false
	for _, s := range resp.GetListServicesResponse().GetService() {
		found = found || s.GetName() == "odgm.v1.ObjectService"
	}
	if !found {
		t.Fatalf("services: %v", resp.GetListServicesResponse().GetService())
	}
}

// TestGRPCGarbage: garbage bytes on the gRPC port do not disturb the
// service.
func TestGRPCGarbage(t *testing.T) {
	n := apitest.StartNode(t, nil)
	addr, conn := serveGRPC(t, n)
	for _, size := range []int{1, 24, 4096, 1 << 16} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, size)
		_, _ = rand.Read(b)
		_, _ = c.Write(b)
		c.Close()
	}
	// A valid preface followed by garbage frames.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1024)
	_, _ = rand.Read(b)
	_, _ = c.Write(append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), b...))
	c.Close()
	g := client.NewGRPC(conn)
	ctx := ctxT(t)
	if v, err := g.Put(ctx, "doc", "after-garbage", map[string][]byte{"a": []byte("1")}); err != nil || v != 1 {
		t.Fatalf("after garbage: %d %v", v, err)
	}
}
