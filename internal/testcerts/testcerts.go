package testcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/odgm-go/odgm/internal/tlsfiles"
)

// DefaultHosts are the names and addresses leaf certificates are valid for
// when New is given none.
var DefaultHosts = []string{"127.0.0.1", "::1", "localhost"}

// Authority is a test certificate authority whose certificate is written to
// CAFile.
type Authority struct {
	// CAFile is the PEM file of the CA certificate.
	CAFile string

	dir   string
	hosts []string
	cert  *x509.Certificate
	key   *ecdsa.PrivateKey

	mu sync.Mutex // serialises Issue's file writes
}

// New creates a CA, writes its certificate to dir/ca.pem and returns it.
// Leaf certificates it issues are valid for hosts (IP addresses or DNS
// names), or DefaultHosts when none are given.
func New(dir string, hosts ...string) (*Authority, error) {
	if len(hosts) == 0 {
		hosts = DefaultHosts
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testcerts: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "odgm test CA " + serial.Text(16)[:8]},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("testcerts: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testcerts: %w", err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := writePEM(caFile, "CERTIFICATE", der, 0o644); err != nil {
		return nil, err
	}
	return &Authority{CAFile: caFile, dir: dir, hosts: append([]string(nil), hosts...), cert: cert, key: key}, nil
}

// Issue creates a key and a certificate for name, signed by a, writes them
// to dir/name.pem and dir/name-key.pem and returns the three file names.
// name is used in file names and as the certificate's common name.
func (a *Authority) Issue(name string) (tlsfiles.Files, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tlsfiles.Files{}, fmt.Errorf("testcerts: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return tlsfiles.Files{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range a.hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return tlsfiles.Files{}, fmt.Errorf("testcerts: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tlsfiles.Files{}, fmt.Errorf("testcerts: %w", err)
	}
	f := tlsfiles.Files{
		CA:   a.CAFile,
		Cert: filepath.Join(a.dir, name+".pem"),
		Key:  filepath.Join(a.dir, name+"-key.pem"),
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := writePEM(f.Cert, "CERTIFICATE", der, 0o644); err != nil {
		return tlsfiles.Files{}, err
	}
	if err := writePEM(f.Key, "PRIVATE KEY", keyDER, 0o600); err != nil {
		return tlsfiles.Files{}, err
	}
	return f, nil
}

// Write creates a CA in dir and issues one identity per name, for tests
// that need a fixed set of nodes.
func Write(dir string, names ...string) (map[string]tlsfiles.Files, error) {
	a, err := New(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]tlsfiles.Files, len(names))
	for _, n := range names {
		f, err := a.Issue(n)
		if err != nil {
			return nil, err
		}
		out[n] = f
	}
	return out, nil
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("testcerts: %w", err)
	}
	return s.Add(s, big.NewInt(1<<32)), nil // positive, and wide enough for Text(16)[:8]
}

func writePEM(path, typ string, der []byte, perm os.FileMode) error {
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, b, perm); err != nil {
		return fmt.Errorf("testcerts: %w", err)
	}
	return nil
}
