package kafka

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"
)

// Security protocols of a Kafka listener, as Kafka names them.
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

// SASL mechanisms Wisp serves.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// AnonymousPrincipal is the principal of a connection that has not proven
// who it is: any connection on a PLAINTEXT listener, or on an SSL listener
// without a client certificate.
const AnonymousPrincipal = "User:ANONYMOUS"

// SecurityConfig holds the agent-wide authentication and authorization
// settings; what a listener demands is its ListenerConfig.
type SecurityConfig struct {
	// SASLMechanisms lists the mechanisms SASL listeners accept, in the
	// order SaslHandshake advertises them.
	SASLMechanisms []string
	// SessionLifetime bounds a SASL session (KIP-368): it is returned in
	// SaslAuthenticate v1+, and a connection whose session expired is
	// closed on its next request unless it re-authenticates. 0 means
	// sessions never expire.
	SessionLifetime time.Duration
	// Authorizer enforces ACLs on every request.
	Authorizer bool
	// SuperUsers are principals (User:name) allowed everything.
	SuperUsers []string
	// AllowEveryoneIfNoACL lets a request through when no ACL names its
	// resource (Kafka's allow.everyone.if.no.acl.found); off by default.
	AllowEveryoneIfNoACL bool
}

// ListenerConfig is what one Kafka listener demands of its connections and
// where clients that bootstrapped through it are sent.
type ListenerConfig struct {
	// Name is the listener name (by default its protocol). Metadata on this
	// listener advertises every agent's address on the listener of the same
	// name.
	Name string
	// Protocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
	Protocol string
	// TLS is required for SSL and SASL_SSL listeners; its ClientAuth decides
	// whether clients must present certificates.
	TLS *tls.Config
	// AdvertisedHost and AdvertisedPort are this agent's address on the
	// listener, used until gossip lists the agent itself.
	AdvertisedHost string
	AdvertisedPort int32
}

// UsesTLS reports whether the protocol wraps connections in TLS.
func UsesTLS(protocol string) bool {
	return protocol == ProtocolSSL || protocol == ProtocolSASLSSL
}

// UsesSASL reports whether the protocol requires SASL authentication.
func UsesSASL(protocol string) bool {
	return protocol == ProtocolSASLPlaintext || protocol == ProtocolSASLSSL
}

// ValidProtocol reports whether p names a security protocol.
func ValidProtocol(p string) bool {
	switch p {
	case ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL:
		return true
	}
	return false
}

// ValidMechanism reports whether m is a SASL mechanism Wisp serves.
func ValidMechanism(m string) bool {
	switch m {
	case MechanismPlain, MechanismScramSHA256, MechanismScramSHA512:
		return true
	}
	return false
}

// WrapListener gives ln the security of l: every accepted connection carries
// the listener's config to the Kafka server, and on SSL listeners is a TLS
// server connection (the handshake runs on the connection's own goroutine,
// at its first read, so a slow client never stalls Accept).
func WrapListener(ln net.Listener, l ListenerConfig) (net.Listener, error) {
	if !ValidProtocol(l.Protocol) {
		return nil, fmt.Errorf("listener %s: unknown security protocol %q (use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", l.Name, l.Protocol)
	}
	if UsesTLS(l.Protocol) && l.TLS == nil {
		return nil, fmt.Errorf("listener %s: %s needs a TLS certificate and key (--tls-cert, --tls-key)", l.Name, l.Protocol)
	}
	if l.Name == "" {
		l.Name = l.Protocol
	}
	return &secureListener{Listener: ln, cfg: l}, nil
}

type secureListener struct {
	net.Listener
	cfg ListenerConfig
}

func (l *secureListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &listenerConn{Conn: nc, listener: &l.cfg}
	if UsesTLS(l.cfg.Protocol) {
		lc.tls = tls.Server(nc, l.cfg.TLS)
		lc.Conn = lc.tls
	}
	return lc, nil
}

// listenerConn is an accepted connection that remembers its listener.
type listenerConn struct {
	net.Conn
	listener *ListenerConfig
	tls      *tls.Conn // nil on plaintext listeners
}

// plaintextListener is the implicit listener of connections served from a
// bare net.Listener (tests, embedders): no TLS, no SASL.
var plaintextListener = &ListenerConfig{Name: ProtocolPlaintext, Protocol: ProtocolPlaintext}

// listenerOf finds the listener of an accepted connection, looking through
// wrappers that expose Unwrap (the server's connection limits).
func listenerOf(nc net.Conn) (*ListenerConfig, *tls.Conn) {
	for nc != nil {
		if lc, ok := nc.(*listenerConn); ok {
			return lc.listener, lc.tls
		}
		u, ok := nc.(interface{ Unwrap() net.Conn })
		if !ok {
			break
		}
		nc = u.Unwrap()
	}
	return plaintextListener, nil
}

// tlsPrincipal is the principal of a verified client certificate: User: and
// the subject's distinguished name, as Kafka's default SSL principal
// builder gives it (e.g. User:CN=alice,O=example).
func tlsPrincipal(tc *tls.Conn) string {
	st := tc.ConnectionState()
	if len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return AnonymousPrincipal
	}
	return "User:" + st.PeerCertificates[0].Subject.String()
}

// principalName strips the User: type for logs and SCRAM lookups.
func principalName(p string) string {
	_, name, _ := strings.Cut(p, ":")
	return name
}
