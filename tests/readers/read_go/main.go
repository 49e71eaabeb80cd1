// Prints, as JSON, what godotenv's Read returns for the file named by os.Args[1].
// Built by ../install.sh against Debian's golang-github-joho-godotenv-dev (offline, GOPATH mode).
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/joho/godotenv"
)

func main() {
	values, err := godotenv.Read(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(values); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
