package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// NewDeveloperKey returns random developer credentials in the AWS shape:
// an access key id "AKID" + 16 hex digits and a 40-digit secret.
func NewDeveloperKey() DeveloperKey {
	return DeveloperKey{ID: "AKID" + strings.ToUpper(randHex(8)), Secret: randHex(20)}
}

// ProcessOwner names this process in leases and bulk jobs (the outbox
// forwarder's, bulk publish jobs', Kinesis shard leases):
// host/pid/random, unique among the processes sharing a database.
func ProcessOwner() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", h, os.Getpid(), randHex(4))
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
