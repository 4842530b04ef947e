package apitest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/odgm-go/odgm"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// ClusterOps are the cluster operations the remote and gRPC clients share.
type ClusterOps interface {
	CreateClass(ctx context.Context, spec *odgmv1.ClassSpec) error
	ListClasses(ctx context.Context) ([]*odgmv1.ClassSpec, error)
	Status(ctx context.Context) (*odgmv1.ClusterStatus, error)
}

// CheckClusterOps checks the cluster operations through c against node
// (a node started by StartNode, in no cluster): its classes are listed,
// its status names it, a nil spec is refused, and a created class is
// listed afterwards.
func CheckClusterOps(t *testing.T, c ClusterOps, node uint64) {
	t.Helper()
	ctx := context.Background()
	names := func() []string {
		t.Helper()
		cs, err := c.ListClasses(ctx)
		if err != nil {
			t.Fatalf("list classes: %v", err)
		}
		var out []string
		for _, spec := range cs {
			out = append(out, spec.GetName())
		}
		return out
	}
	if got := names(); !slices.Contains(got, DefaultNames.Counter) || !slices.Contains(got, DefaultNames.Doc) {
		t.Fatalf("classes %v, want the suite's", got)
	}
	st, err := c.Status(ctx)
	if err != nil || st.GetReportingNode() != node || len(st.GetClasses()) == 0 {
		t.Fatalf("status: %v %v; want one reported by node %d with its classes", st, err, node)
	}
	if err := c.CreateClass(ctx, nil); !errors.Is(err, odgm.ErrInvalidArgument) {
		t.Fatalf("nil spec: %v", err)
	}
	if err := c.CreateClass(ctx, &odgmv1.ClassSpec{Name: "data", Partitions: 1, Replicas: 1}); err != nil {
		t.Fatalf("create class: %v", err)
	}
	if got := names(); !slices.Contains(got, "data") {
		t.Fatalf("classes %v after creating data", got)
	}
}
