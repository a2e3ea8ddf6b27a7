package kafka

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// AlterUserScramCredentials v0: the client sends the salted password, the
// salt and the iteration count; the agent derives and replicates the SCRAM
// keys (never the salted password). One result per user: a user with any
// invalid change gets none of them. Needs ALTER on the cluster.
func init() {
	register(api{key: 51, min: 0, max: 0, handle: immediate(handleAlterUserSCRAMCredentials)})
}

func handleAlterUserSCRAMCredentials(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)

	type change struct {
		del    []fsm.ScramKey
		upsert []fsm.ScramCredential
		code   int16
		msg    string
	}
	var order []string
	users := map[string]*change{}
	pairs := map[fsm.ScramKey]int{}
	get := func(name string, mech int8) *change {
		ch, ok := users[name]
		if !ok {
			ch = &change{}
			users[name] = ch
			order = append(order, name)
		}
		pairs[fsm.ScramKey{User: name, Mechanism: mech}]++
		return ch
	}
	fail := func(ch *change, code int16, format string, args ...any) {
		if ch.code == 0 {
			ch.code, ch.msg = code, fmt.Sprintf(format, args...)
		}
	}
	check := func(ch *change, name string, mech int8) bool {
		switch {
		case name == "":
			fail(ch, kerr.UnacceptableCredential.Code, "username must not be empty")
		case scramHash(mech) == nil:
			fail(ch, kerr.UnsupportedSaslMechanism.Code, "unknown SCRAM mechanism %d (1 is SCRAM-SHA-256, 2 is SCRAM-SHA-512)", mech)
		default:
			return true
		}
		return false
	}
	for _, d := range req.Deletions {
		ch := get(d.Name, d.Mechanism)
		if check(ch, d.Name, d.Mechanism) {
			ch.del = append(ch.del, fsm.ScramKey{User: d.Name, Mechanism: d.Mechanism})
		}
	}
	for _, u := range req.Upsertions {
		ch := get(u.Name, u.Mechanism)
		if !check(ch, u.Name, u.Mechanism) {
			continue
		}
		switch {
		case u.Iterations < ScramMinIterations:
			fail(ch, kerr.UnacceptableCredential.Code, "too few iterations: %d, at least %d", u.Iterations, ScramMinIterations)
		case u.Iterations > ScramMaxIterations:
			fail(ch, kerr.UnacceptableCredential.Code, "too many iterations: %d, at most %d", u.Iterations, ScramMaxIterations)
		case len(u.Salt) == 0:
			fail(ch, kerr.UnacceptableCredential.Code, "salt must not be empty")
		case len(u.SaltedPassword) != scramHash(u.Mechanism)().Size():
			fail(ch, kerr.UnacceptableCredential.Code, "salted password of %d bytes does not fit %s", len(u.SaltedPassword), fsm.ScramMechanismName(u.Mechanism))
		default:
			ch.upsert = append(ch.upsert, ScramFromSalted(u.Name, u.Mechanism, u.Salt, u.SaltedPassword, u.Iterations))
		}
	}
	for k, n := range pairs {
		if n > 1 {
			fail(users[k.User], kerr.DuplicateResource.Code, "a user credential cannot be altered twice in the same request")
		}
	}
	if !c.authorized(opAlter, resCluster, "") {
		for _, ch := range users {
			ch.code, ch.msg = kerr.ClusterAuthorizationFailed.Code, "altering SCRAM credentials needs ALTER on the cluster"
		}
	}

	var del fsm.DeleteScram
	var up fsm.UpsertScram
	var delOwner, upOwner []*change
	for _, name := range order {
		ch := users[name]
		if ch.code != 0 {
			continue
		}
		for _, k := range ch.del {
			del.Keys = append(del.Keys, k)
			delOwner = append(delOwner, ch)
		}
		for _, cr := range ch.upsert {
			up.Credentials = append(up.Credentials, cr)
			upOwner = append(upOwner, ch)
		}
	}
	apply := func(cmd fsm.Command, owners []*change) {
		res, err := c.s.backend.Apply(c.ctx, cmd)
		sr, ok := res.(fsm.ScramResult)
		if err == nil && !ok {
			err = fmt.Errorf("unexpected fsm response %T", res)
		}
		for i, ch := range owners {
			switch {
			case err != nil:
				fail(ch, kerr.RequestTimedOut.Code, "could not commit the change: %v", err)
			case sr.ErrorCodes[i] == kerr.ResourceNotFound.Code:
				fail(ch, sr.ErrorCodes[i], "attempt to delete a user credential that does not exist")
			case sr.ErrorCodes[i] != 0:
				fail(ch, sr.ErrorCodes[i], "the credential was refused")
			}
		}
	}
	if len(del.Keys) > 0 {
		apply(del, delOwner)
	}
	if len(up.Credentials) > 0 {
		apply(up, upOwner)
	}
	for _, name := range order {
		ch := users[name]
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User, r.ErrorCode = name, ch.code
		if ch.code != 0 {
			r.ErrorMessage = kmsg.StringPtr(ch.msg)
		}
		resp.Results = append(resp.Results, r)
	}
	return resp
}
