package kafka

import (
	"net"
	"slices"
	"strings"

	"github.com/wisp-stream/wisp/fsm"
)

// Authorization follows Kafka's StandardAuthorizer: super users may do
// anything; otherwise a DENY binding for the operation (or ALL) wins over
// any ALLOW; an ALLOW for the operation, for ALL, or for an operation that
// implies it (READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS
// implies DESCRIBE_CONFIGS) grants it; with no binding at all the request is
// refused (unless AllowEveryoneIfNoACL). A binding applies when its
// principal is the connection's or User:*, and its host is the client's IP
// or *.

// Kafka's ACL operations (fsm.ACL.Operation).
const (
	opRead            int8 = 3
	opWrite           int8 = 4
	opCreate          int8 = 5
	opDelete          int8 = 6
	opAlter           int8 = 7
	opDescribe        int8 = 8
	opClusterAction   int8 = 9
	opDescribeConfigs int8 = 10
	opAlterConfigs    int8 = 11
	opIdempotentWrite int8 = 12
)

// Resource types, shorter names for the handlers' checks.
const (
	resTopic   = fsm.ACLResourceTopic
	resGroup   = fsm.ACLResourceGroup
	resCluster = fsm.ACLResourceCluster
	resTxnID   = fsm.ACLResourceTransactionalID
)

// authorizing reports whether this connection's requests are checked.
func (c *clientConn) authorizing() bool { return c.s.cfg.Security.Authorizer }

// superUser reports whether the connection's principal may do anything.
func (c *clientConn) superUser() bool {
	return slices.Contains(c.s.cfg.Security.SuperUsers, c.principal)
}

// clientHost is the client's IP as ACL host fields name it.
func (c *clientConn) clientHost() string {
	host := c.nc.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// authorized reports whether the connection may perform op on the named
// resource. It is always true when the authorizer is off.
func (c *clientConn) authorized(op, resourceType int8, name string) bool {
	if !c.authorizing() || c.superUser() {
		return true
	}
	if resourceType == resCluster {
		name = fsm.ACLClusterName
	}
	var buf [16]fsm.ACL
	acls := c.s.backend.Metadata().AppendMatchingACLs(buf[:0], resourceType, name)
	if len(acls) == 0 {
		return c.s.cfg.Security.AllowEveryoneIfNoACL
	}
	host := c.clientHost()
	allowed := false
	for _, a := range acls {
		if !c.appliesTo(a, host) {
			continue
		}
		switch a.Permission {
		case fsm.ACLPermDeny:
			if a.Operation == op || a.Operation == fsm.ACLOpAll {
				return false
			}
		case fsm.ACLPermAllow:
			if !allowed && grants(a.Operation, op) {
				allowed = true
			}
		}
	}
	return allowed
}

// appliesTo reports whether a binding names this connection's principal
// and host.
func (c *clientConn) appliesTo(a fsm.ACL, host string) bool {
	return (a.Principal == c.principal || a.Principal == "User:*") && (a.Host == fsm.ACLWildcard || a.Host == host)
}

// grants reports whether an ALLOW of operation has grants op.
func grants(has, op int8) bool {
	switch {
	case has == op || has == fsm.ACLOpAll:
		return true
	case op == opDescribe:
		return has == opRead || has == opWrite || has == opDelete || has == opAlter
	case op == opDescribeConfigs:
		return has == opAlterConfigs
	}
	return false
}

// authorizedAnyOfType reports whether op is allowed on at least one resource
// of the type, as Kafka's authorizeByResourceType decides (InitProducerId
// asks it for WRITE on any topic): some ALLOW binding must not be dominated
// by a DENY (a literal deny of the same name, a prefix deny covering it, or a
// wildcard deny).
func (c *clientConn) authorizedAnyOfType(op, resourceType int8) bool {
	if !c.authorizing() || c.superUser() {
		return true
	}
	all, _ := c.s.backend.Metadata().ACLs()
	host := c.clientHost()
	var denyLiteral, denyPrefix, allowLiteral, allowPrefix []string
	seen := false
	for _, a := range all {
		if a.ResourceType != resourceType {
			continue
		}
		seen = true
		if !c.appliesTo(a, host) {
			continue
		}
		switch {
		case a.Permission == fsm.ACLPermDeny && (a.Operation == op || a.Operation == fsm.ACLOpAll):
			if a.PatternType == fsm.ACLPatternLiteral {
				if a.ResourceName == fsm.ACLWildcard {
					return false
				}
				denyLiteral = append(denyLiteral, a.ResourceName)
			} else {
				denyPrefix = append(denyPrefix, a.ResourceName)
			}
		case a.Permission == fsm.ACLPermAllow && grants(a.Operation, op):
			if a.PatternType == fsm.ACLPatternLiteral {
				allowLiteral = append(allowLiteral, a.ResourceName)
			} else {
				allowPrefix = append(allowPrefix, a.ResourceName)
			}
		}
	}
	if !seen {
		return c.s.cfg.Security.AllowEveryoneIfNoACL
	}
	dominated := func(name string) bool {
		for _, p := range denyPrefix {
			if strings.HasPrefix(name, p) {
				return true
			}
		}
		return false
	}
	for _, name := range allowLiteral {
		if name == fsm.ACLWildcard || (!slices.Contains(denyLiteral, name) && !dominated(name)) {
			return true
		}
	}
	for _, name := range allowPrefix {
		if !dominated(name) {
			return true
		}
	}
	return false
}
