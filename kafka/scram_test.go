package kafka

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/wisp-stream/wisp/fsm"
)

// TestScramRFC7677 runs the SCRAM-SHA-256 example exchange of RFC 7677
// section 3 through the server side.
func TestScramRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	salted, err := pbkdf2.Key(sha256.New, "pencil", salt, 4096, 32)
	if err != nil {
		t.Fatal(err)
	}
	cred := ScramFromSalted("user", fsm.ScramSHA256, salt, salted, 4096)

	user, srv, err := scramFirst([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
	if err != nil || user != "user" {
		t.Fatalf("client-first: user %q, %v", user, err)
	}
	srv.nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0" // the RFC's server nonce
	if got, want := string(srv.challenge(cred)), "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"; got != want {
		t.Fatalf("server-first %q, want %q", got, want)
	}
	final, err := srv.final([]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if err != nil {
		t.Fatalf("client-final: %v", err)
	}
	if got, want := string(final), "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="; got != want {
		t.Fatalf("server-final %q, want %q", got, want)
	}
}

// TestScramWithFranzClient runs franz-go's SCRAM client against the server
// side for both mechanisms, with the right and a wrong password.
func TestScramWithFranzClient(t *testing.T) {
	for _, mech := range []int8{fsm.ScramSHA256, fsm.ScramSHA512} {
		cred, err := ScramFromPassword("alice", "s3cret, with=odd chars", mech, 4096)
		if err != nil {
			t.Fatal(err)
		}
		for _, pass := range []string{"s3cret, with=odd chars", "wrong"} {
			t.Run(fsm.ScramMechanismName(mech)+"/"+pass, func(t *testing.T) {
				auth := scram.Auth{User: "alice", Pass: pass}
				m := auth.AsSha256Mechanism()
				if mech == fsm.ScramSHA512 {
					m = auth.AsSha512Mechanism()
				}
				sess, first, err := m.Authenticate(context.Background(), "broker:9092")
				if err != nil {
					t.Fatal(err)
				}
				user, srv, err := scramFirst(first)
				if err != nil || user != "alice" {
					t.Fatalf("client-first: %q %v", user, err)
				}
				done, clientFinal, err := sess.Challenge(srv.challenge(cred))
				if err != nil || done {
					t.Fatalf("client on server-first: done %v, %v", done, err)
				}
				serverFinal, err := srv.final(clientFinal)
				if pass == "wrong" {
					if !errors.Is(err, errBadCredentials) {
						t.Fatalf("wrong password: %v, want errBadCredentials", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("client-final refused: %v", err)
				}
				// The client checks the server's signature: a server without
				// the right ServerKey cannot pass.
				if done, _, err := sess.Challenge(serverFinal); err != nil || !done {
					t.Fatalf("client on server-final: done %v, %v", done, err)
				}
			})
		}
	}
}

func TestScramRejectsMalformed(t *testing.T) {
	for _, msg := range []string{
		"", "n", "p=tls-unique,,n=a,r=x", "n,,r=x,n=a", "n,,n=,r=x", "n,,n=a", "n,,m=ext,n=a,r=x",
		"n,a=bob,n=alice,r=x", "n,,n=alice,r=x,tokenauth=true",
	} {
		if _, _, err := scramFirst([]byte(msg)); err == nil {
			t.Errorf("scramFirst(%q) accepted", msg)
		}
	}
	user, _, err := scramFirst([]byte("n,a=al=2Cice,n=al=2Cice,r=abc"))
	if err != nil || user != "al,ice" {
		t.Fatalf("escaped user: %q %v", user, err)
	}

	cred, _ := ScramFromPassword("alice", "pw", fsm.ScramSHA256, 4096)
	_, srv, _ := scramFirst([]byte("n,,n=alice,r=abc"))
	srv.challenge(cred)
	for _, final := range []string{
		"", "c=biws,r=abc", // no proof
		"c=biws,r=abc,p=AAAA",                  // nonce of the client only
		"c=eSws,r=" + srv.nonce + ",p=AAAA",    // channel binding of another header
		"c=biws,r=" + srv.nonce + ",p=!!",      // proof not base64
		"c=biws,r=" + srv.nonce + ",p=AAAA",    // proof of the wrong size
		"c=biws,r=" + srv.nonce + "x,p=AAAA=",  // nonce changed
		"c=biws,r=" + srv.nonce + ",p=a,p=bbb", // two proofs
	} {
		if _, err := srv.final([]byte(final)); err == nil {
			t.Errorf("final(%q) accepted", final)
		}
	}
}

func TestPlainAgainstScram(t *testing.T) {
	for _, mech := range []int8{fsm.ScramSHA256, fsm.ScramSHA512} {
		cred, err := ScramFromPassword("bob", "hunter2", mech, 4096)
		if err != nil {
			t.Fatal(err)
		}
		if !ScramCheck(cred, "hunter2") {
			t.Fatal("right password refused")
		}
		if ScramCheck(cred, "hunter3") || ScramCheck(cred, "") {
			t.Fatal("wrong password accepted")
		}
	}
	for _, tt := range []struct {
		msg, user, pass string
		ok              bool
	}{
		{"\x00bob\x00pw", "bob", "pw", true},
		{"bob\x00bob\x00pw\x00x", "bob", "pw\x00x", true},
		{"eve\x00bob\x00pw", "", "", false},
		{"\x00\x00pw", "", "", false},
		{"bob", "", "", false},
	} {
		u, p, err := plainCredentials([]byte(tt.msg))
		if (err == nil) != tt.ok || u != tt.user || p != tt.pass {
			t.Errorf("plainCredentials(%q) = %q %q %v", tt.msg, u, p, err)
		}
	}
}

// FuzzScramMessages: the SCRAM and PLAIN parsers never panic on client
// bytes, and only the right proof passes.
func FuzzScramMessages(f *testing.F) {
	f.Add([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"), []byte("c=biws,r=x,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	f.Add([]byte("y,a=u,n=u,r=abc,ext=1"), []byte("c=eSxhPXUs,r=abc,p="))
	f.Add([]byte("\x00u\x00p"), []byte(",p=,p="))
	cred, err := ScramFromPassword("user", "pencil", fsm.ScramSHA256, 4096)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, first, final []byte) {
		plainCredentials(first)
		_, srv, err := scramFirst(first)
		if err != nil {
			return
		}
		srv.challenge(cred)
		if _, err := srv.final(final); err == nil {
			t.Fatalf("a fuzzed client-final-message %q passed", final)
		}
	})
}
