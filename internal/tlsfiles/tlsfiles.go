package tlsfiles

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/grpc/credentials"
)

var (
	// ErrIncomplete is returned by Validate and the config builders when
	// some but not all of ca_file, cert_file and key_file are set.
	ErrIncomplete = errors.New("tlsfiles: ca_file, cert_file and key_file must be set together")
	// ErrDisabled is returned by the config builders when no file is set.
	ErrDisabled = errors.New("tlsfiles: TLS is not configured")
	// ErrNoCertificate is returned when a file holds no PEM certificate.
	ErrNoCertificate = errors.New("tlsfiles: no PEM certificate found")
	// ErrNoKey is returned when key_file holds no usable PEM private key.
	ErrNoKey = errors.New("tlsfiles: no PEM private key found")
	// ErrKeyMismatch is returned when key_file is not the private key of
	// the certificate in cert_file.
	ErrKeyMismatch = errors.New("tlsfiles: private key does not match certificate")
)

// Files names the PEM files of one node's mutual-TLS identity. The zero
// value means TLS is off.
type Files struct {
	// CA is the PEM CA bundle that signs every node's (and client's)
	// certificate; peers are verified against it.
	CA string `yaml:"ca_file"`
	// Cert is the PEM certificate (chain) of this node, leaf first.
	Cert string `yaml:"cert_file"`
	// Key is the PEM private key of Cert (PKCS#8, PKCS#1 or SEC 1).
	Key string `yaml:"key_file"`
}

// Enabled reports whether any file is set. Validate then requires all three.
func (f Files) Enabled() bool { return f.CA != "" || f.Cert != "" || f.Key != "" }

// ResolvePaths returns f with each relative path joined to base, typically
// the directory of the configuration file. Empty and absolute paths are kept.
func (f Files) ResolvePaths(base string) Files {
	resolve := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	return Files{CA: resolve(f.CA), Cert: resolve(f.Cert), Key: resolve(f.Key)}
}

// Validate checks that all three files are set or none, that they can be
// read and parsed, and that the key belongs to the certificate. It reports
// every problem found, joined; each names its YAML field. A disabled Files
// is valid.
func (f Files) Validate() error {
	if !f.Enabled() {
		return nil
	}
	_, _, err := f.load()
	return err
}

// ServerConfig returns a TLS configuration for a server that presents this
// node's certificate and requires client certificates signed by the CA.
func (f Files) ServerConfig() (*tls.Config, error) {
	if !f.Enabled() {
		return nil, ErrDisabled
	}
	pool, pair, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}, nil
}

// ClientConfig returns a TLS configuration for a client that presents this
// node's certificate and verifies the server against the CA. The server
// name is left empty: gRPC fills it from the dialled address, so a node
// dialled as 127.0.0.1:port must hold an IP SAN of 127.0.0.1.
func (f Files) ClientConfig() (*tls.Config, error) {
	if !f.Enabled() {
		return nil, ErrDisabled
	}
	pool, pair, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
	}, nil
}

// ServerCredentials returns ServerConfig as gRPC transport credentials, for
// grpc.Creds.
func (f Files) ServerCredentials() (credentials.TransportCredentials, error) {
	c, err := f.ServerConfig()
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(c), nil
}

// ClientCredentials returns ClientConfig as gRPC transport credentials, for
// grpc.WithTransportCredentials.
func (f Files) ClientCredentials() (credentials.TransportCredentials, error) {
	c, err := f.ClientConfig()
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(c), nil
}

// load reads and checks all three files, reporting every problem.
func (f Files) load() (*x509.CertPool, tls.Certificate, error) {
	var errs []error
	missing := func(field, value string) {
		if value == "" {
			errs = append(errs, fmt.Errorf("%s: not set: %w", field, ErrIncomplete))
		}
	}
	missing("ca_file", f.CA)
	missing("cert_file", f.Cert)
	missing("key_file", f.Key)

	var pool *x509.CertPool
	if f.CA != "" {
		var err error
		if pool, err = readCAs(f.CA); err != nil {
			errs = append(errs, fmt.Errorf("ca_file %q: %w", f.CA, err))
		}
	}
	var certPEM, keyPEM []byte
	var leaf *x509.Certificate
	if f.Cert != "" {
		var err error
		if certPEM, leaf, err = readCert(f.Cert); err != nil {
			errs = append(errs, fmt.Errorf("cert_file %q: %w", f.Cert, err))
		}
	}
	var key crypto.PrivateKey
	if f.Key != "" {
		var err error
		if keyPEM, key, err = readKey(f.Key); err != nil {
			errs = append(errs, fmt.Errorf("key_file %q: %w", f.Key, err))
		}
	}
	if leaf != nil && key != nil && !keyMatches(leaf, key) {
		errs = append(errs, fmt.Errorf("key_file %q and cert_file %q: %w", f.Key, f.Cert, ErrKeyMismatch))
	}
	if len(errs) > 0 {
		return nil, tls.Certificate{}, errors.Join(errs...)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil { // not expected after the checks above
		return nil, tls.Certificate{}, fmt.Errorf("tlsfiles: cert_file %q, key_file %q: %w", f.Cert, f.Key, err)
	}
	return pool, pair, nil
}

func readCAs(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, ErrNoCertificate
	}
	return pool, nil
}

// readCert returns the file's bytes and its first (leaf) certificate,
// checking that every certificate in it parses.
func readCert(path string) ([]byte, *x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var leaf *x509.Certificate
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, err
		}
		if leaf == nil {
			leaf = c
		}
	}
	if leaf == nil {
		return nil, nil, ErrNoCertificate
	}
	return b, leaf, nil
}

func readKey(path string) ([]byte, crypto.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, nil, ErrNoKey
		}
		var key crypto.PrivateKey
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrNoKey, err)
		}
		return b, key, nil
	}
}

func keyMatches(leaf *x509.Certificate, key crypto.PrivateKey) bool {
	type publicKeyer interface{ Public() crypto.PublicKey }
	k, ok := key.(publicKeyer)
	if !ok {
		return false
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch pub := leaf.PublicKey.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
		return pub.(equaler).Equal(k.Public())
	default:
		return false
	}
}
