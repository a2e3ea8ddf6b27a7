package agent

import (
	"reflect"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/wisp-stream/wisp/fsm"
)

// TestTxnResultsForward: every transaction command's result, including a
// Pending transaction, survives the forwarding codec a follower uses.
func TestTxnResultsForward(t *testing.T) {
	f := fsm.New(nil)
	topic := [16]byte{1}
	cmds := []fsm.Command{
		&fsm.CreateTopic{Name: "t", ID: topic, Partitions: 1, NowMs: 1},
		&fsm.InitTxnProducer{TransactionalID: "tx", TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1, NowMs: 1},
		&fsm.AddToTxn{TransactionalID: "tx", ProducerID: 1, Partitions: []fsm.PartitionKey{{TopicID: topic}}, Groups: []string{"g"}, NowMs: 1},
		&fsm.TxnCommitOffsets{TransactionalID: "tx", ProducerID: 1, Group: "g", NowMs: 1, Offsets: []fsm.OffsetCommit{{TopicID: topic, Offset: 1, LeaderEpoch: -1}}},
		&fsm.EndTxn{TransactionalID: "tx", ProducerID: 1, Commit: true, NowMs: 1},
		&fsm.CompleteTxn{End: fsm.TxnEnd{TransactionalID: "tx", ProducerID: 1, Commit: true}, NowMs: 1},
	}
	sawPending := false
	for i, cmd := range cmds {
		data, err := fsm.Encode(cmd)
		if err != nil {
			t.Fatalf("encode %T: %v", cmd, err)
		}
		res := f.Apply(&raft.Log{Index: uint64(i + 1), Data: data})
		if tr, ok := res.(fsm.TxnResult); ok && tr.Pending != nil {
			sawPending = true
		}
		wire, err := encodeResult(res, nil)
		if err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
		back, err := decodeResult(wire)
		if err != nil {
			t.Fatalf("%T: decode: %v", cmd, err)
		}
		if !reflect.DeepEqual(back, res) {
			t.Fatalf("%T: result %#v came back as %#v", cmd, res, back)
		}
	}
	if !sawPending {
		t.Fatal("no result carried a pending transaction")
	}
}
