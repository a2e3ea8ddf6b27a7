package agent

import (
	"errors"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/wisp-stream/wisp/fsm"
)

// TestEveryFSMResultForwards applies one command of every kind to a fresh
// state machine and sends its result through the forwarding codec: a result
// type missing from the registry would make that command fail on followers.
func TestEveryFSMResultForwards(t *testing.T) {
	f := fsm.New(nil)
	topic := [16]byte{1}
	cmds := []fsm.Command{
		&fsm.InitCluster{ClusterID: "c", NowMs: 1},
		&fsm.CreateTopic{Name: "t", ID: topic, Partitions: 1, NowMs: 1},
		&fsm.CreatePartitions{Name: "t", Count: 2},
		&fsm.InitProducerID{ProducerID: -1, ProducerEpoch: -1, NowMs: 1},
		&fsm.CommitFile{Key: "k", Size: 100, NowMs: 1, Batches: []fsm.BatchMeta{{TopicID: topic, Partition: 0, Pos: 8, Len: 70, Records: 1, ProducerID: -1}}},
		&fsm.CommitOffsets{Group: "g", NowMs: 1, Offsets: []fsm.OffsetCommit{{TopicID: topic, Partition: 0, Offset: 1, LeaderEpoch: -1}}},
		&fsm.DeleteOffsets{Group: "g", Partitions: []fsm.PartitionKey{{TopicID: topic, Partition: 0}}},
		&fsm.DeleteGroup{Group: "g"},
		&fsm.AlterTopicConfigs{Name: "t", Set: map[string]string{"retention.ms": "1"}},
		&fsm.TrimLog{TopicID: topic, Partition: 0, NewLogStart: 1},
		&fsm.CompactFiles{Key: "c", Size: 100, Level: 1, NowMs: 1, Runs: []fsm.CompactRun{{TopicID: topic, Partition: 0, FirstOffset: 0, LastOffset: 0, Pos: 8, Len: 70}}},
		&fsm.UpsertScram{Credentials: []fsm.ScramCredential{{User: "u", Mechanism: fsm.ScramSHA256, Iterations: 4096, Salt: []byte("s"), StoredKey: make([]byte, 32), ServerKey: make([]byte, 32)}}},
		&fsm.DeleteScram{Keys: []fsm.ScramKey{{User: "u", Mechanism: fsm.ScramSHA256}, {User: "v", Mechanism: fsm.ScramSHA512}}},
		&fsm.CreateACLs{ACLs: []fsm.ACL{{ResourceType: fsm.ACLResourceTopic, ResourceName: "t", PatternType: fsm.ACLPatternLiteral, Principal: "User:u", Host: "*", Operation: 3, Permission: fsm.ACLPermAllow}}},
		&fsm.DeleteACLs{Filters: []fsm.ACLFilter{{ResourceType: fsm.ACLResourceAny, PatternType: fsm.ACLPatternAny, Operation: fsm.ACLOpAny, Permission: fsm.ACLPermAny}}},
		&fsm.InitTxnProducer{TransactionalID: "tx", TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1, NowMs: 1},
		&fsm.AddToTxn{TransactionalID: "tx", ProducerID: 2, Partitions: []fsm.PartitionKey{{TopicID: topic}}, Groups: []string{"g"}, NowMs: 1},
		&fsm.TxnCommitOffsets{TransactionalID: "tx", ProducerID: 2, Group: "g", NowMs: 1, Offsets: []fsm.OffsetCommit{{TopicID: topic, Offset: 1, LeaderEpoch: -1}}},
		&fsm.EndTxn{TransactionalID: "tx", ProducerID: 2, Commit: true, NowMs: 1},
		&fsm.CompleteTxn{End: fsm.TxnEnd{TransactionalID: "tx", ProducerID: 2, Commit: true}, NowMs: 1},
		&fsm.DeleteTopic{Name: "t", NowMs: 2},
		&fsm.ForgetFiles{Keys: []string{"k"}},
	}
	seen := map[fsm.CommandType]bool{}
	for i, cmd := range cmds {
		seen[cmd.Type()] = true
		data, err := fsm.Encode(cmd)
		if err != nil {
			t.Fatalf("encode %T: %v", cmd, err)
		}
		res := f.Apply(&raft.Log{Index: uint64(i + 1), Data: data})
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
	// Every command number the codec knows must be in the table above.
	for c := fsm.CmdInitCluster; c < fsm.IgnorableFlag; c++ {
		if _, err := fsm.Decode([]byte{byte(c), 0}); errors.Is(err, fsm.ErrUnknownCommand) {
			continue
		}
		if !seen[c] {
			t.Errorf("command %s is not covered here: add it so its result is known to forward", c)
		}
	}
}
