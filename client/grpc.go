package client

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/internal/wire"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// GRPCClient is the object API over a node's gRPC service (odgm.v1
// ObjectService). It implements odgm.Objects; errors are the odgm errors
// the node returned (from the Error detail of the status), or mapped from
// gRPC's own status codes (a deadline → odgm.ErrTimeout, no connection →
// odgm.ErrUnavailable). Its methods are safe for concurrent use; the
// connection is the caller's to close.
type GRPCClient struct {
	svc odgmv1.ObjectServiceClient
}

var _ odgm.Objects = (*GRPCClient)(nil)

// NewGRPC returns a GRPCClient over conn (a *grpc.ClientConn to a node, for
// example from grpc.NewClient).
func NewGRPC(conn grpc.ClientConnInterface) *GRPCClient {
	return &GRPCClient{svc: odgmv1.NewObjectServiceClient(conn)}
}

// Get returns an object's state; see odgm.Objects.
func (c *GRPCClient) Get(ctx context.Context, class, id string, opts ...odgm.Option) (*odgm.State, error) {
	o, err := odgm.ApplyOptions(opts)
	if err != nil {
		return nil, err
	}
	r, err := c.svc.Get(ctx, getRequest(class, id, o))
	if err != nil {
		return nil, wire.FromGRPCError(err)
	}
	return stateResult(r)
}

// Put writes entries of an object and returns its version after.
func (c *GRPCClient) Put(ctx context.Context, class, id string, entries map[string][]byte, opts ...odgm.Option) (uint64, error) {
	o, err := odgm.ApplyOptions(opts)
	if err != nil {
		return 0, err
	}
	r, err := c.svc.Put(ctx, putRequest(class, id, entries, o))
	if err != nil {
		return 0, wire.FromGRPCError(err)
	}
	return r.GetVersion(), nil
}

// Delete removes entries of an object and returns its version after.
func (c *GRPCClient) Delete(ctx context.Context, class, id string, names []string, opts ...odgm.Option) (uint64, error) {
	o, err := odgm.ApplyOptions(opts)
	if err != nil {
		return 0, err
	}
	r, err := c.svc.Delete(ctx, deleteRequest(class, id, names, o))
	if err != nil {
		return 0, wire.FromGRPCError(err)
	}
	return r.GetVersion(), nil
}

// DeleteObject removes an object and all its entries.
func (c *GRPCClient) DeleteObject(ctx context.Context, class, id string, opts ...odgm.Option) error {
	o, err := odgm.ApplyOptions(opts)
	if err != nil {
		return err
	}
	if _, err := c.svc.DeleteObject(ctx, deleteObjectRequest(class, id, o)); err != nil {
		return wire.FromGRPCError(err)
	}
	return nil
}

// CompareAndSwap applies puts then deletes if the object's version is
// expected (0: it must not exist). On odgm.ErrVersionMismatch the version
// returned is 0.
func (c *GRPCClient) CompareAndSwap(ctx context.Context, class, id string, expected uint64, puts map[string][]byte, deletes []string, opts ...odgm.Option) (uint64, error) {
	o, err := odgm.ApplyOptions(opts)
	if err != nil {
		return 0, err
	}
	r, err := c.svc.CompareAndSwap(ctx, casRequest(class, id, expected, puts, deletes, o))
	if err != nil {
		return 0, wire.FromGRPCError(err)
	}
	return r.GetVersion(), nil
}

// List lists a page of the class's object ids.
func (c *GRPCClient) List(ctx context.Context, class string, q odgm.ListOptions) (*odgm.Page, error) {
	r, err := c.svc.List(ctx, wire.ListRequest(class, q))
	if err != nil {
		return nil, wire.FromGRPCError(err)
	}
	return wire.PageFromProto(r), nil
}

// QueryIndex queries a page of a secondary index of the class.
func (c *GRPCClient) QueryIndex(ctx context.Context, class string, q odgm.IndexQuery) (*odgm.IndexPage, error) {
	r, err := c.svc.QueryIndex(ctx, wire.QueryIndexRequest(class, q))
	if err != nil {
		return nil, wire.FromGRPCError(err)
	}
	return wire.IndexPageFromProto(r)
}

// Invoke runs a method of the class on the object and returns its reply.
// A method's failure is a *odgm.MethodError whose Err is nil.
func (c *GRPCClient) Invoke(ctx context.Context, class, id, method string, payload []byte, opts ...odgm.Option) ([]byte, error) {
	o, err := odgm.ApplyOptions(opts)
	if err != nil {
		return nil, err
	}
	r, err := c.svc.Invoke(ctx, invokeRequest(class, id, method, payload, o))
	if err != nil {
		return nil, wire.FromGRPCError(err)
	}
	return r.GetPayload(), nil
}

// InvokeStateless runs a class-level method on the node.
func (c *GRPCClient) InvokeStateless(ctx context.Context, class, method string, payload []byte) ([]byte, error) {
	r, err := c.svc.InvokeStateless(ctx, &odgmv1.InvokeStatelessRequest{Class: class, Method: method, Payload: payload})
	if err != nil {
		return nil, wire.FromGRPCError(err)
	}
	return r.GetPayload(), nil
}

// CreateClass creates a data-only class in the cluster.
func (c *GRPCClient) CreateClass(ctx context.Context, spec *odgmv1.ClassSpec) error {
	if spec == nil {
		return fmt.Errorf("%w: client: nil class spec", odgm.ErrInvalidArgument)
	}
	if _, err := c.svc.CreateClass(ctx, &odgmv1.CreateClassRequest{Class: spec}); err != nil {
		return wire.FromGRPCError(err)
	}
	return nil
}

// ListClasses lists the cluster's classes (never nil without an error).
func (c *GRPCClient) ListClasses(ctx context.Context) ([]*odgmv1.ClassSpec, error) {
	r, err := c.svc.ListClasses(ctx, &odgmv1.ListClassesRequest{})
	if err != nil {
		return nil, wire.FromGRPCError(err)
	}
	return classesResult(r)
}

// Status reports the cluster as the node sees it.
func (c *GRPCClient) Status(ctx context.Context) (*odgmv1.ClusterStatus, error) {
	r, err := c.svc.Status(ctx, &odgmv1.StatusRequest{})
	if err != nil {
		return nil, wire.FromGRPCError(err)
	}
	return statusResult(r)
}
