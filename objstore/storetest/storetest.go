// Package storetest is the contract every objstore.Store keeps, written once
// as a suite of subtests so that each backend's tests run the same cases:
// file:// and mem:// in objstore/store_test.go, s3:// against a real MinIO in
// objstore/s3_test.go.
package storetest

import (
	"context"
	"testing"

	"github.com/wisp-stream/wisp/objstore"
)

// cases lists the contract, one subtest each. A case may assume its store
// starts empty and is used by no other case.
var cases = []struct {
	name string
	run  func(t *testing.T, s objstore.Store)
}{
	{"GetRanges", getRanges},
	{"GetMissing", getMissing},
	{"EmptyObject", emptyObject},
	{"OverwriteAndDelete", overwriteAndDelete},
	{"NoAliasing", noAliasing},
	{"ListPrefixSorted", listPrefixSorted},
	{"BadKeysRejected", badKeysRejected},
	{"ConcurrentPuts", concurrentPuts},
	{"CanceledContext", canceledContext},
}

// Run runs every contract case as a parallel subtest of t. Each case calls
// open once, with the case's own *testing.T, for a store that must be empty
// and unseen by any other case (for a shared bucket, derive a prefix from
// t.Name()). Because the cases run in parallel, open may be called
// concurrently; it reports its own failures through t.
func Run(t *testing.T, open func(t *testing.T) objstore.Store) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, open(t))
		})
	}
}

func put(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}
