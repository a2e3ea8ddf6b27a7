package gossip

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// Meta is what an agent advertises to the cluster through gossip.
type Meta struct {
	NodeID    int32
	KafkaAddr string // host:port Kafka clients dial
	RaftAddr  string // host:port of the Raft transport
	HTTPAddr  string // host:port of the HTTP listener (health, metrics, cache peers)
	AZ        string // availability zone, "" when unknown
	Roles     []string
	// StartedMs is when the agent process started (Unix milliseconds), so
	// any agent can show every agent's uptime; 0 when unknown (older agents).
	StartedMs int64
	// Listeners maps each Kafka listener name to the address clients of
	// that listener dial (KafkaAddr is the first listener's); nil from
	// older agents.
	Listeners map[string]string
}

// MaxMetaSize is memberlist's bound on a member's encoded meta.
const MaxMetaSize = memberlist.MetaMaxSize

// metaVersion is the encoding written by this build. Decoders accept any
// version from 1 up and ignore unknown fields, so later versions may add
// fields but must never change the meaning of an existing one.
const metaVersion = 1

var (
	// ErrMetaTooLarge is returned when an encoded Meta exceeds MaxMetaSize.
	ErrMetaTooLarge = errors.New("gossip: meta too large")
	// ErrBadMeta is wrapped when a member's meta cannot be decoded.
	ErrBadMeta = errors.New("gossip: undecodable meta")
)

// wireMeta is the versioned JSON form, with short keys to stay well inside
// MaxMetaSize.
type wireMeta struct {
	V     int      `json:"v"`
	ID    int32    `json:"id"`
	Kafka string   `json:"k,omitempty"`
	Raft  string   `json:"r,omitempty"`
	HTTP  string   `json:"h,omitempty"`
	AZ    string   `json:"z,omitempty"`
	Roles []string `json:"ro,omitempty"`
	// Started is a version-1 addition: older decoders ignore it, and a
	// missing value decodes as 0 ("unknown").
	Started int64 `json:"st,omitempty"`
	// Listeners is a version-1 addition too (see Meta.Listeners).
	Listeners map[string]string `json:"l,omitempty"`
}

// EncodeMeta returns the wire form of m, or an error wrapping ErrMetaTooLarge.
func EncodeMeta(m Meta) ([]byte, error) {
	b, err := json.Marshal(wireMeta{
		V: metaVersion, ID: m.NodeID, Kafka: m.KafkaAddr, Raft: m.RaftAddr,
		HTTP: m.HTTPAddr, AZ: m.AZ, Roles: m.Roles, Started: m.StartedMs,
		Listeners: m.Listeners,
	})
	if err != nil {
		return nil, fmt.Errorf("gossip: encode meta: %w", err)
	}
	if len(b) > MaxMetaSize {
		return nil, fmt.Errorf("%w: %d bytes encoded, limit %d", ErrMetaTooLarge, len(b), MaxMetaSize)
	}
	return b, nil
}

// DecodeMeta parses the wire form; errors wrap ErrBadMeta.
func DecodeMeta(b []byte) (Meta, error) {
	var w wireMeta
	if err := json.Unmarshal(b, &w); err != nil {
		return Meta{}, fmt.Errorf("%w: %w", ErrBadMeta, err)
	}
	if w.V < 1 {
		return Meta{}, fmt.Errorf("%w: missing or bad version %d", ErrBadMeta, w.V)
	}
	if len(w.Roles) == 0 {
		w.Roles = nil // no roles has one form, whatever the sender wrote
	}
	return Meta{
		NodeID: w.ID, KafkaAddr: w.Kafka, RaftAddr: w.Raft, HTTPAddr: w.HTTP,
		AZ: w.AZ, Roles: w.Roles, StartedMs: w.Started, Listeners: w.Listeners,
	}, nil
}

// HasRole reports whether m lists role.
func (m Meta) HasRole(role string) bool {
	for _, r := range m.Roles {
		if r == role {
			return true
		}
	}
	return false
}
