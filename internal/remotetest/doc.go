// Package remotetest starts several protoactor actor systems with remote in
// one test process, working around protoactor's faults that show there
// (see StartSystems). For tests only.
package remotetest
