package agent

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/wisp-stream/wisp/kafka"
)

// TLS for clients: --tls-cert and --tls-key (PEM) serve the SSL and SASL_SSL
// Kafka listeners and, unless --http-tls=false or --http-tls-cert says
// otherwise, the HTTP listener. --tls-ca (PEM bundle) makes Kafka listeners
// verify client certificates against it; --tls-client-auth chooses how
// strictly (required by default once a CA is given).

// Client certificate policies of --tls-client-auth.
const (
	clientAuthNone      = "none"
	clientAuthRequested = "requested"
	clientAuthRequired  = "required"
)

// validateTLS checks the TLS flags without reading the files (Start does,
// and names the flag when one cannot be used).
func (c *Config) validateTLS() error {
	bad := func(flag, format string, args ...any) error {
		return &FlagError{Flag: flag, Err: fmt.Errorf(format, args...)}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return bad("tls-cert", "--tls-cert and --tls-key go together (PEM certificate chain and its private key)")
	}
	if (c.HTTPTLSCert == "") != (c.HTTPTLSKey == "") {
		return bad("http-tls-cert", "--http-tls-cert and --http-tls-key go together")
	}
	switch c.TLSClientAuth {
	case "", clientAuthNone, clientAuthRequested, clientAuthRequired:
	default:
		return bad("tls-client-auth", "%q is not none, requested or required", c.TLSClientAuth)
	}
	if c.TLSClientAuth != "" && c.TLSClientAuth != clientAuthNone && c.TLSCA == "" {
		return bad("tls-client-auth", "verifying client certificates needs --tls-ca, the CA bundle that signs them")
	}
	if c.TLSCA != "" && c.TLSCert == "" {
		return bad("tls-ca", "client certificates are verified on TLS listeners; set --tls-cert and --tls-key too")
	}
	return nil
}

// kafkaTLS builds the server TLS config of the Kafka listeners, or nil
// without --tls-cert.
func (c *Config) kafkaTLS() (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, &FlagError{Flag: "tls-cert", Err: fmt.Errorf("load certificate and key: %w", err)}
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.TLSCA != "" {
		pem, err := os.ReadFile(c.TLSCA)
		if err != nil {
			return nil, &FlagError{Flag: "tls-ca", Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &FlagError{Flag: "tls-ca", Err: fmt.Errorf("%s holds no PEM certificate", c.TLSCA)}
		}
		cfg.ClientCAs = pool
		switch strings.ToLower(c.TLSClientAuth) {
		case "", clientAuthRequired:
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		case clientAuthRequested:
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	return cfg, nil
}

// httpTLS builds the server TLS config of the HTTP listener: its own
// certificate, else the Kafka one; nil for plain HTTP.
func (c *Config) httpTLS() (*tls.Config, error) {
	if c.DisableHTTPTLS {
		return nil, nil
	}
	certFile, keyFile, flag := c.HTTPTLSCert, c.HTTPTLSKey, "http-tls-cert"
	if certFile == "" {
		certFile, keyFile, flag = c.TLSCert, c.TLSKey, "tls-cert"
	}
	if certFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, &FlagError{Flag: flag, Err: fmt.Errorf("load certificate and key: %w", err)}
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// validateSecurity checks the listener, TLS, SASL and authorizer flags.
func (c *Config) validateSecurity() error {
	bad := func(flag, format string, args ...any) error {
		return &FlagError{Flag: flag, Err: fmt.Errorf(format, args...)}
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	c.SASLMechanisms = slices.Clone(c.SASLMechanisms) // normalized below; the caller's slice stays as given
	for i, m := range c.SASLMechanisms {
		c.SASLMechanisms[i] = strings.ToUpper(strings.TrimSpace(m))
		if !kafka.ValidMechanism(c.SASLMechanisms[i]) {
			return bad("sasl-mechanisms", "%q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", m)
		}
	}
	if c.SASLSessionLifetime < 0 || (c.SASLSessionLifetime > 0 && c.SASLSessionLifetime < time.Second) {
		return bad("sasl-session-lifetime", "must be 0 (sessions never expire) or at least 1s, got %s", c.SASLSessionLifetime)
	}
	for _, u := range c.SuperUsers {
		if typ, name, ok := strings.Cut(u, ":"); !ok || typ == "" || name == "" {
			return bad("super-users", "%q is not a principal such as User:admin", u)
		}
	}
	if _, err := c.listenerSpecs(); err != nil {
		return err
	}
	return nil
}
