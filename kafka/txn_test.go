package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
	"github.com/wisp-stream/wisp/kafka/recordbatch"
)

// TestTxnMarkerFormat: the markers read back, with franz-go's decoder, as
// Kafka's control records: control and transactional attributes, the
// producer's id and epoch, key (version 0, type) and value (version 0,
// coordinator epoch).
func TestTxnMarkerFormat(t *testing.T) {
	for _, commit := range []bool{true, false} {
		raw := txnMarker(fsm.TxnEnd{TransactionalID: "tx", ProducerID: 42, ProducerEpoch: 7, Commit: commit}, 1_700_000_000_000)
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw); err != nil {
			t.Fatal(err)
		}
		if b.Attributes != 0x30 || b.ProducerID != 42 || b.ProducerEpoch != 7 || b.FirstSequence != -1 || b.NumRecords != 1 || b.LastOffsetDelta != 0 {
			t.Fatalf("marker batch header %+v", b)
		}
		h, err := recordbatch.ParseHeader(raw)
		if err != nil || !h.Control() || !h.Transactional() {
			t.Fatalf("marker header %+v: %v", h, err)
		}
		recs, err := recordbatch.Records(raw)
		if err != nil || len(recs) != 1 {
			t.Fatalf("marker records %v: %v", recs, err)
		}
		var key kmsg.ControlRecordKey
		if err := key.ReadFrom(recs[0].Key); err != nil {
			t.Fatal(err)
		}
		wantType := kmsg.ControlRecordKeyTypeAbort
		if commit {
			wantType = kmsg.ControlRecordKeyTypeCommit
		}
		if key.Version != 0 || key.Type != wantType {
			t.Fatalf("commit=%v: control key %+v", commit, key)
		}
		var value kmsg.EndTxnMarker
		if err := value.ReadFrom(recs[0].Value); err != nil || value.Version != 0 || value.CoordinatorEpoch != 0 {
			t.Fatalf("marker value %+v: %v", value, err)
		}
	}
}

func TestFencedCodeByVersion(t *testing.T) {
	tests := []struct {
		code           int16
		version, since int16
		want           int16
	}{
		{kerr.ProducerFenced.Code, 1, 2, kerr.InvalidProducerEpoch.Code},
		{kerr.ProducerFenced.Code, 2, 2, kerr.ProducerFenced.Code},
		{kerr.ConcurrentTransactions.Code, 0, 2, kerr.ConcurrentTransactions.Code},
		{0, 0, 4, 0},
	}
	for _, tt := range tests {
		if got := fencedCode(tt.code, tt.version, tt.since); got != tt.want {
			t.Errorf("fencedCode(%d, v%d, since v%d) = %d, want %d", tt.code, tt.version, tt.since, got, tt.want)
		}
	}
}
