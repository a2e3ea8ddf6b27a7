package fsm

// Apply returns one of these values (never a pointer) as its response:
//
//	InitCluster, ForgetFiles, skipped ignorable commands   nil
//	CreateTopic, DeleteTopic, CreatePartitions             TopicResult
//	CommitFile                                             CommitFileResult
//	InitProducerID                                         InitProducerIDResult
//	CommitOffsets                                          CommitOffsetsResult
//	DeleteGroup, DeleteOffsets                             DeleteOffsetsResult
//	AlterTopicConfigs                                      TopicResult
//	TrimLog                                                TrimLogResult
//	CompactFiles                                           CompactFilesResult
//
// Error codes are Kafka error codes (github.com/twmb/franz-go/pkg/kerr); 0
// means success.

// CommitFileResult has one BatchResult per CommitFile batch, in the same order.
type CommitFileResult struct{ Batches []BatchResult }

// BatchResult is the outcome of one batch of a CommitFile.
//
// Codes: UNKNOWN_TOPIC_OR_PARTITION, OUT_OF_ORDER_SEQUENCE_NUMBER,
// INVALID_PRODUCER_EPOCH; INVALID_RECORD when the batch's own fields are
// impossible (empty, outside the file, negative sequence of an idempotent
// batch); DUPLICATE_RESOURCE for every batch when the file key was committed
// before and its outcome is no longer remembered, or the command has another
// number of batches than the one applied (see recent.go: a retry of a recent
// commit gets the first attempt's results; accepting the file twice could
// resurrect a dead one).
// On error BaseOffset and LogStartOffset are -1.
type BatchResult struct {
	ErrorCode      int16
	BaseOffset     int64 // assigned (or original, for a duplicate) base offset
	LogStartOffset int64
	Duplicate      bool // the batch was committed before; nothing was indexed
}

// TopicResult answers CreateTopic, DeleteTopic and CreatePartitions. Topic
// describes the topic after the change (for DeleteTopic, as it was); it is
// the zero value on error.
type TopicResult struct {
	ErrorCode    int16
	ErrorMessage string
	Topic        TopicInfo
}

// InitProducerIDResult answers InitProducerID.
type InitProducerIDResult struct {
	ErrorCode     int16
	ProducerID    int64
	ProducerEpoch int16
}

// CommitOffsetsResult has one error code per CommitOffsets offset, in the
// same order: 0 (stored), UNKNOWN_TOPIC_OR_PARTITION (no such partition),
// OFFSET_METADATA_TOO_LARGE (metadata over MaxOffsetMetadata bytes) or, for
// every offset, INVALID_GROUP_ID when the group id is empty.
type CommitOffsetsResult struct{ ErrorCodes []int16 }

// DeleteOffsetsResult answers DeleteGroup and DeleteOffsets: how many
// committed offsets were removed.
type DeleteOffsetsResult struct{ Deleted int }

// TrimLogResult answers TrimLog. LogStartOffset is the partition's log start
// after the command, also when it did not move (the target was not above
// it). Codes: UNKNOWN_TOPIC_OR_PARTITION, OFFSET_OUT_OF_RANGE (target beyond
// the high watermark or negative); LogStartOffset is -1 on error.
type TrimLogResult struct {
	ErrorCode      int16
	LogStartOffset int64
}

// CompactFilesResult answers CompactFiles; the command is applied whole or
// not at all. Codes: INVALID_REQUEST (empty key, a run outside the file or
// empty, a partition named twice), DUPLICATE_RESOURCE (the key was committed
// before), UNKNOWN_TOPIC_OR_PARTITION (a partition no longer exists) and
// OFFSET_OUT_OF_RANGE when a run no longer matches the entries covering its
// offsets (retention trimmed them or another compaction replaced them): the
// proposer's view was stale. On any error the new file is not referenced and
// becomes an orphan for the bucket scan to delete.
type CompactFilesResult struct {
	ErrorCode    int16
	ErrorMessage string
	Replaced     int // entries removed, over all runs
}
