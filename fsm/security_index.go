package fsm

// aclIndex groups the ACL bindings by resource pattern so that authorizing
// one request costs a few map lookups, not a scan of every binding. It is
// rebuilt whole on each ACL change (rare) and never modified after.
type aclIndex map[aclPattern][]ACL

type aclPattern struct {
	resourceType int8
	patternType  int8
	name         string
}

// setACLs replaces the bindings (sorted, never modified afterwards) and
// rebuilds the index.
func (s *state) setACLs(acls []ACL, version uint64) {
	idx := make(aclIndex, len(acls))
	for _, a := range acls {
		k := aclPattern{a.ResourceType, a.PatternType, a.ResourceName}
		idx[k] = append(idx[k], a)
	}
	s.acls, s.aclVersion, s.aclIndex = acls, version, idx
}

// AppendMatchingACLs appends to dst every binding whose resource pattern
// covers the named resource: LITERAL with that name or the wildcard *, and
// PREFIXED with any prefix of the name. Principal, host and operation are
// the caller's to check.
func (f *FSM) AppendMatchingACLs(dst []ACL, resourceType int8, name string) []ACL {
	f.mu.RLock()
	defer f.mu.RUnlock()
	idx := f.s.aclIndex
	if len(idx) == 0 {
		return dst
	}
	dst = append(dst, idx[aclPattern{resourceType, ACLPatternLiteral, name}]...)
	if name != ACLWildcard {
		dst = append(dst, idx[aclPattern{resourceType, ACLPatternLiteral, ACLWildcard}]...)
	}
	for i := 1; i <= len(name); i++ {
		dst = append(dst, idx[aclPattern{resourceType, ACLPatternPrefixed, name[:i]}]...)
	}
	return dst
}
