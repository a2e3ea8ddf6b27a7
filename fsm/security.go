package fsm

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Security state: SCRAM credentials and ACLs. Both are small, rare to change
// and read on every authentication or request, so they are replicated whole
// and read without copying: credentials and the ACL slice are never mutated
// in place, only replaced.

// SCRAM mechanisms, numbered as Kafka's AlterUserScramCredentials does.
const (
	ScramSHA256 int8 = 1
	ScramSHA512 int8 = 2
)

// ScramMechanismName is the SASL name of a mechanism ("" when unknown).
func ScramMechanismName(m int8) string {
	switch m {
	case ScramSHA256:
		return "SCRAM-SHA-256"
	case ScramSHA512:
		return "SCRAM-SHA-512"
	}
	return ""
}

// scramKeyLen is the digest size of a mechanism, 0 when unknown.
func scramKeyLen(m int8) int {
	switch m {
	case ScramSHA256:
		return 32
	case ScramSHA512:
		return 64
	}
	return 0
}

// ScramKey names one credential: a user may hold one per mechanism.
type ScramKey struct {
	User      string `json:"user"`
	Mechanism int8   `json:"mechanism"`
}

// ScramCredential is what a server keeps to check a SCRAM login (RFC 5802):
// never the password, nor the salted password, only the keys derived from it.
// The byte slices are never modified once stored.
type ScramCredential struct {
	User       string `json:"user"`
	Mechanism  int8   `json:"mechanism"`
	Iterations int32  `json:"iterations"`
	Salt       []byte `json:"salt"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

func (c ScramCredential) key() ScramKey { return ScramKey{User: c.User, Mechanism: c.Mechanism} }

// validate checks what Apply relies on; the proposer validates user input
// with better messages first.
func (c ScramCredential) validate() error {
	n := scramKeyLen(c.Mechanism)
	switch {
	case c.User == "":
		return errors.New("empty user name")
	case n == 0:
		return fmt.Errorf("unknown SCRAM mechanism %d", c.Mechanism)
	case c.Iterations < 1:
		return fmt.Errorf("%d iterations", c.Iterations)
	case len(c.Salt) == 0:
		return errors.New("empty salt")
	case len(c.StoredKey) != n || len(c.ServerKey) != n:
		return fmt.Errorf("keys of %d and %d bytes, want %d", len(c.StoredKey), len(c.ServerKey), n)
	}
	return nil
}

// UpsertScram stores SCRAM credentials, each replacing the user's credential
// of the same mechanism. With OnlyIfAbsent an existing credential is kept:
// agents seeding users from a file at start-up race harmlessly.
type UpsertScram struct {
	Credentials  []ScramCredential `json:"credentials"`
	OnlyIfAbsent bool              `json:"only_if_absent"`
}

// DeleteScram removes SCRAM credentials.
type DeleteScram struct {
	Keys []ScramKey `json:"keys"`
}

// ScramResult answers UpsertScram and DeleteScram: one code per credential,
// in order. Codes: UNACCEPTABLE_CREDENTIAL (a credential Apply cannot use),
// RESOURCE_NOT_FOUND (deleting a credential that does not exist). A kept
// credential under OnlyIfAbsent is success.
type ScramResult struct{ ErrorCodes []int16 }

// Kafka's ACL enums (kmsg.ACLResourceType, ACLResourcePatternType,
// ACLOperation, ACLPermissionType), kept as plain int8 so the replicated
// format does not depend on a client library's names.
const (
	ACLResourceAny             int8 = 1
	ACLResourceTopic           int8 = 2
	ACLResourceGroup           int8 = 3
	ACLResourceCluster         int8 = 4
	ACLResourceTransactionalID int8 = 5
	ACLResourceDelegationToken int8 = 6
	ACLResourceUser            int8 = 7

	ACLPatternAny      int8 = 1
	ACLPatternMatch    int8 = 2
	ACLPatternLiteral  int8 = 3
	ACLPatternPrefixed int8 = 4

	ACLOpAny       int8 = 1
	ACLOpAll       int8 = 2
	ACLOpMax       int8 = 15 // TWO_PHASE_COMMIT, the highest Kafka defines
	ACLPermAny     int8 = 1
	ACLPermDeny    int8 = 2
	ACLPermAllow   int8 = 3
	ACLWildcard         = "*"
	ACLClusterName      = "kafka-cluster"
)

// ACL is one Kafka ACL binding: a resource pattern and an access entry.
type ACL struct {
	ResourceType int8   `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  int8   `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    int8   `json:"operation"`
	Permission   int8   `json:"permission"`
}

func (a ACL) String() string {
	return fmt.Sprintf("(resource %d %q pattern %d, %s from %s, operation %d, permission %d)",
		a.ResourceType, a.ResourceName, a.PatternType, a.Principal, a.Host, a.Operation, a.Permission)
}

// Validate reports why a binding cannot be created, with Kafka's rules: a
// concrete resource type, LITERAL or PREFIXED, a concrete operation, ALLOW
// or DENY, a non-empty name (kafka-cluster for CLUSTER), a Type:name
// principal and a host.
func (a ACL) Validate() error {
	switch {
	case a.ResourceType <= ACLResourceAny || a.ResourceType > ACLResourceUser:
		return fmt.Errorf("invalid resource type %d", a.ResourceType)
	case a.PatternType != ACLPatternLiteral && a.PatternType != ACLPatternPrefixed:
		return fmt.Errorf("invalid pattern type %d: ACLs are LITERAL or PREFIXED", a.PatternType)
	case a.Operation <= ACLOpAny || a.Operation > ACLOpMax:
		return fmt.Errorf("invalid operation %d", a.Operation)
	case a.Permission != ACLPermAllow && a.Permission != ACLPermDeny:
		return fmt.Errorf("invalid permission type %d: ACLs ALLOW or DENY", a.Permission)
	case a.ResourceName == "":
		return errors.New("resource name should not be empty")
	case a.ResourceType == ACLResourceCluster && a.ResourceName != ACLClusterName:
		return fmt.Errorf("the only valid name for the CLUSTER resource is %s", ACLClusterName)
	case !strings.Contains(a.Principal, ":") || strings.HasPrefix(a.Principal, ":"):
		return fmt.Errorf("could not parse principal %q: it must be Type:name, e.g. User:alice", a.Principal)
	case a.Host == "":
		return errors.New("host should not be empty (use * for any host)")
	}
	return nil
}

// ACLFilter selects bindings (DescribeAcls, DeleteAcls). Nil strings match
// anything; ANY matches any value; pattern type MATCH selects the bindings
// that would apply to the named resource (the literal name, the literal
// wildcard and every prefix of it).
type ACLFilter struct {
	ResourceType int8    `json:"resource_type"`
	ResourceName *string `json:"resource_name"`
	PatternType  int8    `json:"pattern_type"`
	Principal    *string `json:"principal"`
	Host         *string `json:"host"`
	Operation    int8    `json:"operation"`
	Permission   int8    `json:"permission"`
}

// Validate reports why a filter is unusable: Kafka refuses filters holding an
// UNKNOWN (or out of range) value.
func (f ACLFilter) Validate() error {
	switch {
	case f.ResourceType < ACLResourceAny || f.ResourceType > ACLResourceUser:
		return fmt.Errorf("invalid resource type %d", f.ResourceType)
	case f.PatternType < ACLPatternAny || f.PatternType > ACLPatternPrefixed:
		return fmt.Errorf("invalid pattern type %d", f.PatternType)
	case f.Operation < ACLOpAny || f.Operation > ACLOpMax:
		return fmt.Errorf("invalid operation %d", f.Operation)
	case f.Permission < ACLPermAny || f.Permission > ACLPermAllow:
		return fmt.Errorf("invalid permission type %d", f.Permission)
	}
	return nil
}

// Matches reports whether the filter selects a, as Kafka's AclBindingFilter
// does.
func (f ACLFilter) Matches(a ACL) bool {
	if f.ResourceType != ACLResourceAny && f.ResourceType != a.ResourceType {
		return false
	}
	if f.PatternType != ACLPatternAny && f.PatternType != ACLPatternMatch && f.PatternType != a.PatternType {
		return false
	}
	if f.ResourceName != nil {
		name := *f.ResourceName
		if f.PatternType == ACLPatternAny || f.PatternType == a.PatternType {
			if name != a.ResourceName {
				return false
			}
		} else { // MATCH
			switch a.PatternType {
			case ACLPatternLiteral:
				if name != a.ResourceName && a.ResourceName != ACLWildcard {
					return false
				}
			case ACLPatternPrefixed:
				if !strings.HasPrefix(name, a.ResourceName) {
					return false
				}
			default:
				return false
			}
		}
	}
	return (f.Principal == nil || *f.Principal == a.Principal) &&
		(f.Host == nil || *f.Host == a.Host) &&
		(f.Operation == ACLOpAny || f.Operation == a.Operation) &&
		(f.Permission == ACLPermAny || f.Permission == a.Permission)
}

// CreateACLs adds bindings; one that exists already is left as is.
type CreateACLs struct {
	ACLs []ACL `json:"acls"`
}

// DeleteACLs removes every binding matched by any of the filters.
type DeleteACLs struct {
	Filters []ACLFilter `json:"filters"`
}

// CreateACLsResult has one code per binding, in order: 0 or INVALID_REQUEST.
type CreateACLsResult struct{ ErrorCodes []int16 }

// DeleteACLsResult has, per filter in order, an error code (INVALID_REQUEST
// for an unusable filter) and the bindings it matched and removed. A binding
// matched by several filters is listed under each.
type DeleteACLsResult struct {
	ErrorCodes []int16
	Deleted    [][]ACL
}

// Type implements Command.
func (UpsertScram) Type() CommandType { return CmdUpsertScram }

// Type implements Command.
func (DeleteScram) Type() CommandType { return CmdDeleteScram }

// Type implements Command.
func (CreateACLs) Type() CommandType { return CmdCreateACLs }

// Type implements Command.
func (DeleteACLs) Type() CommandType { return CmdDeleteACLs }

func init() {
	// Admin commands: rare and small, so JSON.
	codecs[CmdUpsertScram] = jsonCodec[UpsertScram]()
	codecs[CmdDeleteScram] = jsonCodec[DeleteScram]()
	codecs[CmdCreateACLs] = jsonCodec[CreateACLs]()
	codecs[CmdDeleteACLs] = jsonCodec[DeleteACLs]()
}

// applySecurity dispatches the security commands.
func (s *state) applySecurity(index uint64, cmd Command) (any, bool) {
	switch c := cmd.(type) {
	case UpsertScram:
		return s.upsertScram(c), true
	case DeleteScram:
		return s.deleteScram(c), true
	case CreateACLs:
		return s.createACLs(index, c), true
	case DeleteACLs:
		return s.deleteACLs(index, c), true
	}
	return nil, false
}

func (s *state) upsertScram(c UpsertScram) ScramResult {
	res := ScramResult{ErrorCodes: make([]int16, len(c.Credentials))}
	for i, cred := range c.Credentials {
		if cred.validate() != nil {
			res.ErrorCodes[i] = kerr.UnacceptableCredential.Code
			continue
		}
		if _, ok := s.scram[cred.key()]; ok && c.OnlyIfAbsent {
			continue
		}
		// The command's slices become the state's: Decode made them fresh.
		s.scram[cred.key()] = cred
	}
	return res
}

func (s *state) deleteScram(c DeleteScram) ScramResult {
	res := ScramResult{ErrorCodes: make([]int16, len(c.Keys))}
	for i, k := range c.Keys {
		if _, ok := s.scram[k]; !ok {
			res.ErrorCodes[i] = kerr.ResourceNotFound.Code
			continue
		}
		delete(s.scram, k)
	}
	return res
}

// compareACL orders bindings for stable snapshots and answers.
func compareACL(a, b ACL) int {
	return cmp.Or(
		cmp.Compare(a.ResourceType, b.ResourceType),
		cmp.Compare(a.PatternType, b.PatternType),
		strings.Compare(a.ResourceName, b.ResourceName),
		strings.Compare(a.Principal, b.Principal),
		strings.Compare(a.Host, b.Host),
		cmp.Compare(a.Operation, b.Operation),
		cmp.Compare(a.Permission, b.Permission),
	)
}

func (s *state) createACLs(index uint64, c CreateACLs) CreateACLsResult {
	res := CreateACLsResult{ErrorCodes: make([]int16, len(c.ACLs))}
	next := s.acls
	copied := false
	for i, a := range c.ACLs {
		if a.Validate() != nil {
			res.ErrorCodes[i] = kerr.InvalidRequest.Code
			continue
		}
		at, found := slices.BinarySearchFunc(next, a, compareACL)
		if found {
			continue
		}
		if !copied { // snapshots and readers share the current slice
			next, copied = slices.Clone(next), true
		}
		next = slices.Insert(next, at, a)
	}
	if copied {
		s.setACLs(next, index)
	}
	return res
}

func (s *state) deleteACLs(index uint64, c DeleteACLs) DeleteACLsResult {
	res := DeleteACLsResult{ErrorCodes: make([]int16, len(c.Filters)), Deleted: make([][]ACL, len(c.Filters))}
	drop := make([]bool, len(s.acls))
	changed := false
	for i, f := range c.Filters {
		if f.Validate() != nil {
			res.ErrorCodes[i] = kerr.InvalidRequest.Code
			continue
		}
		for j, a := range s.acls {
			if f.Matches(a) {
				res.Deleted[i] = append(res.Deleted[i], a)
				drop[j], changed = true, true
			}
		}
	}
	if changed {
		kept := make([]ACL, 0, len(s.acls))
		for j, a := range s.acls {
			if !drop[j] {
				kept = append(kept, a)
			}
		}
		s.setACLs(kept, index)
	}
	return res
}

// ScramCredential returns a user's credential for a mechanism. The byte
// slices are shared with the state: callers must not modify them.
func (f *FSM) ScramCredential(user string, mechanism int8) (ScramCredential, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	c, ok := f.s.scram[ScramKey{User: user, Mechanism: mechanism}]
	return c, ok
}

// ScramCredentials lists every credential sorted by user, then mechanism
// (slices shared as in ScramCredential).
func (f *FSM) ScramCredentials() []ScramCredential {
	f.mu.RLock()
	out := make([]ScramCredential, 0, len(f.s.scram))
	for _, c := range f.s.scram {
		out = append(out, c)
	}
	f.mu.RUnlock()
	slices.SortFunc(out, func(a, b ScramCredential) int {
		return cmp.Or(strings.Compare(a.User, b.User), cmp.Compare(a.Mechanism, b.Mechanism))
	})
	return out
}

// ACLs returns every binding, sorted, and a version that changes whenever
// they do, so an authorizer can rebuild its index only then. The slice is
// shared with the state: callers must not modify it.
func (f *FSM) ACLs() ([]ACL, uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.s.acls, f.s.aclVersion
}
