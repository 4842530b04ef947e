package tests

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/odgm-go/odgm"
	"github.com/odgm-go/odgm/object"
	"github.com/odgm-go/odgm/runtime"
)

// TestErrorsFromOutside: the typed errors a user tests for, through the
// runtime's public API only.
func TestErrorsFromOutside(t *testing.T) {
	if !errors.Is(odgm.ErrTimeout, context.DeadlineExceeded) || !errors.Is(odgm.ErrCanceled, context.Canceled) {
		t.Fatal("ctx errors do not match the context package's")
	}
	if odgm.FromContext(context.DeadlineExceeded) != odgm.ErrTimeout || odgm.FromContext(nil) != nil {
		t.Fatal("FromContext")
	}
	inner := errors.New("inner")
	var err error = fmt.Errorf("wrapped: %w", &odgm.MethodError{Class: "c", ID: "i", Method: "m", Err: inner, Message: "inner"})
	var me *odgm.MethodError
	if !errors.As(err, &me) || !errors.Is(err, inner) || me.Error() != "odgm: method c(i).m: inner" {
		t.Fatalf("%v", err)
	}

	n, err := runtime.Start(context.Background(), runtime.Config{Memory: true, RTTMillisecond: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(context.Background())
	ctx := context.Background()
	if err := n.RegisterClass(ctx, runtime.Class{Name: "thing"}); err != nil {
		t.Fatal(err)
	}
	_, err = n.Put(ctx, "thing", "no spaces", nil)
	if !errors.Is(err, odgm.ErrInvalidID) || !errors.Is(err, object.ErrInvalidID) {
		t.Fatalf("invalid id: %v", err)
	}
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Invoke(ctx, "thing", "a", "m", nil); !errors.Is(err, odgm.ErrClosed) {
		t.Fatalf("after stop: %v", err)
	}
	if err := n.RegisterClass(ctx, runtime.Class{Name: "late"}); !errors.Is(err, odgm.ErrClosed) {
		t.Fatalf("register after stop: %v", err)
	}
}
