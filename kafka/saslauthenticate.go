package kafka

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslAuthenticate v0-v2. v1+ carries the session lifetime (KIP-368). A
// failed exchange is answered SASL_AUTHENTICATION_FAILED and the connection
// closed.
func init() {
	register(api{key: saslAuthenticateKey, min: 0, max: 2, handle: handleSASLAuthenticate})
}

func handleSASLAuthenticate(c *clientConn, kreq kmsg.Request, in *inflight) respond {
	req := kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	answer := func() kmsg.Response { return resp }
	if !UsesSASL(c.listener.Protocol) || c.sasl.stage == saslIdle || c.sasl.raw {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate without a SaslHandshake v1 before it")
		in.closeAfter = true
		return answer
	}
	mechanism := c.sasl.mechanism
	out, done, err := c.saslStep(req.SASLAuthBytes)
	if err != nil {
		c.saslFailed(err)
		msg := "Authentication failed: " + err.Error()
		if errors.Is(err, errBadCredentials) {
			msg = "Authentication failed during authentication due to invalid credentials with SASL mechanism " + mechanism
		}
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = &msg
		in.closeAfter = true
		return answer
	}
	resp.SASLAuthBytes = out
	if done {
		if d := c.s.cfg.Security.SessionLifetime; d > 0 {
			resp.SessionLifetimeMillis = d.Milliseconds()
		}
		c.log.Debug("SASL authenticated", "principal", c.principal, "mechanism", mechanism, "client_id", c.clientID)
	}
	return answer
}
