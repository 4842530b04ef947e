package grpcsettle

import (
	"io"
	"net"
	"time"
)

// Settle works around protoactor's remote.Start writing gRPC's global
// logger without synchronisation: a later Start in the process races (as
// the race detector sees it) with every log line gRPC wrote before, such
// as the one the new server's goroutine writes when it starts serving. It
// opens an HTTP/2 connection to the server just started, sends the client
// preface and SETTINGS and reads until the server acknowledges them:
// what the server did up to that write is then ordered before what
// follows. The connection stays open, so that the server logs nothing
// about it until it is stopped (which closes it synchronously); close it
// after stopping the server. nil if the server could not be reached.
func Settle(addr string) net.Conn {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil
	}
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	hello := append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0) // preface, empty SETTINGS
	if _, err := conn.Write(hello); err != nil {
		conn.Close()
		return nil
	}
	var h [9]byte
	for {
		if _, err := io.ReadFull(conn, h[:]); err != nil {
			conn.Close()
			return nil
		}
		n := int64(h[0])<<16 | int64(h[1])<<8 | int64(h[2])
		if _, err := io.CopyN(io.Discard, conn, n); err != nil {
			conn.Close()
			return nil
		}
		if h[3] == 4 && h[4]&1 == 1 { // SETTINGS with ACK
			break
		}
	}
	_ = conn.SetDeadline(time.Time{})
	return conn
}
