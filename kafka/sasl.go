package kafka

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// SASL on a connection: SaslHandshake picks a mechanism, SaslAuthenticate
// (or, after a v0 handshake, raw tokens) carries the exchange. Until it
// succeeds a SASL listener answers nothing but ApiVersions and the SASL
// requests. With a session lifetime (KIP-368) the client must start a new
// exchange before the session ends; a request other than SaslHandshake or
// SaslAuthenticate after the end closes the connection.
//
// All of this state is touched only by the connection's reader goroutine:
// the SASL handlers do their work before returning.

const (
	saslHandshakeKey    = 17
	saslAuthenticateKey = 36
)

type saslStage uint8

const (
	saslIdle       saslStage = iota // no exchange in progress
	saslMechanism                   // handshake done, first token expected
	saslScramFinal                  // SCRAM server-first sent, client-final expected
)

type saslState struct {
	stage     saslStage
	mechanism string       // chosen by the last handshake
	raw       bool         // handshake v0: tokens come as bare frames
	scram     *scramServer // exchange in progress
	scramUser string

	authenticated bool
	user          string    // authenticated user name
	authMechanism string    // mechanism of the current session
	expires       time.Time // zero when the session does not expire
}

// errSASL closes a connection whose SASL exchange failed or that broke the
// protocol; the client sees the connection close.
var errSASL = errors.New("sasl")

// saslGate decides whether a request may be served on this connection now.
// A non-nil error closes the connection without an answer, as Kafka does.
func (c *clientConn) saslGate(key int16) error {
	if !UsesSASL(c.listener.Protocol) {
		return nil
	}
	st := &c.sasl
	switch {
	case key == saslHandshakeKey || key == saslAuthenticateKey:
		return nil // their handlers check the exchange's state
	case !st.authenticated:
		if key == apiVersionsKey {
			return nil
		}
		return fmt.Errorf("%w: %s before SASL authentication completed", errSASL, kmsg.NameForKey(key))
	case !st.expires.IsZero() && time.Now().After(st.expires):
		return fmt.Errorf("%w: SASL session of %s expired and was not re-authenticated before %s", errSASL, st.user, kmsg.NameForKey(key))
	}
	return nil
}

// saslMechanismEnabled reports whether this agent accepts m.
func (s *Server) saslMechanismEnabled(m string) bool {
	return slices.Contains(s.cfg.Security.SASLMechanisms, m)
}

// saslStep runs one token of the exchange begun by the handshake. It
// returns the bytes for the client and whether the exchange completed.
// Any error fails authentication.
func (c *clientConn) saslStep(token []byte) (out []byte, done bool, err error) {
	st := &c.sasl
	md := c.s.backend.Metadata()
	switch {
	case st.stage == saslMechanism && st.mechanism == MechanismPlain:
		user, password, err := plainCredentials(token)
		if err != nil {
			return nil, false, err
		}
		// Any SCRAM credential of the user holds the password.
		ok := false
		for _, m := range []int8{fsm.ScramSHA512, fsm.ScramSHA256} {
			if cred, found := md.ScramCredential(user, m); found {
				ok = ScramCheck(cred, password)
				break
			}
		}
		if !ok {
			return nil, false, errBadCredentials
		}
		return nil, true, c.saslSucceeded(user)

	case st.stage == saslMechanism: // SCRAM client-first
		user, srv, err := scramFirst(token)
		if err != nil {
			return nil, false, err
		}
		cred, ok := md.ScramCredential(user, scramMechanism(st.mechanism))
		if !ok {
			return nil, false, errBadCredentials
		}
		st.stage, st.scram, st.scramUser = saslScramFinal, srv, user
		return srv.challenge(cred), false, nil

	case st.stage == saslScramFinal:
		out, err := st.scram.final(token)
		if err != nil {
			return nil, false, err
		}
		return out, true, c.saslSucceeded(st.scramUser)
	}
	return nil, false, errors.New("no SASL exchange in progress")
}

// saslSucceeded starts (or renews) the session of user.
func (c *clientConn) saslSucceeded(user string) error {
	st := &c.sasl
	if st.authenticated && st.user != user {
		return fmt.Errorf("re-authentication as %q on a connection of %q", user, st.user)
	}
	st.stage, st.scram, st.scramUser, st.raw = saslIdle, nil, "", false
	st.authenticated, st.user, st.authMechanism = true, user, st.mechanism
	st.expires = time.Time{}
	if d := c.s.cfg.Security.SessionLifetime; d > 0 {
		st.expires = time.Now().Add(d)
	}
	c.principal = "User:" + user
	return nil
}

// saslFailed ends the exchange; the caller closes the connection.
func (c *clientConn) saslFailed(err error) {
	user := c.sasl.scramUser
	c.sasl.stage, c.sasl.scram, c.sasl.scramUser, c.sasl.raw = saslIdle, nil, "", false
	c.log.Info("SASL authentication failed", "mechanism", c.sasl.mechanism, "user", user, "client_id", c.clientID, "err", err)
}

// rawSASL answers a bare token frame that follows a v0 handshake: the reply
// is a bare frame too, and a failure just closes the connection.
func (c *clientConn) rawSASL(token []byte) (*inflight, error) {
	out, _, err := c.saslStep(token)
	if err != nil {
		c.saslFailed(err)
		return nil, fmt.Errorf("%w: authentication failed: %v", errSASL, err)
	}
	return &inflight{raw: out, isRaw: true}, nil
}
