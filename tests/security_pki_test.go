package tests

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Helpers of the security tests: a throwaway PKI, agents with TLS and SASL,
// and clients (franz-go and the Java tools) that log in.

// testPKI is a CA with a server certificate for 127.0.0.1/localhost and a
// client certificate (CN=alice), as PEM files.
type testPKI struct {
	dir                   string
	caFile                string
	serverCert, serverKey string
	clientCert, clientKey string
	caPool                *x509.CertPool
	clientPair            tls.Certificate
	otherCAClient         tls.Certificate // signed by a CA the agent does not trust
	caCert                *x509.Certificate
	caKey                 *ecdsa.PrivateKey
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	dir := t.TempDir()
	p := &testPKI{dir: dir}
	var caDER []byte
	p.caCert, p.caKey, caDER = selfSignedCA(t, "wisp test CA")
	p.caFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(p.caCert)

	serverDER, serverKey := p.issue(t, p.caCert, p.caKey, pkix.Name{CommonName: "localhost"}, true)
	p.serverCert = writePEM(t, dir, "server.pem", "CERTIFICATE", serverDER)
	p.serverKey = writeKey(t, dir, "server-key.pem", serverKey)

	clientDER, clientKey := p.issue(t, p.caCert, p.caKey, pkix.Name{CommonName: "alice", Organization: []string{"wisp"}}, false)
	p.clientCert = writePEM(t, dir, "client.pem", "CERTIFICATE", clientDER)
	p.clientKey = writeKey(t, dir, "client-key.pem", clientKey)
	var err error
	if p.clientPair, err = tls.LoadX509KeyPair(p.clientCert, p.clientKey); err != nil {
		t.Fatal(err)
	}

	otherCA, otherKey, _ := selfSignedCA(t, "stranger CA")
	strangerDER, strangerKey := p.issue(t, otherCA, otherKey, pkix.Name{CommonName: "mallory"}, false)
	p.otherCAClient = tls.Certificate{Certificate: [][]byte{strangerDER}, PrivateKey: strangerKey}
	return p
}

func selfSignedCA(t testing.TB, name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, der
}

var serial = big.NewInt(100)

func (p *testPKI) issue(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, subject pkix.Name, server bool) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial.Add(serial, big.NewInt(1))
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).Set(serial), Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeKey(t testing.TB, dir, name string, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name, "PRIVATE KEY", der)
}

// clientTLS trusts the test CA, presenting cert when given.
func (p *testPKI) clientTLS(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.caPool, Certificates: certs, MinVersion: tls.VersionTLS12}
}

// withTLS gives an agent the PKI's server certificate.
func withTLS(p *testPKI) agentOption {
	return func(c *agentConfig) { c.TLSCert, c.TLSKey = p.serverCert, p.serverKey }
}

// withSASL turns SASL on with the given mechanisms and users file lines.
func withSASL(t testing.TB, mechanisms []string, users ...string) agentOption {
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte("# test users\n"+strings.Join(users, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(c *agentConfig) { c.SASLMechanisms, c.SASLUsersFile = mechanisms, path }
}

// mechanism builds franz-go's SASL mechanism by name.
func mechanism(name, user, pass string) sasl.Mechanism {
	switch name {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	}
	return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
}

// loginClient is a franz-go client of addr logging in as user (tlsCfg nil
// for SASL_PLAINTEXT), closed at test end.
func loginClient(t testing.TB, addr string, tlsCfg *tls.Config, mech, user, pass string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	o := []kgo.Opt{kgo.SeedBrokers(addr), kgo.SASL(mechanism(mech, user, pass)), kgo.RetryTimeout(10 * time.Second), kgo.AllowAutoTopicCreation()}
	if tlsCfg != nil {
		o = append(o, kgo.DialTLSConfig(tlsCfg))
	}
	cl, err := kgo.NewClient(append(o, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// javaClientProps writes a client properties file for the Java tools:
// SASL_SSL (or SASL_PLAINTEXT without a CA file) with a SCRAM or PLAIN login.
func javaClientProps(t testing.TB, caFile, mech, user, pass string) string {
	t.Helper()
	module := "org.apache.kafka.common.security.scram.ScramLoginModule"
	if mech == "PLAIN" {
		module = "org.apache.kafka.common.security.plain.PlainLoginModule"
	}
	props := []string{
		"sasl.mechanism=" + mech,
		fmt.Sprintf(`sasl.jaas.config=%s required username="%s" password="%s";`, module, user, pass),
	}
	if caFile != "" {
		props = append(props, "security.protocol=SASL_SSL", "ssl.truststore.type=PEM", "ssl.truststore.location="+caFile)
	} else {
		props = append(props, "security.protocol=SASL_PLAINTEXT")
	}
	path := filepath.Join(t.TempDir(), user+".properties")
	if err := os.WriteFile(path, []byte(strings.Join(props, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// produceOne produces one record and returns its error.
func produceOne(cl *kgo.Client, topic, value string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(value)}).FirstErr()
}

// tlsDial opens a TLS connection for raw Kafka framing.
func tlsDial(addr string, cfg *tls.Config) (*tls.Conn, error) {
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	return tc, nil
}
