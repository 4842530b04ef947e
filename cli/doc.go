// Package cli is the odgm command: `odgm node` runs a node from a YAML file,
// and get, put, delete, list, invoke, class create and status talk to any
// node of a cluster (protoactor remote, through package client).
//
// An application whose classes have methods builds its own node binary
// with them: the binary is this command with the classes registered on
// every node it starts.
//
//	func main() { cli.Main(counterClass, bankClass) }
//
// examples/appnode does exactly that. The plain odgm binary (cmd/odgm) is
// cli.Main() with no classes: its nodes serve data-only classes (created
// with `odgm class create`): get, put, delete, list and index queries, and
// CAS through the API; invoking a method on such a class is
// odgm.ErrUnknownMethod.
//
// Exit status: 0 on success, 1 on an error (printed on stderr), 2 on a
// usage error. Long-running commands show what they do on stderr.
package cli
