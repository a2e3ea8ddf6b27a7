package agent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka"
)

// --sasl-users-file seeds SASL users at start-up: one user:password a line
// (blank lines and lines starting with # are skipped; the password is
// everything after the first colon). Each user gets SCRAM-SHA-256 and
// SCRAM-SHA-512 credentials, derived here with a fresh salt and written
// through Raft only where the user has none: a credential changed later
// with kafka-configs is never overwritten by a restart. PLAIN logins are
// checked against these credentials; no password is stored.

type seedUser struct{ name, password string }

// readUsersFile parses the users file; errors name the line.
func readUsersFile(path string) ([]seedUser, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []seedUser
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		name, password, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("%s line %d: want user:password", path, n)
		case password == "":
			return nil, fmt.Errorf("%s line %d: user %q has an empty password", path, n, name)
		case seen[name]:
			return nil, fmt.Errorf("%s line %d: user %q is listed twice", path, n, name)
		}
		seen[name] = true
		out = append(out, seedUser{name: name, password: password})
	}
	return out, sc.Err()
}

// seedUsers writes the credentials of the users file that are missing.
func (a *Agent) seedUsers(ctx context.Context) error {
	if a.cfg.SASLUsersFile == "" {
		return nil
	}
	users, err := readUsersFile(a.cfg.SASLUsersFile)
	if err != nil {
		return &FlagError{Flag: "sasl-users-file", Err: err}
	}
	var cmd fsm.UpsertScram
	cmd.OnlyIfAbsent = true
	for _, u := range users {
		for _, mech := range []int8{fsm.ScramSHA256, fsm.ScramSHA512} {
			if cur, ok := a.fsm.ScramCredential(u.name, mech); ok {
				if mech == fsm.ScramSHA256 && !kafka.ScramCheck(cur, u.password) {
					a.log.Warn("the password of a user in --sasl-users-file differs from the stored credential; keeping the stored one (change it with kafka-configs --alter --entity-type users)", "user", u.name)
				}
				continue
			}
			cred, err := kafka.ScramFromPassword(u.name, u.password, mech, kafka.ScramMinIterations)
			if err != nil {
				return err
			}
			cmd.Credentials = append(cmd.Credentials, cred)
		}
	}
	if len(cmd.Credentials) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := a.raft.apply(ctx, &cmd); err != nil {
		return fmt.Errorf("store the SCRAM credentials of --sasl-users-file: %w", err)
	}
	a.log.Info("seeded SASL users", "file", a.cfg.SASLUsersFile, "credentials", len(cmd.Credentials))
	return nil
}

func init() {
	// Results of the security commands travel back over the forwarding RPC
	// when a follower proposes them.
	registerResult(fsm.ScramResult{})
	registerResult(fsm.CreateACLsResult{})
	registerResult(fsm.DeleteACLsResult{})
}
