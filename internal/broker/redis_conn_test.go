package broker_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/progress-relay/progress-relay/internal/broker"
	"github.com/progress-relay/progress-relay/internal/redistest"
)

func TestRedisURLCarriesPasswordAndDatabase(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := broker.NewRedis(ctx, broker.RedisOptions{URL: "redis://:not-the-pass@" + srv.Addr()}, broker.Defaults())
	if err == nil || strings.Contains(err.Error(), "not-the-pass") {
		t.Fatalf("NewRedis with a wrong password = %v; want a refusal that does not show the password", err)
	}

	url := "redis://:s3cret@" + srv.Addr() + "/3"
	n := newNode(t, url, "relay:", broker.Defaults())
	sub := subscribe(t, n, "s1", 0)
	publishN(t, n.broker, "s1", "complete", 1)
	wantSeqs(t, collect(t, sub, 1), 1, 1)
	raw := rawClient(t, "redis://:s3cret@"+srv.Addr()+"/0")
	if k := raw.Exists(ctx, broker.SessionKeys(n.broker, "s1")[0]).Val(); k != 0 {
		t.Fatal("the session is in database 0, not 3")
	}
	raw3 := rawClient(t, url)
	if k := raw3.Exists(ctx, broker.SessionKeys(n.broker, "s1")[0]).Val(); k != 1 {
		t.Fatal("the session is not in database 3")
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key into dir.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "relay test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestRedisOverTLS(t *testing.T) {
	cert, key := selfSignedCert(t, t.TempDir())
	srv := redistest.Start(t, "--port", "0", "--tls-port", "{port}", "--tls-cert-file", cert,
		"--tls-key-file", key, "--tls-auth-clients", "no")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	_, err := broker.NewRedis(ctx, broker.RedisOptions{URL: "rediss://" + srv.Addr()}, broker.Defaults())
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("NewRedis with an untrusted certificate = %v, want a certificate error", err)
	}
	// The certificate is self-signed, so this test trusts it by skipping verification.
	n := newNode(t, "rediss://"+srv.Addr()+"?skip_verify=true", "relay:", broker.Defaults())
	sub := subscribe(t, n, "s1", 0)
	publishN(t, n.broker, "s1", "progress", 3)
	wantSeqs(t, collect(t, sub, 3), 1, 3)
}

func TestRedisThroughSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.Sentinel(t, master)
	url := "redis://" + sentinel.Addr() + "?master_name=mymaster"
	a := newNode(t, url, "relay:", broker.Defaults())
	b := newNode(t, url, "relay:", broker.Defaults())
	sub := subscribe(t, b, "s1", 0)
	publishN(t, a.broker, "s1", "progress", 3)
	wantSeqs(t, collect(t, sub, 3), 1, 3)
	raw := rawClient(t, master.URL())
	if n := raw.Exists(context.Background(), broker.SessionKeys(a.broker, "s1")[0]).Val(); n != 1 {
		t.Fatal("the session is not on the master the sentinel names")
	}
}

func TestRedisRefusesABracedPrefix(t *testing.T) {
	_, err := broker.NewRedis(context.Background(), broker.RedisOptions{URL: "redis://127.0.0.1:1", Prefix: "{relay}:"}, broker.Defaults())
	if err == nil {
		t.Fatal("a prefix with braces was accepted")
	}
}
