package kafka

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/wisp-stream/wisp/fsm"
)

// SCRAM (RFC 5802, RFC 7677) as Kafka uses it: the server keeps StoredKey and
// ServerKey, never the password; the client proves it knows the password
// without sending it.

// Iteration bounds Kafka accepts for a SCRAM credential.
const (
	ScramMinIterations = 4096
	ScramMaxIterations = 16384
)

// errBadCredentials is every SASL failure caused by a wrong user or
// password; the client is told no more than that.
var errBadCredentials = errors.New("invalid username or password")

func scramHash(mechanism int8) func() hash.Hash {
	switch mechanism {
	case fsm.ScramSHA256:
		return sha256.New
	case fsm.ScramSHA512:
		return sha512.New
	}
	return nil
}

// scramMechanism maps a SASL mechanism name to its credential type (0 when
// the name is not SCRAM).
func scramMechanism(name string) int8 {
	switch name {
	case MechanismScramSHA256:
		return fsm.ScramSHA256
	case MechanismScramSHA512:
		return fsm.ScramSHA512
	}
	return 0
}

func hmacSum(h func() hash.Hash, key []byte, parts ...[]byte) []byte {
	m := hmac.New(h, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// ScramFromSalted derives the stored credential from a salted password, the
// form AlterUserScramCredentials carries.
func ScramFromSalted(user string, mechanism int8, salt, salted []byte, iterations int32) fsm.ScramCredential {
	h := scramHash(mechanism)
	clientKey := hmacSum(h, salted, []byte("Client Key"))
	d := h()
	d.Write(clientKey)
	return fsm.ScramCredential{
		User: user, Mechanism: mechanism, Iterations: iterations,
		Salt:      append([]byte(nil), salt...),
		StoredKey: d.Sum(nil),
		ServerKey: hmacSum(h, salted, []byte("Server Key")),
	}
}

// ScramFromPassword derives a credential for password with a fresh random
// salt.
func ScramFromPassword(user, password string, mechanism int8, iterations int) (fsm.ScramCredential, error) {
	h := scramHash(mechanism)
	if h == nil {
		return fsm.ScramCredential{}, fmt.Errorf("unknown SCRAM mechanism %d", mechanism)
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return fsm.ScramCredential{}, err
	}
	salted, err := pbkdf2.Key(h, password, salt, iterations, h().Size())
	if err != nil {
		return fsm.ScramCredential{}, err
	}
	return ScramFromSalted(user, mechanism, salt, salted, int32(iterations)), nil
}

// ScramCheck reports whether password is the one cred was derived
// from: PLAIN logins are checked against the SCRAM credential, so no other
// form of the password is ever stored.
func ScramCheck(cred fsm.ScramCredential, password string) bool {
	h := scramHash(cred.Mechanism)
	if h == nil || cred.Iterations < 1 || cred.Iterations > ScramMaxIterations {
		return false
	}
	salted, err := pbkdf2.Key(h, password, cred.Salt, int(cred.Iterations), h().Size())
	if err != nil {
		return false
	}
	got := ScramFromSalted(cred.User, cred.Mechanism, cred.Salt, salted, cred.Iterations)
	return subtle.ConstantTimeCompare(got.StoredKey, cred.StoredKey) == 1
}

// scramServer is one SCRAM exchange on the server side.
type scramServer struct {
	cred        fsm.ScramCredential
	gs2Header   string // "n,," or "n,a=user,": the client's channel binding input
	clientBare  string // client-first-message-bare
	serverFirst string
	nonce       string // client nonce + server nonce
}

var scramUnescape = strings.NewReplacer("=2C", ",", "=3D", "=")

// scramFirst parses a client-first-message and returns the user it names
// and the exchange to continue with that user's credential.
func scramFirst(msg []byte) (user string, s *scramServer, err error) {
	m := string(msg)
	// gs2-header: cbind-flag "," [ "a=" authzid ] ","
	cb, rest, ok := strings.Cut(m, ",")
	if !ok {
		return "", nil, errors.New("malformed client-first-message")
	}
	if cb != "n" && cb != "y" {
		return "", nil, errors.New("channel binding is not supported")
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return "", nil, errors.New("malformed client-first-message")
	}
	if authz != "" && !strings.HasPrefix(authz, "a=") {
		return "", nil, errors.New("malformed authorization id")
	}
	s = &scramServer{gs2Header: cb + "," + authz + ",", clientBare: bare}
	var nonce string
	for i, attr := range strings.Split(bare, ",") {
		k, v, _ := strings.Cut(attr, "=")
		switch {
		case i == 0 && k == "m":
			return "", nil, errors.New("mandatory extensions are not supported")
		case i == 0 && k == "n":
			user = scramUnescape.Replace(v)
		case i == 1 && k == "r":
			nonce = v
		case i == 0 || i == 1:
			return "", nil, errors.New("malformed client-first-message")
		case k == "tokenauth":
			return "", nil, errors.New("delegation tokens are not supported")
		}
	}
	if user == "" || nonce == "" || strings.ContainsAny(nonce, ",") {
		return "", nil, errors.New("client-first-message lacks a user or nonce")
	}
	if authz != "" && scramUnescape.Replace(authz[2:]) != user {
		return "", nil, errors.New("authorization id differs from the user name")
	}
	var serverNonce [24]byte
	if _, err := rand.Read(serverNonce[:]); err != nil {
		return "", nil, err
	}
	s.nonce = nonce + base64.RawStdEncoding.EncodeToString(serverNonce[:])
	return user, s, nil
}

// challenge returns the server-first-message for the user's credential.
func (s *scramServer) challenge(cred fsm.ScramCredential) []byte {
	s.cred = cred
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + ",i=" + strconv.Itoa(int(cred.Iterations))
	return []byte(s.serverFirst)
}

// final checks a client-final-message and returns the server-final-message.
func (s *scramServer) final(msg []byte) ([]byte, error) {
	m := string(msg)
	withoutProof, proof64, ok := strings.Cut(m, ",p=")
	if !ok || strings.Contains(proof64, ",") {
		return nil, errors.New("malformed client-final-message")
	}
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || attrs[0] != "c="+base64.StdEncoding.EncodeToString([]byte(s.gs2Header)) {
		return nil, errors.New("channel binding does not match the client-first-message")
	}
	if attrs[1] != "r="+s.nonce {
		return nil, errors.New("nonce does not match the server-first-message")
	}
	proof, err := base64.StdEncoding.DecodeString(proof64)
	h := scramHash(s.cred.Mechanism)
	if err != nil || len(proof) != h().Size() {
		return nil, errors.New("malformed client proof")
	}
	authMessage := []byte(s.clientBare + "," + s.serverFirst + "," + withoutProof)
	clientSig := hmacSum(h, s.cred.StoredKey, authMessage)
	for i := range proof {
		proof[i] ^= clientSig[i] // proof becomes the client key
	}
	d := h()
	d.Write(proof)
	if subtle.ConstantTimeCompare(d.Sum(nil), s.cred.StoredKey) != 1 {
		return nil, errBadCredentials
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(hmacSum(h, s.cred.ServerKey, authMessage))), nil
}

// plainCredentials parses a SASL PLAIN message: authzid NUL user NUL password.
func plainCredentials(msg []byte) (user, password string, err error) {
	parts := strings.SplitN(string(msg), "\x00", 3)
	if len(parts) != 3 || parts[1] == "" {
		return "", "", errors.New("malformed PLAIN message")
	}
	if parts[0] != "" && parts[0] != parts[1] {
		return "", "", errors.New("authorization id differs from the user name")
	}
	return parts[1], parts[2], nil
}
