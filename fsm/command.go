package fsm

import (
	"errors"
	"fmt"
)

// CommandType is the first byte of every encoded command.
//
// The numbering is append-only: never renumber or reuse a value, because old
// log entries and snapshots keep the old meaning forever. A command that older
// replicas may safely skip gets IgnorableFlag set in its type.
type CommandType uint8

// Command types. ONLY ADD TO THE END.
const (
	CmdInitCluster       CommandType = 1
	CmdCreateTopic       CommandType = 2
	CmdDeleteTopic       CommandType = 3
	CmdCreatePartitions  CommandType = 4
	CmdCommitFile        CommandType = 5
	CmdInitProducerID    CommandType = 6
	CmdForgetFiles       CommandType = 7
	CmdCommitOffsets     CommandType = 8
	CmdDeleteGroup       CommandType = 9
	CmdDeleteOffsets     CommandType = 10
	CmdAlterTopicConfigs CommandType = 11
	CmdTrimLog           CommandType = 12
	CmdCompactFiles      CommandType = 13
	CmdUpsertScram       CommandType = 14
	CmdDeleteScram       CommandType = 15
	CmdCreateACLs        CommandType = 16
	CmdDeleteACLs        CommandType = 17
	// 18 and 19 are reserved for further security commands.
	CmdInitTxnProducer  CommandType = 20
	CmdAddToTxn         CommandType = 21
	CmdTxnCommitOffsets CommandType = 22
	CmdEndTxn           CommandType = 23
	CmdCompleteTxn      CommandType = 24

	// IgnorableFlag marks a command that a replica which does not know it may
	// skip. Without it, an unknown command stops the replica.
	IgnorableFlag CommandType = 0x80
)

func (t CommandType) String() string {
	switch t {
	case CmdInitCluster:
		return "InitCluster"
	case CmdCreateTopic:
		return "CreateTopic"
	case CmdDeleteTopic:
		return "DeleteTopic"
	case CmdCreatePartitions:
		return "CreatePartitions"
	case CmdCommitFile:
		return "CommitFile"
	case CmdInitProducerID:
		return "InitProducerID"
	case CmdForgetFiles:
		return "ForgetFiles"
	case CmdCommitOffsets:
		return "CommitOffsets"
	case CmdDeleteGroup:
		return "DeleteGroup"
	case CmdDeleteOffsets:
		return "DeleteOffsets"
	case CmdAlterTopicConfigs:
		return "AlterTopicConfigs"
	case CmdTrimLog:
		return "TrimLog"
	case CmdCompactFiles:
		return "CompactFiles"
	case CmdUpsertScram:
		return "UpsertScram"
	case CmdDeleteScram:
		return "DeleteScram"
	case CmdCreateACLs:
		return "CreateACLs"
	case CmdDeleteACLs:
		return "DeleteACLs"
	case CmdInitTxnProducer:
		return "InitTxnProducer"
	case CmdAddToTxn:
		return "AddToTxn"
	case CmdTxnCommitOffsets:
		return "TxnCommitOffsets"
	case CmdEndTxn:
		return "EndTxn"
	case CmdCompleteTxn:
		return "CompleteTxn"
	}
	return fmt.Sprintf("CommandType(%d)", uint8(t))
}

// Command is one state change. Decode returns the value (not pointer) types
// below; Encode accepts either.
type Command interface{ Type() CommandType }

// Sentinel errors returned (wrapped) by Decode.
var (
	// ErrUnknownCommand means the type byte names no registered command.
	ErrUnknownCommand = errors.New("fsm: unknown command type")
	// ErrUnknownVersion means the command is known but not in this version,
	// typically because a newer agent proposed it.
	ErrUnknownVersion = errors.New("fsm: unknown command version")
	// ErrMalformed means the bytes do not decode as the command they claim to be.
	ErrMalformed = errors.New("fsm: malformed command")
)

// InitCluster names the cluster. Only the first one takes effect; later ones
// are no-ops so that every bootstrap attempt may propose one.
type InitCluster struct {
	ClusterID string `json:"cluster_id"`
	NowMs     int64  `json:"now_ms"`
}

// CreateTopic creates a topic with its partitions, all empty.
type CreateTopic struct {
	Name       string            `json:"name"`
	ID         [16]byte          `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs"`
	NowMs      int64             `json:"now_ms"`
}

// DeleteTopic removes a topic, its manifests and its producer state; files no
// longer referenced become dead.
type DeleteTopic struct {
	Name  string `json:"name"`
	NowMs int64  `json:"now_ms"`
}

// CreatePartitions raises a topic's partition count to Count, which must be
// greater than the current count.
type CreatePartitions struct {
	Name  string `json:"name"`
	Count int32  `json:"count"`
}

// CommitFile indexes the batches of one data file that is already in the
// bucket and assigns their offsets. It is the hot command: it carries counts
// and byte ranges, never record data.
type CommitFile struct {
	Key     string // object key of the data file
	Size    int64  // bytes in the file
	NodeID  int32  // agent that wrote it
	NowMs   int64
	Batches []BatchMeta
	// TxnEnds completes prepared transactions whose markers (control
	// batches) are among Batches (see txn.go).
	TxnEnds []TxnEnd
}

// BatchMeta describes one record batch inside a committed file.
type BatchMeta struct {
	TopicID       [16]byte
	Partition     int32
	Pos           int64 // byte position of the batch in the file
	Len           int32
	Records       int32 // offsets the batch occupies (lastOffsetDelta+1)
	MaxTimestamp  int64
	ProducerID    int64 // -1 when not idempotent
	ProducerEpoch int16
	BaseSequence  int32
	Transactional bool // part of a transaction
	Control       bool // a transaction marker
}

// InitProducerID allocates a producer id (ProducerID and ProducerEpoch -1) or
// bumps the epoch of an existing one (both given, epoch current).
type InitProducerID struct {
	ProducerID    int64 `json:"producer_id"`
	ProducerEpoch int16 `json:"producer_epoch"`
	NowMs         int64 `json:"now_ms"`
}

// ForgetFiles removes keys from the dead-file list once the deleter has
// removed them from the bucket.
type ForgetFiles struct {
	Keys []string
}

// CommitOffsets stores a consumer group's committed offsets, each replacing
// the group's previous one for its partition. It is frequent (every consumer
// commits every few seconds) and may name hundreds of partitions, so it is
// compact binary.
type CommitOffsets struct {
	Group   string
	NowMs   int64 // commit time, kept for offset retention
	Offsets []OffsetCommit
}

// OffsetCommit is one partition's committed position: the next offset the
// group will read, with the leader epoch and metadata the client attached.
type OffsetCommit struct {
	TopicID     [16]byte
	Partition   int32
	Offset      int64
	LeaderEpoch int32 // -1 when the client sent none
	Metadata    string
}

// DeleteGroup drops all committed offsets of a group (DeleteGroups).
// Membership is not replicated, so this is all a group deletion changes.
type DeleteGroup struct {
	Group string `json:"group"`
}

// DeleteOffsets drops some committed offsets of a group (OffsetDelete).
// Partitions the group has no offset for are ignored.
type DeleteOffsets struct {
	Group      string         `json:"group"`
	Partitions []PartitionKey `json:"partitions"`
}

// AlterTopicConfigs changes a topic's config overrides. With Replace the
// overrides become exactly Set (AlterConfigs); without it Set is merged into
// them and the names in Delete are removed (IncrementalAlterConfigs), so two
// admins changing different configs at once do not undo each other. Values
// are validated by the proposer: the FSM does not know config semantics.
type AlterTopicConfigs struct {
	Name    string            `json:"name"`
	Replace bool              `json:"replace"`
	Set     map[string]string `json:"set"`
	Delete  []string          `json:"delete"`
}

// TrimLog advances a partition's log start offset to NewLogStart (retention
// or DeleteRecords). It never moves the log start backwards; NewLogStart
// beyond the high watermark is refused. Manifest entries wholly below the new
// log start are dropped and files left without references die at NowMs,
// which the proposer stamps.
type TrimLog struct {
	TopicID     [16]byte `json:"topic_id"`
	Partition   int32    `json:"partition"`
	NewLogStart int64    `json:"new_log_start"`
	NowMs       int64    `json:"now_ms"`
}

// Type implements Command.
func (InitCluster) Type() CommandType { return CmdInitCluster }

// Type implements Command.
func (CreateTopic) Type() CommandType { return CmdCreateTopic }

// Type implements Command.
func (DeleteTopic) Type() CommandType { return CmdDeleteTopic }

// Type implements Command.
func (CreatePartitions) Type() CommandType { return CmdCreatePartitions }

// Type implements Command.
func (CommitFile) Type() CommandType { return CmdCommitFile }

// Type implements Command.
func (InitProducerID) Type() CommandType { return CmdInitProducerID }

// Type implements Command.
func (ForgetFiles) Type() CommandType { return CmdForgetFiles }

// Type implements Command.
func (CommitOffsets) Type() CommandType { return CmdCommitOffsets }

// Type implements Command.
func (DeleteGroup) Type() CommandType { return CmdDeleteGroup }

// Type implements Command.
func (DeleteOffsets) Type() CommandType { return CmdDeleteOffsets }

// Type implements Command.
func (AlterTopicConfigs) Type() CommandType { return CmdAlterTopicConfigs }

// Type implements Command.
func (TrimLog) Type() CommandType { return CmdTrimLog }
