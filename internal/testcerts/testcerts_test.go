package testcerts_test

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"slices"
	"testing"

	"github.com/odgm-go/odgm/internal/testcerts"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWrite(t *testing.T) {
	nodes, err := testcerts.Write(t.TempDir(), "n1", "n2")
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes["n1"].CA != nodes["n2"].CA || nodes["n1"].Cert == nodes["n2"].Cert {
		t.Fatalf("Write = %+v", nodes)
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, nodes["n1"].CA))
	for name, f := range nodes {
		if err := f.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", name, err)
		}
		leaf := readCert(t, f.Cert)
		if leaf.Subject.CommonName != name {
			t.Errorf("%s: common name %q", name, leaf.Subject.CommonName)
		}
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("%s: verify for usage %v: %v", name, usage, err)
			}
		}
		for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
			if err := leaf.VerifyHostname(host); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if fi, err := os.Stat(f.Key); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: key file mode %v, %v; want 0600", name, fi.Mode(), err)
		}
	}
}

func TestHostsAndSeparateAuthorities(t *testing.T) {
	a, err := testcerts.New(t.TempDir(), "10.0.0.7", "node.test")
	if err != nil {
		t.Fatal(err)
	}
	b, err := testcerts.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fa, err := a.Issue("x")
	if err != nil {
		t.Fatal(err)
	}
	leaf := readCert(t, fa.Cert)
	if !slices.Equal(leaf.DNSNames, []string{"node.test"}) || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP("10.0.0.7")) {
		t.Errorf("SANs %v %v, want node.test and 10.0.0.7", leaf.DNSNames, leaf.IPAddresses)
	}
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(readCert(t, b.CAFile))
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: otherRoots}); err == nil {
		t.Error("certificate verifies against another authority")
	}
}
