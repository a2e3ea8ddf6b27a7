// Package recordbatch reads, checks and writes Kafka record batches of magic
// version 2, the only format Wisp accepts and stores.
//
// Batches are stored in the bucket exactly as the producer sent them: never
// decompressed, recompressed or re-encoded. The only bytes Wisp changes are
// the base offset and the partition leader epoch, which sit before the
// CRC-covered part of the batch (SetBaseOffset, SetPartitionLeaderEpoch), and,
// for topics that use LogAppendTime, the timestamp type and max timestamp,
// which are CRC-covered (SetLogAppendTime recomputes the CRC).
//
// The layout of a batch (big-endian):
//
//	offset  size  field
//	0       8     baseOffset
//	8       4     batchLength (bytes after this field)
//	12      4     partitionLeaderEpoch
//	16      1     magic (2)
//	17      4     crc (CRC-32C of bytes 21..end)
//	21      2     attributes
//	23      4     lastOffsetDelta
//	27      8     firstTimestamp
//	35      8     maxTimestamp
//	43      8     producerId
//	51      2     producerEpoch
//	53      4     baseSequence
//	57      4     recordCount
//	61      ...   records, compressed as a whole when attributes say so
//
// Nothing in this package keeps state between calls except the zstd decoder
// and encoder it caches; every function is safe for concurrent use.
package recordbatch
