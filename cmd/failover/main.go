// Command failover is a multi-CDN failover controller.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "failover: not implemented yet")
	os.Exit(1)
}
