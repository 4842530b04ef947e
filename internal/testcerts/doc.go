// Package testcerts writes throw-away mutual-TLS material for tests: an
// ECDSA P-256 certificate authority and leaf certificates it signs, as PEM
// files in a directory (normally t.TempDir()).
//
// Leaf certificates carry both the server-auth and client-auth extended key
// usages, so one identity serves a node both when it listens and when it
// dials, as protoactor remote and dragonboat need. By default they are valid
// for 127.0.0.1, ::1 and localhost.
//
//	ca, err := testcerts.New(t.TempDir())
//	node1, err := ca.Issue("node1") // tlsfiles.Files{CA, Cert, Key}
//
// An Authority is safe for concurrent use. This package is for tests only.
package testcerts
