package tlsfiles_test

import (
	"crypto/tls"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/odgm-go/odgm/internal/testcerts"
	"github.com/odgm-go/odgm/internal/tlsfiles"
)

func TestEnabledAndResolvePaths(t *testing.T) {
	if (tlsfiles.Files{}).Enabled() {
		t.Error("zero Files enabled")
	}
	if !(tlsfiles.Files{Key: "k"}).Enabled() {
		t.Error("Files with a key not enabled")
	}
	got := tlsfiles.Files{CA: "ca.pem", Cert: "/abs/node.pem"}.ResolvePaths("/etc/odgm")
	want := tlsfiles.Files{CA: "/etc/odgm/ca.pem", Cert: "/abs/node.pem"}
	if got != want {
		t.Errorf("ResolvePaths = %+v, want %+v", got, want)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	ca, err := testcerts.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ca.Issue("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ca.Issue("b")
	if err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	if err := (tlsfiles.Files{}).Validate(); err != nil {
		t.Errorf("disabled: %v", err)
	}
	if err := a.Validate(); err != nil {
		t.Errorf("valid: %v", err)
	}
	for _, tc := range []struct {
		name   string
		files  tlsfiles.Files
		want   error    // errors.Is target
		fields []string // named in the message
	}{
		{"cert only", tlsfiles.Files{Cert: a.Cert}, tlsfiles.ErrIncomplete, []string{"ca_file", "key_file"}},
		{"no key", tlsfiles.Files{CA: a.CA, Cert: a.Cert}, tlsfiles.ErrIncomplete, []string{"key_file"}},
		{"missing CA", tlsfiles.Files{CA: missing, Cert: a.Cert, Key: a.Key}, fs.ErrNotExist, []string{"ca_file"}},
		{"missing cert", tlsfiles.Files{CA: a.CA, Cert: missing, Key: a.Key}, fs.ErrNotExist, []string{"cert_file"}},
		{"garbage CA", tlsfiles.Files{CA: garbage, Cert: a.Cert, Key: a.Key}, tlsfiles.ErrNoCertificate, []string{"ca_file"}},
		{"garbage cert", tlsfiles.Files{CA: a.CA, Cert: garbage, Key: a.Key}, tlsfiles.ErrNoCertificate, []string{"cert_file"}},
		{"garbage key", tlsfiles.Files{CA: a.CA, Cert: a.Cert, Key: garbage}, tlsfiles.ErrNoKey, []string{"key_file"}},
		{"key as cert", tlsfiles.Files{CA: a.CA, Cert: a.Key, Key: a.Key}, tlsfiles.ErrNoCertificate, []string{"cert_file"}},
		{"mismatched key", tlsfiles.Files{CA: a.CA, Cert: a.Cert, Key: b.Key}, tlsfiles.ErrKeyMismatch, []string{"key_file", "cert_file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.files.Validate()
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate: %v, want %v", err, tc.want)
			}
			for _, f := range tc.fields {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("Validate: %q does not name %s", err, f)
				}
			}
			if _, err := tc.files.ServerConfig(); !errors.Is(err, tc.want) {
				t.Errorf("ServerConfig: %v, want %v", err, tc.want)
			}
			if _, err := tc.files.ClientCredentials(); !errors.Is(err, tc.want) {
				t.Errorf("ClientCredentials: %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("all problems reported", func(t *testing.T) {
		err := tlsfiles.Files{CA: missing, Cert: garbage}.Validate()
		for _, want := range []error{fs.ErrNotExist, tlsfiles.ErrNoCertificate, tlsfiles.ErrIncomplete} {
			if !errors.Is(err, want) {
				t.Errorf("Validate: %v, want it to include %v", err, want)
			}
		}
	})
	if _, err := (tlsfiles.Files{}).ClientConfig(); !errors.Is(err, tlsfiles.ErrDisabled) {
		t.Errorf("ClientConfig of zero Files: %v, want ErrDisabled", err)
	}
}

// TestHandshake checks the configurations with crypto/tls alone: a client
// with a certificate from the same CA connects, one without a certificate
// or with one from another CA does not.
func TestHandshake(t *testing.T) {
	ca, err := testcerts.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcerts.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	server, _ := ca.Issue("server")
	client, _ := ca.Issue("client")
	stranger, _ := other.Issue("stranger")
	// stranger trusts our CA but presents a certificate it did not sign.
	stranger.CA = ca.CAFile

	serverConf, err := server.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	clientConf, err := client.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	strangerConf, err := stranger.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	noCert := clientConf.Clone()
	noCert.Certificates = nil

	for _, tc := range []struct {
		name string
		conf *tls.Config
		ok   bool
	}{
		{"same CA", clientConf, true},
		{"no client certificate", noCert, false},
		{"certificate from another CA", strangerConf, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			srvErr := make(chan error, 1)
			go func() {
				s, err := ln.Accept()
				if err != nil {
					srvErr <- err
					return
				}
				defer s.Close()
				srv := tls.Server(s, serverConf)
				err = srv.Handshake()
				if err == nil {
					// With TLS 1.3 the server verifies the client's
					// certificate after the client's handshake returned;
					// a read surfaces the verdict on the client side.
					_, err = srv.Write([]byte{1})
				}
				srvErr <- err
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conf := tc.conf.Clone()
			conf.ServerName = "127.0.0.1"
			cli := tls.Client(c, conf)
			cliErr := cli.Handshake()
			err = <-srvErr
			if tc.ok {
				if cliErr != nil || err != nil {
					t.Fatalf("handshake: client %v, server %v", cliErr, err)
				}
				if v := cli.ConnectionState().Version; v != tls.VersionTLS13 {
					t.Errorf("version %x, want TLS 1.3", v)
				}
				return
			}
			if err == nil {
				t.Fatal("server accepted the client")
			}
			if cliErr == nil {
				if _, err := cli.Read(make([]byte, 1)); err == nil {
					t.Fatal("client reads from a server that rejected it")
				}
			}
		})
	}
}
