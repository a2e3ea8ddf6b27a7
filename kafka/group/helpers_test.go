package group

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeMetadata is a Metadata with settable topics and offset groups.
type fakeMetadata struct {
	mu      sync.Mutex
	topics  []Topic
	offsets map[string]bool
}

func (f *fakeMetadata) Topic(name string) (Topic, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.topics {
		if t.Name == name {
			return t, true
		}
	}
	return Topic{}, false
}

func (f *fakeMetadata) TopicByID(id [16]byte) (Topic, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.topics {
		if t.ID == id {
			return t, true
		}
	}
	return Topic{}, false
}

func (f *fakeMetadata) Topics() []Topic {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.topics)
}

func (f *fakeMetadata) HasOffsets(g string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.offsets[g]
}

func (f *fakeMetadata) OffsetGroups() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for g := range f.offsets {
		out = append(out, g)
	}
	slices.Sort(out)
	return out
}

func (f *fakeMetadata) setTopics(ts ...Topic) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.topics = ts
}

func topicNamed(name string, partitions int32) Topic {
	var id [16]byte
	copy(id[:], name)
	return Topic{Name: name, ID: id, Partitions: partitions}
}

// newTestCoordinator returns a coordinator with timeouts short enough for
// tests, closed at the end of the test.
func newTestCoordinator(t *testing.T, cfg Config) (*Coordinator, *fakeMetadata) {
	t.Helper()
	if cfg.MinSessionTimeout == 0 {
		cfg.MinSessionTimeout = time.Millisecond
	}
	md := &fakeMetadata{offsets: map[string]bool{}}
	c := New(cfg, md)
	t.Cleanup(c.Close)
	return c, md
}

var testClient = Client{ID: "test-client", Host: "/127.0.0.1"}

// joinReq is a consumer-protocol JoinGroup with one "range" protocol.
func joinReq(group, memberID string, version int16) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = version
	req.Group = group
	req.MemberID = memberID
	req.SessionTimeoutMillis = 10_000
	req.RebalanceTimeoutMillis = 10_000
	req.ProtocolType = "consumer"
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte("meta-" + memberID)}}
	return req
}

// now returns the response if it is ready, failing otherwise.
func now[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case r := <-ch:
		return r
	default:
		t.Fatal("response not ready")
	}
	panic("unreachable")
}

// parked fails if the response is ready.
func parked[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("response ready, want it parked: %+v", r)
	default:
	}
}

// eventually waits for a response that a timer or another request completes.
func eventually[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("response never came")
	}
	panic("unreachable")
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	wantCode := int16(0)
	if want != nil {
		wantCode = want.Code
	}
	if got != wantCode {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

// joinNew joins a new member the v4+ way (MEMBER_ID_REQUIRED, then join
// with the id) and returns the channel of its second join.
func joinNew(t *testing.T, c *Coordinator, group string) (string, <-chan *kmsg.JoinGroupResponse) {
	t.Helper()
	r := now(t, c.Join(joinReq(group, "", 9), testClient))
	wantCode(t, "first join", r.ErrorCode, kerr.MemberIDRequired)
	return r.MemberID, c.Join(joinReq(group, r.MemberID, 9), testClient)
}

func syncReq(group, memberID string, gen int32, assignments map[string]string) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = group, memberID, gen
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for k := range assignments {
			if !yield(k) {
				return
			}
		}
	}) {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(assignments[id])})
	}
	return req
}

func heartbeat(c *Coordinator, group, memberID string, gen int32, instance *string) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation, req.InstanceID = group, memberID, gen, instance
	return c.Heartbeat(req).ErrorCode
}

func describeState(t *testing.T, c *Coordinator, group string) string {
	t.Helper()
	return c.Describe([]string{group})[0].State
}

// stableSingle brings a one-member group to Stable and returns the member
// id and generation.
func stableSingle(t *testing.T, c *Coordinator, group string) (string, int32) {
	t.Helper()
	id, ch := joinNew(t, c, group)
	jr := now(t, ch)
	wantCode(t, "join", jr.ErrorCode, nil)
	sr := now(t, c.Sync(syncReq(group, id, jr.Generation, map[string]string{id: "all"})))
	wantCode(t, "sync", sr.ErrorCode, nil)
	return id, jr.Generation
}
