// Package object holds the rules every layer applies to object addresses:
// how an object id is normalised, which entry and class names are valid, and
// which partition (shard) of its class an id belongs to.
//
// # Ids
//
// NormalizeID folds ASCII upper case to lower case and then requires the
// result to match [a-z0-9._:-]+ and to be 1..MaxIDLen (160) bytes. Nothing
// else is changed: no trimming, no Unicode folding (a non-ASCII byte is an
// error, wrapping ErrInvalidID). Normalising a normalised id returns it
// unchanged.
//
// # Entry names
//
// ValidateEntryName accepts 1..MaxEntryNameLen (255) bytes of printable
// ASCII (0x21..0x7e) except '/' (the key separator of the shard's key
// layout), and the glob metacharacters '*', '?' and '\' (secondary indexes
// select keys with glob patterns such as "o/account/*/e/balance": a name
// holding a metacharacter could not be selected exactly). Names are case
// sensitive. Errors wrap ErrInvalidEntryName.
//
// # Classes
//
// ValidateClass accepts 1..MaxClassLen (64) bytes of [a-z0-9_.-] starting
// with a letter. Errors wrap ErrInvalidClass.
//
// # Partitions
//
// Partition(id, n) is FNV-1a 64 of the id's bytes, modulo n. It decides on
// which shard an object's data lives on disk: it must never change. Call it
// with a normalised id. n == 0 is treated as 1.
//
// All functions are pure and safe for concurrent use.
package object
