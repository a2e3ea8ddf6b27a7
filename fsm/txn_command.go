package fsm

// The transaction commands (see txn.go for how a transaction runs) and
// their result.

// InitTxnProducer is InitProducerId with a transactional id. A new id gets a
// fresh producer id at epoch 0; a known one keeps its producer id and gets
// the next epoch, which fences every older instance. An ongoing transaction
// is aborted first: the epoch is bumped (fencing its producer), the
// transaction becomes PrepareAbort, and the result is CONCURRENT_TRANSACTIONS
// with Pending set, so the caller writes the abort markers and retries. ProducerID and ProducerEpoch are -1, or what the producer holds
// (KIP-360: a producer recovering from an error keeps its id).
type InitTxnProducer struct {
	TransactionalID string `json:"transactional_id"`
	TimeoutMs       int32  `json:"timeout_ms"`
	ProducerID      int64  `json:"producer_id"`
	ProducerEpoch   int16  `json:"producer_epoch"`
	NowMs           int64  `json:"now_ms"`
}

// AddToTxn adds partitions (AddPartitionsToTxn) and consumer groups
// (AddOffsetsToTxn) to the producer's transaction, starting one at NowMs if
// none is ongoing. It is all or nothing: an unknown partition refuses the
// whole command.
type AddToTxn struct {
	TransactionalID string         `json:"transactional_id"`
	ProducerID      int64          `json:"producer_id"`
	ProducerEpoch   int16          `json:"producer_epoch"`
	Partitions      []PartitionKey `json:"partitions"`
	Groups          []string       `json:"groups"`
	NowMs           int64          `json:"now_ms"`
}

// TxnCommitOffsets stores a group's offsets inside the producer's ongoing
// transaction (TxnOffsetCommit). They stay invisible to OffsetFetch until
// the transaction commits and are dropped if it aborts. The group must have
// been added with AddToTxn.
type TxnCommitOffsets struct {
	TransactionalID string         `json:"transactional_id"`
	ProducerID      int64          `json:"producer_id"`
	ProducerEpoch   int16          `json:"producer_epoch"`
	Group           string         `json:"group"`
	NowMs           int64          `json:"now_ms"`
	Offsets         []OffsetCommit `json:"offsets"`
}

// EndTxn decides an ongoing transaction's outcome (step 1 above): it becomes
// PrepareCommit or PrepareAbort, and the result's Pending says which markers
// to write. A retry while prepared answers the same Pending; a retry after
// completion succeeds without Pending.
//
// With Expire the coordinator aborts a transaction that outlived its
// timeout: it applies only if the transaction is still ongoing at
// ProducerEpoch and started at least its timeout before NowMs (the
// proposer's clock), and it bumps the epoch so the producer is fenced.
type EndTxn struct {
	TransactionalID string `json:"transactional_id"`
	ProducerID      int64  `json:"producer_id"`
	ProducerEpoch   int16  `json:"producer_epoch"`
	Commit          bool   `json:"commit"`
	Expire          bool   `json:"expire"`
	NowMs           int64  `json:"now_ms"`
}

// TxnEnd completes a prepared transaction (step 2 above). It matches only
// the prepared state it names: the producer id, the epoch and the outcome
// must be the transaction's.
type TxnEnd struct {
	TransactionalID string `json:"transactional_id"`
	ProducerID      int64  `json:"producer_id"`
	ProducerEpoch   int16  `json:"producer_epoch"`
	Commit          bool   `json:"commit"`
}

// CompleteTxn completes a prepared transaction that has no partitions, so no
// markers to write (it only committed offsets). A transaction with an
// existing partition is refused: it completes through CommitFile.
type CompleteTxn struct {
	End   TxnEnd `json:"end"`
	NowMs int64  `json:"now_ms"`
}

// Type implements Command.
func (InitTxnProducer) Type() CommandType { return CmdInitTxnProducer }

// Type implements Command.
func (AddToTxn) Type() CommandType { return CmdAddToTxn }

// Type implements Command.
func (TxnCommitOffsets) Type() CommandType { return CmdTxnCommitOffsets }

// Type implements Command.
func (EndTxn) Type() CommandType { return CmdEndTxn }

// Type implements Command.
func (CompleteTxn) Type() CommandType { return CmdCompleteTxn }

// Transaction commands are rare next to CommitFile (a few per transaction),
// so they are JSON.
func init() {
	codecs[CmdInitTxnProducer] = jsonCodec[InitTxnProducer]()
	codecs[CmdAddToTxn] = jsonCodec[AddToTxn]()
	codecs[CmdTxnCommitOffsets] = jsonCodec[TxnCommitOffsets]()
	codecs[CmdEndTxn] = jsonCodec[EndTxn]()
	codecs[CmdCompleteTxn] = jsonCodec[CompleteTxn]()
}

// TxnResult answers InitTxnProducer, AddToTxn, EndTxn and CompleteTxn.
//
// Codes: INVALID_REQUEST (empty transactional id, empty AddToTxn),
// INVALID_TRANSACTION_TIMEOUT, INVALID_PRODUCER_ID_MAPPING (unknown
// transactional id, or a producer id that is not its), PRODUCER_FENCED (an
// epoch that is not the current one), CONCURRENT_TRANSACTIONS (a prepared
// transaction must be completed first; Pending says how),
// INVALID_TXN_STATE (EndTxn without a transaction or with the other
// outcome, a completion that does not match), UNKNOWN_TOPIC_OR_PARTITION.
type TxnResult struct {
	ErrorCode     int16
	ProducerID    int64
	ProducerEpoch int16
	// Pending, when set, is a prepared transaction whose markers are still
	// to be written: the caller writes them (or applies CompleteTxn when
	// there are no partitions) and then retries or answers.
	Pending *TxnPending `json:",omitempty"`
}

// TxnPending is what finishing a prepared transaction takes: one control
// batch with End's outcome into each partition, committed together with End.
type TxnPending struct {
	End        TxnEnd
	Partitions []PartitionKey
}
