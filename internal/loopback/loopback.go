// Package loopback hands out free 127.0.0.1 addresses for tests, examples
// and benchmarks that run several Raft nodes in one process. Dragonboat
// refuses port 0, so each node needs a concrete free port.
//
// The ports are free when returned, not reserved: another process may take
// one before the caller binds it. On a test machine that is rare, and the
// caller then fails to start with a clear error.
package loopback

import "net"

// Addrs returns n distinct free 127.0.0.1:port addresses. All n listeners
// are open at once while choosing, so the ports differ.
func Addrs(n int) ([]string, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	out := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// Addr returns one free 127.0.0.1:port address.
func Addr() (string, error) {
	a, err := Addrs(1)
	if err != nil {
		return "", err
	}
	return a[0], nil
}
