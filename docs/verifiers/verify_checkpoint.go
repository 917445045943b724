// Verifies a sealtrail checkpoint with Go's own signed-note package, written
// without any sealtrail code:
//
//	go mod init verify && go get golang.org/x/mod@latest
//	go run verify_checkpoint.go "$(cat demo.vkey)" STORE/checkpoint
package main

import (
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
)

func main() {
	verifier, err := note.NewVerifier(os.Args[1])
	if err != nil {
		fmt.Println("bad verifier key:", err)
		os.Exit(2)
	}
	msg, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fmt.Println("FAILED:", err)
		os.Exit(1)
	}
	fmt.Printf("OK: signed by %s\n%s", n.Sigs[0].Name, n.Text)
}
