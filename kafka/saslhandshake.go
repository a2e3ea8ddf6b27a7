package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslHandshake v0-v1. v1 is followed by SaslAuthenticate requests; v0 by
// bare SASL tokens (see sasl.go). On an authenticated connection whose
// session expires, a handshake for the same mechanism starts
// re-authentication (KIP-368). Any refusal closes the connection after the
// answer, as Kafka does.
func init() {
	register(api{key: saslHandshakeKey, min: 0, max: 1, handle: handleSASLHandshake})
}

func handleSASLHandshake(c *clientConn, kreq kmsg.Request, in *inflight) respond {
	req := kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = c.s.cfg.Security.SASLMechanisms
	st := &c.sasl
	refuse := func(code int16, why string) {
		resp.ErrorCode = code
		in.closeAfter = true
		c.log.Info("SASL handshake refused", "listener", c.listener.Name, "mechanism", req.Mechanism, "client_id", c.clientID, "reason", why)
	}
	switch {
	case !UsesSASL(c.listener.Protocol):
		refuse(kerr.IllegalSaslState.Code, "listener "+c.listener.Name+" does not use SASL")
	case st.stage != saslIdle:
		refuse(kerr.IllegalSaslState.Code, "a SASL exchange is already in progress")
	case st.authenticated && st.expires.IsZero():
		refuse(kerr.IllegalSaslState.Code, "already authenticated, and sessions do not expire")
	case !c.s.saslMechanismEnabled(req.Mechanism):
		refuse(kerr.UnsupportedSaslMechanism.Code, "mechanism not enabled (--sasl-mechanisms)")
	case st.authenticated && req.Mechanism != st.authMechanism:
		refuse(kerr.IllegalSaslState.Code, "re-authentication must keep the mechanism "+st.authMechanism)
	default:
		st.stage, st.mechanism, st.raw = saslMechanism, req.Mechanism, req.Version == 0
	}
	return func() kmsg.Response { return resp }
}
