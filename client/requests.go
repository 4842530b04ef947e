package client

import (
	"fmt"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/internal/wire"
	odgmv1 "github.com/odgm-go/odgm/messages/odgm/v1"
)

// errResponse is the error of a response that lacks the expected result:
// a node of another version, or a bug. It matches no odgm sentinel.
func errResponse(op string) error {
	return fmt.Errorf("client: response without a %s result", op)
}

func getRequest(class, id string, o odgm.CallOptions) *odgmv1.GetRequest {
	return &odgmv1.GetRequest{Class: class, Id: id, Names: o.Names, Stale: o.Stale}
}

func stateResult(r *odgmv1.GetResponse) (*odgm.State, error) {
	if r.GetState() == nil {
		return nil, errResponse("get")
	}
	return wire.StateFromProto(r.GetState())
}

func putRequest(class, id string, entries map[string][]byte, o odgm.CallOptions) *odgmv1.PutRequest {
	return &odgmv1.PutRequest{Class: class, Id: id, Entries: wire.EntriesToProto(entries), RequestId: o.RequestID}
}

func deleteRequest(class, id string, names []string, o odgm.CallOptions) *odgmv1.DeleteRequest {
	return &odgmv1.DeleteRequest{Class: class, Id: id, Names: names, RequestId: o.RequestID}
}

func deleteObjectRequest(class, id string, o odgm.CallOptions) *odgmv1.DeleteObjectRequest {
	return &odgmv1.DeleteObjectRequest{Class: class, Id: id, RequestId: o.RequestID}
}

func casRequest(class, id string, expected uint64, puts map[string][]byte, deletes []string, o odgm.CallOptions) *odgmv1.CompareAndSwapRequest {
	return &odgmv1.CompareAndSwapRequest{Class: class, Id: id, ExpectedVersion: expected, Puts: wire.EntriesToProto(puts),
		Deletes: deletes, RequestId: o.RequestID}
}

func invokeRequest(class, id, method string, payload []byte, o odgm.CallOptions) *odgmv1.InvokeRequest {
	return &odgmv1.InvokeRequest{Class: class, Id: id, Method: method, Payload: payload, RequestId: o.RequestID, Stale: o.Stale}
}

func classesResult(r *odgmv1.ListClassesResponse) ([]*odgmv1.ClassSpec, error) {
	if r == nil {
		return nil, errResponse("list_classes")
	}
	cs := r.GetClasses()
	if cs == nil {
		cs = []*odgmv1.ClassSpec{}
	}
	return cs, nil
}

func statusResult(r *odgmv1.StatusResponse) (*odgmv1.ClusterStatus, error) {
	if r.GetStatus() == nil {
		return nil, errResponse("status")
	}
	return r.GetStatus(), nil
}
