package runtime

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/odgm-go/odgm/internal/wire"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// newGRPCServer returns a gRPC server (not yet serving) with the node's
// ObjectService and server reflection registered. opts are the caller's:
// transport credentials, message size limits (grpc.MaxRecvMsgSize,
// grpc.MaxSendMsgSize), interceptors.
func (n *Node) newGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	s := grpc.NewServer(opts...)
	odgmv1.RegisterObjectServiceServer(s, &objectService{n: n})
	reflection.Register(s)
	return s
}

// objectService is odgm.v1.ObjectService over Node.Handle: each call
// becomes a Request whose timeout_ms is the time left of the call's
// deadline; an Error becomes the status wire.GRPCStatus gives it.
type objectService struct {
	odgmv1.UnimplementedObjectServiceServer
	n *Node
}

// call serves req and returns the result that get picks from the
// response.
func call[T any](ctx context.Context, s *objectService, req *odgmv1.Request, get func(*odgmv1.Response) *T) (*T, error) {
	if dl, ok := ctx.Deadline(); ok {
		req.TimeoutMs = uint64(max(time.Until(dl).Milliseconds(), 1))
	}
	resp := s.n.Handle(ctx, req)
	if e := resp.GetError(); e != nil {
		return nil, wire.GRPCStatus(e).Err()
	}
	if r := get(resp); r != nil {
		return r, nil
	}
	return nil, status.Error(codes.Internal, "odgm: response of another operation")
}

func (s *objectService) Get(ctx context.Context, in *odgmv1.GetRequest) (*odgmv1.GetResponse, error) {
	return call(ctx, s, &odgmv1.Request{Op: &odgmv1.Request_Get{Get: in}}, (*odgmv1.Response).GetGet)
}

func (s *objectService) Put(ctx context.Context, in *odgmv1.PutRequest) (*odgmv1.PutResponse, error) {
	return call(ctx, s, &odgmv1.Request{Op: &odgmv1.Request_Put{Put: in}}, (*odgmv1.Response).GetPut)
}

func (s *objectService) Delete(ctx context.Context, in *odgmv1.DeleteRequest) (*odgmv1.DeleteResponse, error) {
	return call(ctx, s, &odgmv1.Request{Op: &odgmv1.Request_Delete{Delete: in}}, (*odgmv1.Response).GetDelete)
}

func (s *objectService) DeleteObject(ctx context.Context, in *odgmv1.DeleteObjectRequest) (*odgmv1.DeleteObjectResponse, error) {
	return call(ctx, s, &odgmv1.Request{Op: &odgmv1.Request_DeleteObject{DeleteObject: in}}, (*odgmv1.Response).GetDeleteObject)
}

func (s *objectService) CompareAndSwap(ctx context.Context, in *odgmv1.CompareAndSwapRequest) (*odgmv1.CompareAndSwapResponse, error) {
	return call(ctx, s, &odgmv1.Request{Op: &odgmv1.Request_CompareAndSwap{CompareAndSwap: in}}, (*odgmv1.Response).GetCompareAndSwap)
}

func (s *objectService) List(ctx context.Context, in *odgmv1.ListRequest) (*odgmv1.ListResponse, error) {
	return call(ctx, s, &odgmv1.Request{Op: &odgmv1.Request_List{List: in}}, (*odgmv1.Response).GetList)
}

func (s *objectService) QueryIndex(ctx context.Context, in *odgmv1.QueryIndexRequest) (*odgmv1.QueryIndexResponse, error) {
	return call(ctx, s, &odgmv1.Request{Op: &odgmv1.Request_QueryIndex{QueryIndex: in}}, (*odgmv1.Response).GetQueryIndex)
}

func (s *objectService) Invoke(ctx context.Context, in *odgmv1.InvokeRequest) (*odgmv1.InvokeResponse, error) {
	return call(ctx, s, &odgmv1.Request{Op: &odgmv1.Request_Invoke{Invoke: in}}, (*odgmv1.Response).GetInvoke)
}

func (s *objectService) InvokeStateless(ctx context.Context, in *odgmv1.InvokeStatelessRequest) (*odgmv1.InvokeStatelessResponse, error) {
	return call(ctx, s, &odgmv1.Request{Op: &odgmv1.Request_InvokeStateless{InvokeStateless: in}}, (*odgmv1.Response).GetInvokeStateless)
}

func (s *objectService) CreateClass(ctx context.Context, in *odgmv1.CreateClassRequest) (*odgmv1.CreateClassResponse, error) {
	return call(ctx, s, &odgmv1.Request{Op: &odgmv1.Request_CreateClass{CreateClass: in}}, (*odgmv1.Response).GetCreateClass)
}

func (s *objectService) ListClasses(ctx context.Context, in *odgmv1.ListClassesRequest) (*odgmv1.ListClassesResponse, error) {
	return call(ctx, s, &odgmv1.Request{Op: &odgmv1.Request_ListClasses{ListClasses: in}}, (*odgmv1.Response).GetListClasses)
}

func (s *objectService) Status(ctx context.Context, in *odgmv1.StatusRequest) (*odgmv1.StatusResponse, error) {
	return call(ctx, s, &odgmv1.Request{Op: &odgmv1.Request_Status{Status: in}}, (*odgmv1.Response).GetStatus)
}
