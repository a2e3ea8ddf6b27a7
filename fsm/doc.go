// Package fsm is Wisp's metadata state machine: the hashicorp/raft FSM that
// holds topics, per-partition manifests (which file and byte range holds which
// offsets), high watermarks, file reference counts, dead files, the
// producer-id state used for idempotence and consumer groups' committed
// offsets.
//
// Every change is a Command, encoded with Encode and proposed through Raft;
// every replica runs the same Apply on the same log and so reaches the same
// state. Apply is deterministic: it reads no clock (timestamps arrive in the
// command as NowMs), draws no randomness (ids arrive in the command) and does
// no I/O. A replica that cannot decode a command panics rather than diverge.
//
// Domain failures (a topic that already exists, an out-of-order sequence) are
// not Go errors: they are part of the value Apply returns, which Raft hands
// back to the proposer through ApplyFuture.Response.
//
// The read methods are safe for concurrent use with Apply and return copies.
package fsm
