// Package tlsfiles builds mutual-TLS configurations from PEM files named in
// YAML configuration.
//
// A [Files] value names three files: the CA bundle that signs every node's
// and client's certificate, this node's certificate and its private key.
// Either all three are set (mutual TLS on) or none (plain TCP). Load a
// Files from YAML, call [Files.ResolvePaths] with the directory of the
// configuration file, then [Files.Validate] to report every problem at
// once, naming the YAML field at fault.
//
// [Files.ServerConfig] requires and verifies client certificates against the
// CA; [Files.ClientConfig] presents this node's certificate and verifies the
// server against the same CA. Both allow TLS 1.2 and newer; Go negotiates
// TLS 1.3 whenever the peer supports it. [Files.ServerCredentials] and
// [Files.ClientCredentials] wrap them for gRPC (protoactor remote takes them
// through remote.WithServerOptions(grpc.Creds(...)) and
// remote.WithDialOptions(grpc.WithTransportCredentials(...))). Dragonboat
// takes the three file names directly (NodeHostConfig.MutualTLS, CAFile,
// CertFile, KeyFile); for it, Validate is all that is needed.
//
// Files are read when a configuration is built, not on every handshake:
// rotating certificates means building new configurations. All functions
// are safe for concurrent use.
package tlsfiles
