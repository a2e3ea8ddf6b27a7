package fsm

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

// Snapshot records of the security state (version 5+):
//
//	recScram: user str | mechanism | iterations | salt str | stored key str | server key str
//	recACL:   resource type | resource name str | pattern type | principal str | host str |
//	          operation | permission
//
// Numbers are zigzag varints. Credentials come sorted by (user, mechanism),
// bindings in compareACL order, each exactly once.

func (s *state) writeSecurity(rw *recordWriter) error {
	keys := slices.SortedFunc(maps.Keys(s.scram), func(a, b ScramKey) int {
		return cmp.Or(strings.Compare(a.User, b.User), cmp.Compare(a.Mechanism, b.Mechanism))
	})
	for _, k := range keys {
		c := s.scram[k]
		w := rw.record(recScram)
		w.str(c.User)
		w.varint(int64(c.Mechanism))
		w.varint(int64(c.Iterations))
		w.str(string(c.Salt))
		w.str(string(c.StoredKey))
		w.str(string(c.ServerKey))
		rw.flush()
	}
	for _, a := range s.acls {
		w := rw.record(recACL)
		w.varint(int64(a.ResourceType))
		w.str(a.ResourceName)
		w.varint(int64(a.PatternType))
		w.str(a.Principal)
		w.str(a.Host)
		w.varint(int64(a.Operation))
		w.varint(int64(a.Permission))
		rw.flush()
	}
	return rw.err
}

func (rs *restorer) security(kind byte, r *rbuf) error {
	switch kind {
	case recScram:
		c := ScramCredential{User: r.str(), Mechanism: r.int8(), Iterations: r.int32()}
		c.Salt, c.StoredKey, c.ServerKey = []byte(r.str()), []byte(r.str()), []byte(r.str())
		if r.err != nil {
			return r.err
		}
		if err := c.validate(); err != nil {
			return badSnapshot("SCRAM credential of %q: %v", c.User, err)
		}
		if _, dup := rs.s.scram[c.key()]; dup {
			return badSnapshot("SCRAM credential of %q mechanism %d twice", c.User, c.Mechanism)
		}
		rs.s.scram[c.key()] = c
	case recACL:
		a := ACL{ResourceType: r.int8(), ResourceName: r.str(), PatternType: r.int8(), Principal: r.str(),
			Host: r.str(), Operation: r.int8(), Permission: r.int8()}
		if r.err != nil {
			return r.err
		}
		if err := a.Validate(); err != nil {
			return badSnapshot("ACL %v: %v", a, err)
		}
		if n := len(rs.s.acls); n > 0 && compareACL(rs.s.acls[n-1], a) >= 0 {
			return badSnapshot("ACL %v out of order or twice", a)
		}
		rs.s.acls = append(rs.s.acls, a)
	}
	return nil
}

func (r *rbuf) int8() int8 {
	v := r.varint()
	if v < -128 || v > 127 {
		r.fail("int8 out of range: %d", v)
		return 0
	}
	return int8(v)
}
