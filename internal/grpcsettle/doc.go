// Package grpcsettle orders a freshly started gRPC server's first log
// lines before whatever follows (see Settle): protoactor's Remote.Start
// writes gRPC's global logger, which races with gRPC's earlier logging
// when several remotes start in one process.
package grpcsettle
