package kafka

import (
	"context"
	"fmt"
	"testing"

	"github.com/wisp-stream/wisp/fsm"
)

// brokersOnly is a Backend that only knows its brokers.
type brokersOnly struct {
	Backend
	bs []Broker
}

func (b brokersOnly) Brokers() []Broker { return b.bs }

func (b brokersOnly) Metadata() *fsm.FSM { return fsm.New(nil) }

func (b brokersOnly) Apply(context.Context, fsm.Command) (any, error) { return nil, nil }

// TestCoordinatorFor: groups spread over the agents, and an agent leaving
// moves only the groups it coordinated.
func TestCoordinatorFor(t *testing.T) {
	three := []Broker{{NodeID: 1}, {NodeID: 2}, {NodeID: 3}}
	s := NewServer(Config{NodeID: 1}, brokersOnly{bs: three}, nil)
	defer s.Close(context.Background())
	two := NewServer(Config{NodeID: 1}, brokersOnly{bs: three[:2]}, nil)
	defer two.Close(context.Background())

	const groups = 3000
	count := map[int32]int{}
	for i := range groups {
		g := fmt.Sprintf("group-%d", i)
		before := s.coordinatorFor(g).NodeID
		count[before]++
		after := two.coordinatorFor(g).NodeID
		if before != 3 && after != before {
			t.Fatalf("%s moved from %d to %d although %d is still alive", g, before, after, before)
		}
		if again := s.coordinatorFor(g).NodeID; again != before {
			t.Fatalf("%s: coordinator changed from %d to %d with the same agents", g, before, again)
		}
	}
	for id, n := range count {
		if n < groups/4 {
			t.Fatalf("agent %d coordinates %d of %d groups: %v", id, n, groups, count)
		}
	}
}
