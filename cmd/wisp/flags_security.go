package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/wisp-stream/wisp/agent"
)

// securityFlags registers the Kafka security flags: listeners, TLS, SASL
// and the authorizer (see README "Security").
func securityFlags(fs *pflag.FlagSet, d agent.Config) {
	fs.StringSlice("listeners", d.Listeners, "Kafka listeners NAME://host:port, comma-separated, NAME a security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL) or mapped by --listener-security-protocol-map; replaces --kafka-addr")
	fs.StringSlice("advertise-listeners", d.AdvertiseListeners, "NAME://host:port clients of each listener are told to dial (default: the bound address, with the hostname for an unspecified host)")
	fs.StringSlice("listener-security-protocol-map", d.ListenerProtocolMap, "NAME:PROTOCOL pairs for listener names that are not protocols, e.g. INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL")
	fs.String("tls-cert", d.TLSCert, "PEM certificate chain of the SSL and SASL_SSL listeners (and of HTTPS); without --listeners it makes --kafka-addr SSL")
	fs.String("tls-key", d.TLSKey, "PEM private key of --tls-cert")
	fs.String("tls-ca", d.TLSCA, "PEM CA bundle verifying Kafka client certificates (mutual TLS)")
	fs.String("tls-client-auth", d.TLSClientAuth, "client certificates on TLS listeners: none, requested or required (default required once --tls-ca is set)")
	fs.Bool("http-tls", !d.DisableHTTPTLS, "serve HTTPS on --http-addr when a certificate is set (agent-to-agent /internal/ routes stay reachable over plain HTTP)")
	fs.String("http-tls-cert", d.HTTPTLSCert, "PEM certificate of the HTTP listener (default --tls-cert)")
	fs.String("http-tls-key", d.HTTPTLSKey, "PEM private key of --http-tls-cert")
	fs.StringSlice("sasl-mechanisms", d.SASLMechanisms, "SASL mechanisms of SASL listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; without --listeners it makes --kafka-addr SASL_PLAINTEXT (SASL_SSL with --tls-cert)")
	fs.String("sasl-users-file", d.SASLUsersFile, "file of user:password lines whose SCRAM credentials are created at start-up when missing")
	fs.Duration("sasl-session-lifetime", d.SASLSessionLifetime, "SASL sessions last this long; clients re-authenticate before (KIP-368), others are disconnected (0: forever)")
	fs.Bool("authorizer", d.Authorizer, "enforce Kafka ACLs (kafka-acls) on every request; without a matching ALLOW a request is refused")
	fs.StringSlice("super-users", d.SuperUsers, "principals allowed everything whatever the ACLs, e.g. User:admin,User:CN=ops")
}

// list reads a comma-separated list flag; from the environment viper gives
// one string, split here.
func list(v *viper.Viper, key string) []string {
	var out []string
	for _, e := range v.GetStringSlice(key) {
		for _, p := range strings.Split(e, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func loadSecurityConfig(v *viper.Viper, c *agent.Config) error {
	bad := func(flag string, e error) error { return &agent.FlagError{Flag: flag, Err: e} }
	c.Listeners = list(v, "listeners")
	c.AdvertiseListeners = list(v, "advertise-listeners")
	c.ListenerProtocolMap = list(v, "listener-security-protocol-map")
	c.TLSCert = v.GetString("tls-cert")
	c.TLSKey = v.GetString("tls-key")
	c.TLSCA = v.GetString("tls-ca")
	c.TLSClientAuth = strings.ToLower(v.GetString("tls-client-auth"))
	httpTLS, err := strconv.ParseBool(v.GetString("http-tls"))
	if err != nil {
		return bad("http-tls", err)
	}
	c.DisableHTTPTLS = !httpTLS
	c.HTTPTLSCert = v.GetString("http-tls-cert")
	c.HTTPTLSKey = v.GetString("http-tls-key")
	c.SASLMechanisms = list(v, "sasl-mechanisms")
	c.SASLUsersFile = v.GetString("sasl-users-file")
	if c.SASLSessionLifetime, err = time.ParseDuration(v.GetString("sasl-session-lifetime")); err != nil {
		return bad("sasl-session-lifetime", err)
	}
	if c.Authorizer, err = strconv.ParseBool(v.GetString("authorizer")); err != nil {
		return bad("authorizer", err)
	}
	c.SuperUsers = list(v, "super-users")
	return nil
}
