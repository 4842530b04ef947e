// Command odgm runs an ODGM node (`odgm node --config node.yaml`) and works
// with objects on a cluster from the shell: get, put, delete, list,
// invoke, class create, status. See package cli.
package main

import "github.com/odgm-go/odgm/cli"

func main() { cli.Main() }
